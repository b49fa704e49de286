"""The learned half of signal detection: a linear model per flag category.

Rules (bot.text.signals, data/signals/rules.yml) are precise on what they were written for, but
memorise their examples; students phrase the same thing differently. This model generalises
from labelled student-style messages (data/signals/train/*.yml, dev.yml and the blind sets
retired into training, data/signals/blind/RETIRED): TF-IDF on
character n-grams (robust to typos, slang and spelling: "zelfmoort", "nt meer") and on word
uni/bigrams of the normalised text, one logistic regression per category.

Its decision thresholds are data too (data/signals/model.yml), chosen by `bot signals tune`
with cross-validation on the training data only: crisis is recall-first, with an unsure
band below the alarm threshold in which the coach asks one check question.

The model is trained when first needed (deterministic), so there is no binary artefact to
ship or to go stale: editing the training data changes the model. A fit takes half a minute,
so each fitted model is kept in var/cache/signal_model/ under the hash of everything it was
made from (the data, the rules, this code, scikit-learn's version); the next process, or the
next start, loads it in a moment instead of fitting again."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.config import settings
from bot.paths import DATA, SIGNAL_RULES_FILE
from bot.text.tfidf import TfidfRow, append_row

log = logging.getLogger(__name__)
SIGNAL_DATA = DATA / "signals"
TRAIN_FILES = (SIGNAL_DATA / "dev.yml",)
TRAIN_DIR = SIGNAL_DATA / "train"
THRESHOLDS_FILE = SIGNAL_DATA / "model.yml"
BLIND_DIR = SIGNAL_DATA / "blind"
DEFAULT_THRESHOLD = 0.5
_SENTENCE_SPLIT = ".!?;\n"
_CLAUSE_SPLIT = re.compile(r"[.!?;,\n]+|\b(?:en|maar|want|omdat|dus|toen)\b", re.IGNORECASE)


@dataclass(frozen=True)
class LabelledMessage:
    text: str
    labels: frozenset[str]
    kind: str | None = None  # `soort` of a message without a concern: ontkend, over_ander, ...


# Messages that name a concern only to deny it ("ik word niet gepest") or tell it of someone
# else ("mijn neef is gestopt"): the denial gate learns them apart from real concerns.
DENIED_KINDS = frozenset({"ontkend", "over_ander", "ander"})
# From this probability of "denied or about someone else" an attention flag is not raised.
# With the gate trained without blind set v11, every threshold from 0.6 to 0.95 gave the same
# result on v11 (false alarms on figurative/negated messages 8.5 % -> 3.4 %, recall unchanged)
# and 0.95 was kept. With the model of 2026-12-07 (skip pairs) trained without v19 or v20,
# 0.95 -> 0.8 halved the false alarms on their negated messages (v19 10 % -> 5 %, v20 16 % ->
# 7 %) at the same recall in every category; 0.5 lost recall (v19 druk_omgeving).
DENIAL_THRESHOLD = 0.8


@dataclass(frozen=True)
class Thresholds:
    alarm: dict[str, float]  # category -> probability from which the model raises it
    crisis_unsure: float  # crisis probability from which the coach asks its check question


def _retired_file() -> Path:
    return BLIND_DIR / "RETIRED"


def retired_blind_sets() -> list[Path]:
    """Blind sets that were scored for an earlier release and then handed to training
    (data/signals/blind/RETIRED): each was written by other hands than the training data, so
    they teach the model how new writers phrase things. A retired set is no longer blind; the
    figure of a release comes from a set that is not on this list."""
    retired = _retired_file()
    if not retired.exists():
        return []
    names = [line.split("#")[0].strip() for line in retired.read_text("utf-8").splitlines()]
    return [BLIND_DIR / name for name in names if name]


def labelled_files() -> list[Path]:
    """The files with labelled signal messages the model learns from."""
    return [*TRAIN_FILES, *sorted(TRAIN_DIR.glob("*.yml")), *retired_blind_sets()]


def training_files() -> list[Path]:
    """Every file the model learns from (their hash decides when to refit)."""
    return [*labelled_files(), *sorted(NLU_DIR.glob("*.yml")), COMPETENCY_TRAIN]


def training_messages() -> list[LabelledMessage]:
    """The labelled signal data, then the everyday messages (duplicates dropped)."""
    labelled = load_labelled(labelled_files())
    seen = {m.text.strip().lower() for m in labelled}
    extra = [m for m in everyday_messages() if m.text.strip().lower() not in seen]
    return labelled + extra


def load_labelled(paths: Sequence[Path]) -> list[LabelledMessage]:
    messages: list[LabelledMessage] = []
    seen: set[str] = set()
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        file_kind = data.get("soort")  # the kind of every message without a concern in it
        for item in data.get("berichten") or []:
            text = item.get("tekst")
            if not isinstance(text, str) or text.strip().lower() in seen:
                continue
            seen.add(text.strip().lower())
            kind = item.get("soort") or (file_kind if not item.get("verwacht") else None)
            messages.append(LabelledMessage(text, frozenset(item.get("verwacht") or []),
                                            kind if isinstance(kind, str) else None))
    return messages


NLU_DIR = DATA / "nlu"
COMPETENCY_TRAIN = DATA / "competencies" / "train.yml"
INTENT_LABELS = {"signaal_crisis": frozenset({"crisis"}),
                 "mentor_gevraagd": frozenset({"mentor_gevraagd"})}


def everyday_messages() -> list[LabelledMessage]:
    """Ordinary student messages the project already has (the NLU examples of every intent
    and the competency training sentences): "hoi", "ja klopt", "weet ik niet", answers about
    a stage. Without them the model has never seen a short everyday message and gives
    "gewoon" a crisis score. Labelled by their intent; a message in which the rules find a
    signal is left out rather than guessed."""
    from bot.text.signals import Detector

    rules = Detector(use_nlp=False)
    out: list[LabelledMessage] = []
    for path in sorted(NLU_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            intent = block.get("intent")
            labels = INTENT_LABELS.get(intent, frozenset())
            for line in str(block.get("examples") or "").splitlines():
                text = line.strip().removeprefix("- ").strip()
                if text and (labels or not rules.detect(text)):
                    out.append(LabelledMessage(text, labels))
    if COMPETENCY_TRAIN.exists():
        data = yaml.safe_load(COMPETENCY_TRAIN.read_text(encoding="utf-8")) or []
        for item in data if isinstance(data, list) else []:
            text = item.get("text") if isinstance(item, dict) else None
            if isinstance(text, str) and not rules.detect(text):
                out.append(LabelledMessage(text, frozenset()))
    return out


def data_hash(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def prepare(text: str) -> str:
    """The text the features see: bot.text.signals' normalisation (lowercase, accents, repeated
    letters, apostrophes), with sentence ends kept as a token."""
    from bot.text.signals import normalize_text

    return normalize_text(text)


NEGATIONS = frozenset({"niet", "geen", "nooit", "niks", "niemand", "nee", "nie", "nt", "gn",
                       "never", "not", "no"})
PUNCTUATION = frozenset({".", ",", "!", "?", ";", ":"})  # tokens of prepare(), not words
CLAUSE_ENDS = PUNCTUATION | {"maar", "want", "omdat", "en", "dus", "toch", "alleen", "wel"}
NEGATION_SCOPE = 4  # words after a negation cue that count as negated


def word_features(text: str) -> list[str]:
    """Word unigrams and bigrams of prepared text, where words in a negation's scope are
    marked ("niet gepest" -> "NOT_gepest"): so "racistisch" and "niet racistisch" are
    different features, and a hard negative does not teach the model to ignore the word."""
    words: list[str] = []
    scope = 0
    for token in text.split():
        if token in CLAUSE_ENDS:
            scope = 0
            words.append(token)
            continue
        if token in NEGATIONS:
            scope = NEGATION_SCOPE
            words.append(token)
            continue
        words.append(f"NOT_{token}" if scope else token)
        scope = max(0, scope - 1)
    words = [w for w in words if w not in PUNCTUATION]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


SKIP_GAPS = range(2, 5)  # skip pairs join words two to four places apart


def skip_features(text: str) -> list[str]:
    """Pairs of words two to four places apart ("wil ~ dood" in "ik wil gewoon dood",
    "niet ~ zitten" in "zie het niet meer zitten"): what a message says across the filler
    words that make every student's phrasing different. Bigrams see only neighbours."""
    words = [w for w in text.split() if w not in PUNCTUATION]
    return [f"{a}~{words[i + gap]}" for i, a in enumerate(words) for gap in SKIP_GAPS
            if i + gap < len(words)]


def repeated_skip_pair(texts: Sequence[str]) -> bool:
    """Whether a skip pair occurs in two of `texts`: the skip pairs keep only those (min_df),
    and sklearn refuses to fit a vectorizer left without any (a tiny training set)."""
    seen: set[str] = set()
    for text in texts:
        pairs = set(skip_features(text))
        if pairs & seen:
            return True
        seen |= pairs
    return False


def build_pipeline(skip_pairs: bool = True):  # noqa: ANN201 - an sklearn estimator
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, make_pipeline

    # Character n-grams within words (char_wb 2-5) and C=32 (weaker regularisation than the
    # earlier C=8): in 5-fold cross-validation on the training data this raised the mean
    # average precision over the categories from 0.872 to 0.878 (crisis 0.920 -> 0.926).
    # n-grams across word boundaries ("char") scored 0.882 in cross-validation but raised more
    # false alarms on the hard negatives of eval.yml (8.1 % vs 4.8 %), so they generalise worse.
    # Skip pairs (skip_features), measured on the blind sets v19 and v20 after their scoring,
    # each with a model trained without it: average precision of crisis 0.977 -> 0.982 and
    # 0.978 -> 0.985, druk_omgeving 0.915 -> 0.927 and 0.942 -> 0.958, uitval 0.913 -> 0.933
    # (v19); at the same number of check questions on the conversation sets' ordinary answers
    # (32) crisis recall 0.925 -> 0.939 and 0.933 -> 0.940. Character n-grams 3-6, C=8, and
    # hand-made concept classes ("means", "ending", "coercion") on top added nothing.
    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                  sublinear_tf=True)),
        ("words", TfidfVectorizer(analyzer=word_features, min_df=1, sublinear_tf=True)),
    ] + ([("skips", TfidfVectorizer(analyzer=skip_features, min_df=2, sublinear_tf=True))]
         if skip_pairs else []))
    classifier = OneVsRestClassifier(LogisticRegression(
        C=32.0, class_weight="balanced", solver="liblinear", max_iter=2000, random_state=7))
    return make_pipeline(features, classifier)


def fit_pipeline(prepared: list[str], y: np.ndarray):  # noqa: ANN201 - an sklearn estimator
    """build_pipeline() fitted on prepared texts: without skip pairs when none of them repeats
    (a tiny training set), and without the terms min_df left out (185,000, most of them skip
    pairs seen once), which sklearn keeps for introspection only ("can be safely removed")."""
    pipeline = build_pipeline(repeated_skip_pair(prepared)).fit(prepared, y)
    for _, vectorizer in pipeline.steps[0][1].transformer_list:
        vectorizer.stop_words_ = None
    return pipeline


# Messages without a concern that are ordinary answers (not a denial, a story about someone
# else or a figure of speech). Their clauses are learned once more, each as a negative of its
# own: a long ordinary answer then no longer adds up small weights of its words to a crisis
# score. Held out one writers' set at a time (v12, v13, v14), this halved the check questions on
# the ordinary answers of the conversation sets (54 -> 27) at the same crisis recall. The tuning
# counts them among the everyday messages.
ORDINARY_KINDS = frozenset({"gewoon", "werk"})


def ordinary_clauses(message: LabelledMessage) -> list[str]:
    """The clauses (two words or more) of an ordinary answer; none for anything else."""
    if message.labels or message.kind not in ORDINARY_KINDS:
        return []
    parts = [(part or "").strip() for part in _CLAUSE_SPLIT.split(message.text)]
    parts = [part for part in parts if len(part.split()) >= 2]
    return parts if len(parts) > 1 else []


def _clause_negatives(messages: Sequence[LabelledMessage]) -> list[LabelledMessage]:
    seen = {m.text.strip().lower() for m in messages}
    out = []
    for message in messages:
        for part in ordinary_clauses(message):
            if part.lower() not in seen:
                seen.add(part.lower())
                out.append(LabelledMessage(part, frozenset(), message.kind))
    return out


class _CharWbTfidf:
    """A fitted `TfidfVectorizer(analyzer="char_wb")`'s transform, word by word: its n-grams
    never cross a word, so a word's n-gram counts are the same in every message and the
    counts of the words of the training data are kept (never other words: no student's own
    words stay in memory). Sublinear tf, idf and l2 norm as sklearn applies them."""

    def __init__(self, vectorizer: Any, known_words: frozenset[str], offset: int = 0) -> None:
        self.vectorizer = vectorizer
        self.offset = offset  # the vectorizer's first column in the feature union
        self.vocabulary = vectorizer.vocabulary_
        self.idf = vectorizer.idf_
        self.preprocess = vectorizer.build_preprocessor()
        self.known_words = known_words
        self.words: dict[str, dict[int, int]] = {}

    @staticmethod
    def applies(vectorizer: Any) -> bool:
        return (vectorizer.analyzer == "char_wb" and vectorizer.input == "content"
                and vectorizer.use_idf and vectorizer.norm == "l2" and not vectorizer.binary
                and vectorizer.sublinear_tf and vectorizer.dtype == np.float64)

    def _word(self, word: str) -> dict[int, int]:
        counts = self.words.get(word)
        if counts is None:
            counts = {}
            for gram in self.vectorizer._char_wb_ngrams(word):
                index = self.vocabulary.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if word in self.known_words:
                self.words[word] = counts
        return counts

    def add(self, doc: str, columns: list[int], values: list[float]) -> None:
        """Append the row of `doc` to `columns` and `values` (as `TfidfRow.add`)."""
        counts: dict[int, int] = {}
        text = self.vectorizer._white_spaces.sub(" ", self.preprocess(doc))
        for word in text.split():
            for index, count in self._word(word).items():
                counts[index] = counts.get(index, 0) + count
        append_row(counts, self.idf, True, self.offset, columns, values)  # applies(): sublinear


class FastScorer:
    """The fitted pipeline's features and probabilities, computed as sklearn computes them
    without its checks per call (about half of a message's model time): each vectorizer's
    row appended to one sparse row (the character n-grams word by word, `_CharWbTfidf`; the
    words through `TfidfRow`), and the one-vs-rest logistic regressions as one matrix
    product, sigmoid(X W + b). `tests/test_signals.py` holds it to sklearn's figures."""

    def __init__(self, parts: list[Any], width: int, coef: np.ndarray,
                 intercept: np.ndarray, denial: tuple[np.ndarray, float] | None) -> None:
        self.parts = parts
        self.width = width
        self.coef = coef
        self.intercept = intercept
        self.denial = denial

    @classmethod
    def of(cls, pipeline: Any, denial: Any) -> FastScorer | None:
        """The scorer for a fitted pipeline; None when it is not of the kind this knows."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        union, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
        estimators = getattr(classifier, "estimators_", [])
        vectorizers = [part for _, part in union.transformer_list]
        if (len(pipeline.steps) != 2 or not getattr(classifier, "multilabel_", False)
                or not estimators
                or not all(isinstance(e, LogisticRegression) and e.coef_.shape[0] == 1
                           for e in estimators)
                or union.transformer_weights
                or not all(isinstance(v, TfidfVectorizer) and TfidfRow.applies(v)
                           for v in vectorizers)):
            return None
        words = next((v for v in vectorizers if v.analyzer is word_features), None)
        known = frozenset(w for w in (words.vocabulary_ if words is not None else ())
                          if " " not in w and not w.startswith("NOT_"))
        parts: list[Any] = []
        offset = 0
        for v in vectorizers:
            parts.append(_CharWbTfidf(v, known, offset) if _CharWbTfidf.applies(v)
                         else TfidfRow(v, offset))
            offset += len(v.vocabulary_)
        coef = np.ascontiguousarray(np.vstack([e.coef_[0] for e in estimators]).T)
        intercept = np.array([float(e.intercept_[0]) for e in estimators])
        gate = None
        if isinstance(denial, LogisticRegression) and denial.coef_.shape[0] == 1:
            gate = (np.ascontiguousarray(denial.coef_[0]), float(denial.intercept_[0]))
        return cls(parts, offset, coef, intercept, gate)

    def transform(self, prepared: list[str]) -> Any:
        from scipy import sparse

        indptr, columns, values = [0], [], []
        for doc in prepared:
            for part in self.parts:
                part.add(doc, columns, values)
            indptr.append(len(columns))
        return sparse.csr_matrix(
            (np.array(values, dtype=np.float64), np.array(columns, dtype=np.int32),
             np.array(indptr, dtype=np.int32)), shape=(len(prepared), self.width))

    def proba(self, features: Any) -> np.ndarray:
        from scipy.special import expit

        return expit(np.asarray(features @ self.coef) + self.intercept)

    def denial_proba(self, features: Any) -> np.ndarray:
        from scipy.special import expit

        assert self.denial is not None
        coef, intercept = self.denial
        return expit(np.asarray(features @ coef).ravel() + intercept)


class SignalModel:
    """A fitted model plus its thresholds; `scores(text)` -> probability per category."""

    def __init__(self, categories: Sequence[str], messages: Sequence[LabelledMessage],
                 thresholds: Thresholds) -> None:
        self.categories = list(categories)
        self.thresholds = thresholds
        messages = [*messages, *_clause_negatives(messages)]
        y = np.array([[c in m.labels for c in self.categories] for m in messages], dtype=int)
        self.pipeline = fit_pipeline([prepare(m.text) for m in messages], y)
        self.denial = self._fit_denial(messages)
        self.__dict__.pop("_fast_scorer", None)  # made while the denial gate was not there yet
        self._last: tuple[str, Any] | None = None
        self._last_clauses: tuple[str, tuple[list[str], Any]] | None = None
        self._last_sentences: tuple[str, tuple[list[str], Any]] | None = None

    def _fit_denial(self, messages: Sequence[LabelledMessage]):  # noqa: ANN202 - sklearn
        """The denial gate: real concerns (0) against denied ones and stories about someone
        else (1), on the same features. A category's own model cannot learn this well: the
        words of a concern are the same either way; the gate learns what denials share across
        categories ("nee joh", "gelukkig", "vroeger", "is opgelost")."""
        from sklearn.linear_model import LogisticRegression

        rows = [(m.text, 0) for m in messages if m.labels]
        rows += [(m.text, 1) for m in messages if not m.labels and m.kind in DENIED_KINDS]
        if len({label for _, label in rows}) < 2:
            return None
        gate = LogisticRegression(C=8.0, class_weight="balanced", solver="liblinear",
                                  max_iter=2000, random_state=7)
        return gate.fit(self._transform([prepare(t) for t, _ in rows]),
                        [label for _, label in rows])

    def denied(self, text: str) -> float:
        """The probability that `text` denies its concern or tells it of someone else."""
        if self.denial is None:
            return 0.0
        fast = self._fast()
        if fast is not None and fast.denial is not None:
            return float(fast.denial_proba(self._features(text))[0])
        return float(self.denial.predict_proba(self._features(text))[0, 1])

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for the cache without the last message it saw (a student's words) and
        without the fast scorer (made again from the fitted pipeline)."""
        return {key: None if key.startswith("_last") else value  # every memo of a message
                for key, value in self.__dict__.items() if key != "_fast_scorer"}

    def _transform(self, prepared: list[str]):  # noqa: ANN202 - a sparse matrix
        """The feature union's transform without its joblib dispatch (for one short message
        that dispatch took 5 ms of the 6), through `FastScorer` when it applies."""
        from scipy import sparse

        fast = self._fast()
        if fast is not None:
            return fast.transform(prepared)
        union = self.pipeline.steps[0][1]
        return sparse.hstack([part.transform(prepared) for _, part in union.transformer_list],
                             format="csr")

    def _fast(self) -> FastScorer | None:
        fast = self.__dict__.get("_fast_scorer", False)
        if fast is False:
            fast = FastScorer.of(self.pipeline, getattr(self, "denial", None))
            self.__dict__["_fast_scorer"] = fast
        return fast

    def _proba(self, prepared: list[str]) -> np.ndarray:
        return self._classify(self._transform(prepared))

    def _classify(self, features: Any) -> np.ndarray:
        """The categories' probabilities for rows of features (FastScorer when it applies)."""
        fast = self._fast()
        if fast is not None:
            return fast.proba(features)
        return self.pipeline.steps[-1][1].predict_proba(features)

    def _features(self, text: str):  # noqa: ANN202 - a sparse matrix
        """The features of `text`, kept for the last text: the scores and the denial gate
        look at the same message one after the other."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        features = self._transform([prepare(text)])
        self._last = (text, features)  # one assignment: safe between threads
        return features

    def scores(self, text: str) -> dict[str, float]:
        probabilities = self._classify(self._features(text))[0]
        return dict(zip(self.categories, (float(p) for p in probabilities), strict=True))

    def _parts_proba(self, text: str, sentences: bool = False
                     ) -> tuple[list[str], np.ndarray | None]:
        """The parts of `text` and the categories' probabilities of each: its clauses (split
        at punctuation and at "en", "maar", "want", ...) or its sentences; no probabilities
        for a message of one part. Kept for the last text: the crisis check, the reading for a
        second concern and the evidence of each flag look at the same parts."""
        slot = "_last_sentences" if sentences else "_last_clauses"
        last = self.__dict__.get(slot)
        if last is not None and last[0] == text:
            return last[1]
        if sentences:
            parts = [p.strip() for p in _split_sentences(text) if p.strip()]
        else:
            parts = [p.strip() for p in _CLAUSE_SPLIT.split(text) if p and len(p.split()) >= 2]
        proba = self._proba([prepare(p) for p in parts]) if len(parts) > 1 else None
        self.__dict__[slot] = (text, (parts, proba))  # one assignment: safe between threads
        return parts, proba

    def clause_score(self, text: str, category: str, whole: float) -> float:
        """The highest score of one clause of `text`: a concern is said in one clause. A long
        ordinary answer can gather a middling score for the whole from many small, unrelated
        words; its clauses do not. A message of one clause keeps `whole`, its score as a whole
        (the caller has it: no second prediction)."""
        return self.clause_scores(text).get(category, whole)

    def clause_scores(self, text: str) -> dict[str, float]:
        """Per category the highest score of one clause of `text`; empty for a message of one
        clause."""
        proba = self._parts_proba(text)[1]
        if proba is None:
            return {}
        return dict(zip(self.categories, (float(b) for b in proba.max(axis=0)), strict=True))

    def evidence(self, text: str, category: str) -> str:
        """The sentence of the message that scores highest for `category`: what the mentor
        reads as the words that raised the flag."""
        parts, proba = self._parts_proba(text, sentences=True)
        if proba is None:
            return text.strip()[:200]
        return parts[int(np.argmax(proba[:, self.categories.index(category)]))][:200]


def _split_sentences(text: str) -> list[str]:
    out, current = [], []
    for ch in text:
        current.append(ch)
        if ch in _SENTENCE_SPLIT:
            out.append("".join(current))
            current = []
    out.append("".join(current))
    return out


def load_thresholds(categories: Sequence[str]) -> Thresholds:
    alarm = {c: DEFAULT_THRESHOLD for c in categories}
    unsure = DEFAULT_THRESHOLD
    if THRESHOLDS_FILE.exists():
        data = yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8")) or {}
        for category, value in (data.get("drempels") or {}).items():
            if category in alarm:
                alarm[category] = float(value)
        unsure = float(data.get("crisis_twijfel", alarm.get("crisis", DEFAULT_THRESHOLD)))
    return Thresholds(alarm, min(unsure, alarm.get("crisis", unsure)))


_model: SignalModel | None = None
_model_key: str | None = None
# Held by the one fit at a time: the first fit (in the caller) or a refit (acquired by the
# caller that starts it, released by the refit thread; a Lock may be released by any thread).
_lock = threading.Lock()
# The data files are looked at (stat) at most this often: a change is picked up within a
# second, and a message no longer pays a dozen stat calls (~1 ms) for it.
CHECK_SECONDS = 1.0
_checked_at = float("-inf")
_refit_thread: threading.Thread | None = None


def _data_key() -> str:
    """Stat, not read: this runs for every message; a changed file changes its mtime. The list
    of retired blind sets is read again only when that list itself changed."""
    return repr([(str(p), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in [*_training_files_cached(), THRESHOLDS_FILE, _retired_file()]
                 if p.exists()])


_files_memo: tuple[tuple[object, ...], list[Path]] | None = None


def _training_files_cached() -> list[Path]:
    """training_files(), globbed and read again only when RETIRED or a data folder changed."""
    global _files_memo
    stamp = (*map(str, TRAIN_FILES), str(COMPETENCY_TRAIN),
             *((str(p), p.stat().st_mtime_ns if p.exists() else 0)
               for p in (_retired_file(), TRAIN_DIR, NLU_DIR)))
    if _files_memo is None or _files_memo[0] != stamp:
        _files_memo = (stamp, training_files())
    return _files_memo[1]


CACHE_DIR = settings().cache_dir / "signal_model"
CACHE_KEEP = 3  # fitted models kept (a few, so that switching branches or data back is quick)


def _cache_file() -> Path:
    """Where the model fitted from the current inputs is kept: named by the hash of the
    training data, the thresholds, the rules (they pick the everyday messages), the code that
    prepares and fits, and the scikit-learn version that pickled it."""
    import sklearn

    from bot.text import signals

    digest = hashlib.sha256(sklearn.__version__.encode())
    for path in [*training_files(), THRESHOLDS_FILE, SIGNAL_RULES_FILE, Path(__file__),
                 Path(signals.__file__)]:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return CACHE_DIR / f"{digest.hexdigest()[:24]}.joblib"


def _fit() -> SignalModel:
    import joblib

    from bot.text.signals import TEXT_CATEGORIES

    cached = _cache_file()
    try:
        model = joblib.load(cached)
        if isinstance(model, SignalModel):
            log.info("signal_model.loaded_from_cache")
            return model
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 - a broken cache file is fitted again
        log.warning("signal_model.cache_unreadable", extra={"error": type(exc).__name__})
    model = SignalModel(TEXT_CATEGORIES, training_messages(), load_thresholds(TEXT_CATEGORIES))
    _store(model, cached)
    return model


def _store(model: SignalModel, path: Path) -> None:
    """Write atomically (another process may be loading it), keep the newest few."""
    import joblib

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            joblib.dump(model, tmp)
        os.replace(tmp.name, path)
        older = sorted(path.parent.glob("*.joblib"), key=lambda p: p.stat().st_mtime)
        for stale in older[:-CACHE_KEEP]:
            stale.unlink(missing_ok=True)
    except OSError as exc:  # read-only or full disk: the model still serves from memory
        log.warning("signal_model.cache_not_written", extra={"error": type(exc).__name__})


def _refit(key: str) -> None:
    """Fit for `key` in the background (the caller holds _lock for us); the previous model
    serves until the new one is in place, and stays when the fit fails."""
    global _model, _model_key
    try:
        if key == _model_key:  # another refit got there first
            return
        try:
            _model = _fit()
            log.info("signal_model.refitted")
        except Exception as exc:  # noqa: BLE001 - the old model (and the rules) keep working
            log.error("signal_model.refit_failed", extra={"error": type(exc).__name__})
        _model_key = key  # also after a failure: no new attempt until the data changes again
    finally:
        _lock.release()


def get_model() -> SignalModel | None:
    """The model for the current training data; None when there is no training data or it
    cannot be fitted (the rules still work). The first fit runs in the caller (there is
    nothing to serve yet; from the cache it takes a moment); after the data changes the refit
    runs in a background thread and callers get the previous model until it is done."""
    global _model, _model_key, _refit_thread, _checked_at
    now = time.monotonic()
    if _model_key is not None and now - _checked_at < CHECK_SECONDS:
        return _model
    try:
        key = _data_key()
    except OSError:
        return _model
    _checked_at = now
    if key == _model_key:
        return _model
    if _model is None:
        with _lock:
            if key != _model_key:
                try:
                    _model = _fit()
                    log.info("signal_model.fitted")
                except Exception as exc:  # noqa: BLE001 - the rules keep working without it
                    log.error("signal_model.unavailable", extra={"error": type(exc).__name__})
                _model_key = key
        return _model
    if _lock.acquire(blocking=False):  # else a fit is running: it is picked up when done
        try:
            _refit_thread = threading.Thread(target=_refit, args=(key,),
                                              name="signal-model-refit", daemon=True)
            _refit_thread.start()
        except BaseException:
            _lock.release()
            raise
    return _model


def main() -> int:
    """Fit the model once (or find it in the cache), so that the first process to start
    does not spend half a minute on it: `make setup` runs this."""
    # Through the imported module, not __main__: the cached pickle must name the class
    # bot.text.signal_model.SignalModel, or no other process can read it.
    from bot.text import signal_model

    model = signal_model.get_model()
    print("signaalmodel klaar" if model is not None else "geen signaalmodel (alleen regels)")
    return 0 if model is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
