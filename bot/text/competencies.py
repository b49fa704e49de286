"""Which career competencies (CONTRACTS.md "Competency keys") a student's answer is about.

    from bot.text.competencies import classify
    classify("mijn ouders willen dat ik dokter word")   # -> ["verwachtingen"]

Method ("ngram-lexicon-logreg-v1"): the answer is folded to lowercase and student spellings are
normalised ("mn" -> "mijn", "gwn" -> "gewoon"; `data/competencies/lexicon.yml`). Features are
word unigrams and bigrams, character 2-5-grams (robust to typos and inflection) and one cue
feature per competency whose signal words from the lexicon occur in the answer. A multinomial
logistic regression over the six competencies plus "none" is trained from
`data/competencies/train.yml` at first use and kept in memory (no pickled model). The best
competency is returned unless "none" wins or its probability is too low; further competencies
follow when they are nearly as likely.

Lemmas from the project's spaCy pipeline (`bot.text.nlp.get_nlp()`) can be added as features
(`LOOPBAANCOACH_COMPETENCIES_SPACY=1`, method "lemma-ngram-lexicon-logreg-v1"). They are off by
default: in 5-fold cross-validation on train.yml they did not improve accuracy (0.87 vs 0.88),
while they cost the spaCy start-up (seconds) and ~5 ms per sentence. When they are requested and
the pipeline is unavailable, the classifier logs a warning and uses surface forms.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from bot.paths import COMPETENCY_DATA_DIR
from bot.taxonomy import COMPETENCY_KEYS
from bot.text.tfidf import TfidfRow

log = logging.getLogger(__name__)

# Stored with each insight: how its labels were decided.
METHOD: Final[str] = "ngram-lexicon-logreg-v1"
LEMMA_METHOD: Final[str] = "lemma-ngram-lexicon-logreg-v1"  # with spaCy lemma features
SPACY_ENV: Final[str] = "LOOPBAANCOACH_COMPETENCIES_SPACY"  # "1" = add lemma features

TRAIN_FILE: Final[Path] = COMPETENCY_DATA_DIR / "train.yml"
TEST_FILE: Final[Path] = COMPETENCY_DATA_DIR / "test.yml"
LEXICON_FILE: Final[Path] = COMPETENCY_DATA_DIR / "lexicon.yml"

NONE_LABEL: Final[str] = "none"  # the extra class for answers without a competency

# Decision rule on the model's probabilities (tuned by cross-validation on train.yml only).
MIN_SCORE: Final[float] = 0.25  # best competency below this -> []
SECONDARY_MIN: Final[float] = 0.25  # a further competency needs at least this probability ...
SECONDARY_RATIO: Final[float] = 0.5  # ... and at least this fraction of the best one
SECONDARY_WEIGHT: Final[float] = 0.5  # training weight of a non-primary label
MAX_LABELS: Final[int] = 3

# The C loader is ~10x faster; both are safe loaders.
_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TOKEN_RE = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[str, ...]  # competency keys, primary first; () = no competency

    @property
    def primary(self) -> str:
        return self.labels[0] if self.labels else NONE_LABEL


def load_examples(path: Path) -> list[Example]:
    """Read a labelled data file: a YAML list of {text, labels}. Unknown keys are an error."""
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader) or []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a YAML list of {{text, labels}}")
    examples: list[Example] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f"{path}: item {i} needs a 'text'")
        labels = tuple(item.get("labels") or ())
        unknown = [label for label in labels if label not in COMPETENCY_KEYS]
        if unknown:
            raise ValueError(f"{path}: item {i} has unknown competencies {unknown}")
        examples.append(Example(item["text"], labels))
    return examples


@dataclass(frozen=True)
class Lexicon:
    cues: dict[str, tuple[tuple[str, ...], ...]]  # competency -> cue token sequences
    spelling: dict[str, str]  # student spelling -> standard form (whole words)


def load_lexicon(path: Path = LEXICON_FILE) -> Lexicon:
    if not path.exists():
        return Lexicon({}, {})
    raw: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"),
                                    Loader=_YamlLoader) or {}
    cues: dict[str, tuple[tuple[str, ...], ...]] = {}
    for key, phrases in (raw.get("signalen") or {}).items():
        if key not in COMPETENCY_KEYS:
            raise ValueError(f"{path}: unknown competency {key!r}")
        cues[key] = tuple(tuple(_fold(str(p)).split()) for p in phrases or ())
    spelling = {_fold(str(k)): _fold(str(v)) for k, v in (raw.get("spelling") or {}).items()}
    return Lexicon(cues, spelling)


def _fold(text: str) -> str:
    """Lowercase, NFC, unify quotes: the form every feature is computed on."""
    text = unicodedata.normalize("NFC", text).lower()
    return text.replace("’", "'").replace("‘", "'").replace("`", "'")


def _contains(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    if n == 0 or n > len(tokens):
        return False
    if n == 1:
        return phrase[0] in tokens
    return any(tuple(tokens[i:i + n]) == tuple(phrase) for i in range(len(tokens) - n + 1))


class _Analyzer:
    """Text -> (normalised surface tokens, lemmas). Lemmas only when spaCy is used."""

    def __init__(self, lexicon: Lexicon, use_spacy: bool = False) -> None:
        self.lexicon = lexicon
        self.nlp: Any = None
        self.disable: list[str] = []
        if use_spacy:
            try:
                from bot.text.nlp import get_nlp

                self.nlp = get_nlp()
                # The parser does not help lemmas and costs half the time.
                self.disable = [name for name in ("parser", "ner") if name in self.nlp.pipe_names]
            except Exception as exc:  # missing pipeline or spaCy itself: degrade, don't crash
                log.warning("competencies: spaCy pipeline unavailable (%s); "
                            "falling back to surface forms", exc)
                self.nlp = None

    @property
    def method(self) -> str:
        return LEMMA_METHOD if self.nlp is not None else METHOD

    def normalise(self, text: str) -> list[str]:
        tokens = _TOKEN_RE.findall(_fold(text))
        return " ".join(self.lexicon.spelling.get(t, t) for t in tokens).split()

    def analyse(self, texts: Sequence[str]) -> list[tuple[list[str], list[str]]]:
        surfaces = [self.normalise(t) for t in texts]
        if self.nlp is None:
            return [(tokens, []) for tokens in surfaces]
        docs = self.nlp.pipe([" ".join(t) for t in surfaces], disable=self.disable,
                             batch_size=64)
        return [(tokens, [_fold(tok.lemma_ or tok.text) for tok in doc if not tok.is_punct])
                for tokens, doc in zip(surfaces, docs, strict=True)]


class CompetencyClassifier:
    """Word and character n-grams (+ lemmas) and lexicon cues -> multinomial logistic
    regression over the competencies plus "none"."""

    def __init__(self, examples: Sequence[Example], lexicon: Lexicon | None = None,
                 use_spacy: bool = False, use_lexicon: bool = True, c: float = 10.0) -> None:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self._hstack = hstack
        self.lexicon = lexicon if lexicon is not None else load_lexicon()
        self.use_lexicon = use_lexicon
        self.analyzer = _Analyzer(self.lexicon, use_spacy=use_spacy)

        # One training row per (example, label): primary at full weight, others lighter.
        texts, targets, weights = [], [], []
        for ex in examples:
            labels = ex.labels or (NONE_LABEL,)
            for rank, label in enumerate(labels):
                texts.append(ex.text)
                targets.append(label)
                weights.append(1.0 if rank == 0 else SECONDARY_WEIGHT)

        self.word_vec = TfidfVectorizer(analyzer=str.split, lowercase=False, sublinear_tf=True)
        self.char_vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                        sublinear_tf=True, min_df=2)
        x = self._fit_features(texts)
        # newton-cg converges in ~10 iterations here: several times faster than lbfgs.
        self.model = LogisticRegression(C=c, solver="newton-cg", max_iter=1000,
                                        random_state=0)
        self.model.fit(x, targets, sample_weight=weights)
        self.classes: list[str] = [str(cls) for cls in self.model.classes_]

    @property
    def method(self) -> str:
        return self.analyzer.method

    # --- features ---------------------------------------------------------------------------

    def _word_doc(self, tokens: list[str], lemmas: list[str]) -> str:
        words = [t for t in tokens if t.isalnum() or "'" in t]
        feats = words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
        feats += [f"L={lemma}" for lemma in lemmas if lemma not in words]
        if self.use_lexicon:
            for key, phrases in self.lexicon.cues.items():
                if any(_contains(words, p) or _contains(lemmas, p) for p in phrases):
                    feats.append(f"CUE={key}")
        return " ".join(feats) or "EMPTY"

    def _docs(self, texts: Sequence[str]) -> tuple[list[str], list[str]]:
        analysed = self.analyzer.analyse(texts)
        return ([self._word_doc(tokens, lemmas) for tokens, lemmas in analysed],
                [" ".join(tokens) for tokens, _ in analysed])

    def _fit_features(self, texts: Sequence[str]) -> Any:
        words, surfaces = self._docs(texts)
        return self._hstack([self.word_vec.fit_transform(words),
                             self.char_vec.fit_transform(surfaces)]).tocsr()

    def _features(self, texts: Sequence[str]) -> Any:
        words, surfaces = self._docs(texts)
        return self._hstack([self.word_vec.transform(words),
                             self.char_vec.transform(surfaces)]).tocsr()

    # --- prediction -------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text: class (competency key or "none") -> probability. One text (an answer
        in a conversation) goes through `_one`, several through sklearn."""
        if not texts:
            return []
        if len(texts) == 1 and self._multinomial():
            return [dict(zip(self.classes, self._one(texts[0]), strict=True))]
        probs = self.model.predict_proba(self._features(texts))
        return [dict(zip(self.classes, map(float, row), strict=True)) for row in probs]

    def _multinomial(self) -> bool:
        """Whether sklearn's predict_proba is the softmax of the decision function."""
        return (len(self.classes) > 2 and self.model.solver != "liblinear"
                and self.model.multi_class in ("auto", "multinomial"))

    def _one(self, text: str) -> list[float]:
        """sklearn's figures for one text without its checks and sparse matrices per call
        (those took ~1 ms of the action server's time per answer): each TF-IDF part as
        TfidfVectorizer.transform computes it (counts, 1 + log tf, idf, L2 norm), then the
        multinomial regression's softmax (bot.text.tfidf). tests/test_competencies.py holds it
        to sklearn's."""
        import numpy as np

        fast = self.__dict__.get("_fast")
        if fast is None:
            offset = len(self.word_vec.vocabulary_)
            fast = self.__dict__["_fast"] = (TfidfRow(self.word_vec, 0),
                                              TfidfRow(self.char_vec, offset))
        words, surfaces = self._docs([text])
        columns: list[int] = []
        values: list[float] = []
        for part, doc in zip(fast, (words[0], surfaces[0]), strict=True):
            part.add(doc, columns, values)
        logits = self.model.intercept_ + (self.model.coef_[:, columns] @ np.array(values)
                                          if columns else 0.0)
        exp = np.exp(logits - logits.max())
        return [float(p) for p in exp / exp.sum()]

    def scored_many(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        results: list[list[tuple[str, float]]] = []
        todo = [i for i, t in enumerate(texts) if _has_words(t)]
        probs = dict(zip(todo, self.probabilities([texts[i] for i in todo]), strict=True))
        for i in range(len(texts)):
            results.append(decide(probs[i]) if i in probs else [])
        return results

    def scored(self, text: str) -> list[tuple[str, float]]:
        return self.scored_many([text])[0]

    def classify(self, text: str) -> list[str]:
        return [key for key, _ in self.scored(text)]


def _has_words(text: str) -> bool:
    return bool(text) and any(ch.isalnum() for ch in text)


def decide(probs: dict[str, float]) -> list[tuple[str, float]]:
    """The decision rule: competencies (best first, with probability), [] for none."""
    ranked = sorted(((k, p) for k, p in probs.items() if k != NONE_LABEL),
                    key=lambda kp: (-kp[1], COMPETENCY_KEYS.index(kp[0])))
    if not ranked:
        return []
    best_key, best = ranked[0]
    if best < MIN_SCORE or probs.get(NONE_LABEL, 0.0) >= best:
        return []
    chosen = [(best_key, round(best, 4))]
    for key, p in ranked[1:MAX_LABELS]:
        if p >= SECONDARY_MIN and p >= SECONDARY_RATIO * best:
            chosen.append((key, round(p, 4)))
    return chosen


# --- the process-wide default classifier ------------------------------------------------------

_lock = threading.Lock()
_default: CompetencyClassifier | None = None


def spacy_requested() -> bool:
    """Whether lemma features are switched on ($LOOPBAANCOACH_COMPETENCIES_SPACY)."""
    from bot.config import settings

    return settings().competencies_spacy


def get_classifier() -> CompetencyClassifier:
    """The classifier trained on train.yml, built once per process at first use."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = CompetencyClassifier(load_examples(TRAIN_FILE),
                                                use_spacy=spacy_requested())
    return _default


def classify(text: str) -> list[str]:
    """Competency keys the answer is about, best first; [] when none apply."""
    if not _has_words(text or ""):
        return []
    return get_classifier().classify(text)


def classify_scored(text: str) -> list[tuple[str, float]]:
    """Like classify(), with each key's probability (0..1)."""
    if not _has_words(text or ""):
        return []
    return get_classifier().scored(text)


def method_description() -> str:
    """How classify() decides, to store with each insight: METHOD, or LEMMA_METHOD when
    lemma features are enabled and the spaCy pipeline is available in this process."""
    return get_classifier().method
