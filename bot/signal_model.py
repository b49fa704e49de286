"""The learned half of signal detection: a linear model per flag category.

Rules (bot.signals, data/signals/rules.yml) are precise on what they were written for, but
memorise their examples; students phrase the same thing differently. This model generalises
from labelled student-style messages (data/signals/train/*.yml and dev.yml): TF-IDF on
character n-grams (robust to typos, slang and spelling: "zelfmoort", "nt meer") and on word
uni/bigrams of the normalised text, one logistic regression per category.

Its decision thresholds are data too (data/signals/model.yml), chosen by `bot signals tune`
with cross-validation on the training data only: crisis is recall-first, with an unsure
band below the alarm threshold in which the coach asks one check question.

The model is trained when first needed (about three seconds; deterministic), so there is no
binary artefact to ship or to go stale: editing the training data changes the model."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.paths import DATA

log = logging.getLogger(__name__)
SIGNAL_DATA = DATA / "signals"
TRAIN_FILES = (SIGNAL_DATA / "dev.yml",)
TRAIN_DIR = SIGNAL_DATA / "train"
THRESHOLDS_FILE = SIGNAL_DATA / "model.yml"
DEFAULT_THRESHOLD = 0.5
_SENTENCE_SPLIT = ".!?;\n"
_CLAUSE_SPLIT = re.compile(r"[.!?;,\n]+|\b(?:en|maar|want|omdat|dus|toen)\b", re.IGNORECASE)


@dataclass(frozen=True)
class LabelledMessage:
    text: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Thresholds:
    alarm: dict[str, float]  # category -> probability from which the model raises it
    crisis_unsure: float  # crisis probability from which the coach asks its check question


def training_files() -> list[Path]:
    """Every file the model learns from (their hash decides when to refit)."""
    return [*TRAIN_FILES, *sorted(TRAIN_DIR.glob("*.yml")), *sorted(NLU_DIR.glob("*.yml")),
            COMPETENCY_TRAIN]


def training_messages() -> list[LabelledMessage]:
    """The labelled signal data, then the everyday messages (duplicates dropped)."""
    labelled = load_labelled([*TRAIN_FILES, *sorted(TRAIN_DIR.glob("*.yml"))])
    seen = {m.text.strip().lower() for m in labelled}
    extra = [m for m in everyday_messages() if m.text.strip().lower() not in seen]
    return labelled + extra


def load_labelled(paths: Sequence[Path]) -> list[LabelledMessage]:
    messages: list[LabelledMessage] = []
    seen: set[str] = set()
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("berichten") or []:
            text = item.get("tekst")
            if not isinstance(text, str) or text.strip().lower() in seen:
                continue
            seen.add(text.strip().lower())
            messages.append(LabelledMessage(text, frozenset(item.get("verwacht") or [])))
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
    from bot.signals import Detector

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
    """The text the features see: bot.signals' normalisation (lowercase, accents, repeated
    letters, apostrophes), with sentence ends kept as a token."""
    from bot.signals import normalize_text

    return normalize_text(text)


NEGATIONS = frozenset({"niet", "geen", "nooit", "niks", "niemand", "nee", "nie", "nt", "gn",
                       "never", "not", "no"})
CLAUSE_ENDS = frozenset({".", ",", "!", "?", ";", ":", "maar", "want", "omdat", "en", "dus",
                         "toch", "alleen", "wel"})
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
    words = [w for w in words if w not in {".", ",", "!", "?", ";", ":"}]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def build_pipeline():  # noqa: ANN201 - an sklearn estimator
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, make_pipeline

    # Character n-grams within words (char_wb 2-5) and C=32 (weaker regularisation than the
    # earlier C=8): in 5-fold cross-validation on the training data this raised the mean
    # average precision over the categories from 0.872 to 0.878 (crisis 0.920 -> 0.926).
    # n-grams across word boundaries ("char") scored 0.882 in cross-validation but raised more
    # false alarms on the hard negatives of eval.yml (8.1 % vs 4.8 %), so they generalise worse.
    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                  sublinear_tf=True)),
        ("words", TfidfVectorizer(analyzer=word_features, min_df=1, sublinear_tf=True)),
    ])
    classifier = OneVsRestClassifier(LogisticRegression(
        C=32.0, class_weight="balanced", solver="liblinear", max_iter=2000, random_state=7))
    return make_pipeline(features, classifier)


class SignalModel:
    """A fitted model plus its thresholds; `scores(text)` -> probability per category."""

    def __init__(self, categories: Sequence[str], messages: Sequence[LabelledMessage],
                 thresholds: Thresholds) -> None:
        self.categories = list(categories)
        self.thresholds = thresholds
        self.pipeline = build_pipeline()
        y = np.array([[c in m.labels for c in self.categories] for m in messages], dtype=int)
        self.pipeline.fit([prepare(m.text) for m in messages], y)

    def scores(self, text: str) -> dict[str, float]:
        probabilities = self.pipeline.predict_proba([prepare(text)])[0]
        return dict(zip(self.categories, (float(p) for p in probabilities), strict=True))

    def clause_score(self, text: str, category: str, whole: float) -> float:
        """The highest score of one clause of `text` (split at punctuation and at "en",
        "maar", "want", ...): a concern is said in one clause. A long ordinary answer can
        gather a middling score for the whole from many small, unrelated words; its
        clauses do not. A message of one clause keeps `whole`, its score as a whole (the
        caller has it: no second prediction)."""
        parts = [p.strip() for p in _CLAUSE_SPLIT.split(text) if p and len(p.split()) >= 2]
        if len(parts) <= 1:
            return whole
        index = self.categories.index(category)
        return float(self.pipeline.predict_proba([prepare(p) for p in parts])[:, index].max())

    def evidence(self, text: str, category: str) -> str:
        """The sentence of the message that scores highest for `category`: what the mentor
        reads as the words that raised the flag."""
        parts = [p.strip() for p in _split_sentences(text) if p.strip()]
        if len(parts) <= 1:
            return text.strip()[:200]
        index = self.categories.index(category)
        probabilities = self.pipeline.predict_proba([prepare(p) for p in parts])[:, index]
        return parts[int(np.argmax(probabilities))][:200]


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
_refit_thread: threading.Thread | None = None


def _data_key() -> str:
    """Stat, not read: this runs for every message; a changed file changes its mtime."""
    return repr([(str(p), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in [*training_files(), THRESHOLDS_FILE] if p.exists()])


def _fit() -> SignalModel:
    from bot.signals import TEXT_CATEGORIES

    return SignalModel(TEXT_CATEGORIES, training_messages(), load_thresholds(TEXT_CATEGORIES))


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
    cannot be fitted (the rules still work). The first fit runs in the caller (about three
    seconds; there is nothing to serve yet); after the data changes the refit runs in a
    background thread and callers get the previous model until it is done."""
    global _model, _model_key, _refit_thread
    try:
        key = _data_key()
    except OSError:
        return _model
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
