"""`bot eval competencies`: how well classify() matches the labelled test set.

Trains the classifier on data/competencies/train.yml, evaluates on data/competencies/test.yml
and prints top-1 accuracy, per-class precision/recall/F1 and a confusion matrix. Top-1 counts
a sentence as right when its primary label (or "none" for []) equals the first predicted key
(or "none" for []). Exit code 1 when top-1 accuracy is below the threshold (default 0.85)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.taxonomy import COMPETENCY_KEYS
from bot.text.competencies import (
    NONE_LABEL,
    TEST_FILE,
    TRAIN_FILE,
    CompetencyClassifier,
    Example,
    load_examples,
    spacy_requested,
)

MIN_ACCURACY = 0.85
CLASSES: tuple[str, ...] = (*COMPETENCY_KEYS, NONE_LABEL)


@dataclass
class ClassScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class EvalResult:
    method: str
    accuracy: float
    n: int
    per_class: dict[str, ClassScore]
    confusion: dict[str, dict[str, int]]  # gold -> predicted -> count
    errors: list[tuple[str, str, list[tuple[str, float]]]] = field(default_factory=list)
    train_seconds: float = 0.0
    ms_per_sentence: float = 0.0

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.per_class.values()) / len(self.per_class)


def score(gold: Sequence[str], predicted: Sequence[str]) -> tuple[float, dict[str, ClassScore],
                                                                  dict[str, dict[str, int]]]:
    """Top-1 accuracy, per-class P/R/F1 and the confusion matrix of two label sequences."""
    confusion = {g: dict.fromkeys(CLASSES, 0) for g in CLASSES}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    per_class: dict[str, ClassScore] = {}
    for cls in CLASSES:
        tp = confusion[cls][cls]
        n_pred = sum(confusion[g][cls] for g in CLASSES)
        n_gold = sum(confusion[cls].values())
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[cls] = ClassScore(precision, recall, f1, n_gold)
    correct = sum(confusion[c][c] for c in CLASSES)
    return (correct / len(gold) if gold else 0.0), per_class, confusion


def evaluate(train: Sequence[Example], test: Sequence[Example],
             use_spacy: bool | None = None, use_lexicon: bool = True) -> EvalResult:
    """Train on `train`, classify each `test` sentence on its own, and score top-1."""
    if use_spacy is None:
        use_spacy = spacy_requested()
    started = time.perf_counter()
    clf = CompetencyClassifier(train, use_spacy=use_spacy, use_lexicon=use_lexicon)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scored = [clf.scored(ex.text) for ex in test]  # one at a time, as in production
    ms = (time.perf_counter() - started) * 1000 / max(len(test), 1)
    gold = [ex.primary for ex in test]
    predicted = [s[0][0] if s else NONE_LABEL for s in scored]
    accuracy, per_class, confusion = score(gold, predicted)
    errors = [(ex.text, g, s) for ex, g, p, s in zip(test, gold, predicted, scored, strict=True)
              if g != p]
    return EvalResult(clf.method, accuracy, len(test), per_class, confusion, errors,
                      train_seconds, ms)


def cross_validate(examples: Sequence[Example], folds: int = 5, use_spacy: bool | None = None,
                   use_lexicon: bool = True) -> float:
    """Top-1 accuracy of k-fold cross-validation (fixed shuffle), e.g. on train.yml alone."""
    order = sorted(range(len(examples)), key=lambda i: (i * 7919) % len(examples))
    correct = 0
    for k in range(folds):
        held = set(order[k::folds])
        result = evaluate([e for i, e in enumerate(examples) if i not in held],
                          [examples[i] for i in sorted(held)], use_spacy, use_lexicon)
        correct += round(result.accuracy * result.n)
    return correct / len(examples) if examples else 0.0


def report(result: EvalResult, show_errors: bool = False) -> str:
    lines = [f"method: {result.method}",
             f"top-1 accuracy: {result.accuracy:.3f} ({result.n} sentences)",
             f"macro F1: {result.macro_f1:.3f}",
             f"training: {result.train_seconds:.2f} s, "
             f"classify: {result.ms_per_sentence:.2f} ms/sentence", "",
             f"{'class':<16} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>5}"]
    for cls, s in result.per_class.items():
        lines.append(f"{cls:<16} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.support:5d}")
    short = {c: c[:6] for c in CLASSES}
    lines += ["", "confusion (rows gold, columns predicted):",
              f"{'':<16}" + "".join(f"{short[c]:>8}" for c in CLASSES)]
    for g in CLASSES:
        lines.append(f"{g:<16}" + "".join(f"{result.confusion[g][p]:>8}" for p in CLASSES))
    if show_errors and result.errors:
        lines += ["", "errors:"]
        for text, gold, scored in result.errors:
            got = ", ".join(f"{k} {p:.2f}" for k, p in scored) or NONE_LABEL
            lines.append(f"  [{gold}] {text!r} -> {got}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot eval competencies", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--train", type=Path, default=TRAIN_FILE)
    parser.add_argument("--test", type=Path, default=TEST_FILE)
    parser.add_argument("--min-accuracy", type=float, default=MIN_ACCURACY)
    parser.add_argument("--errors", action="store_true", help="list misclassified sentences")
    parser.add_argument("--spacy", action="store_true", help="add spaCy lemma features")
    parser.add_argument("--no-lexicon", action="store_true", help="without lexicon cues")
    parser.add_argument("--cv", type=int, metavar="K", default=0,
                        help="also print K-fold cross-validation accuracy on the training set")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    use_spacy = True if args.spacy else None

    result = evaluate(load_examples(args.train), load_examples(args.test),
                      use_spacy=use_spacy, use_lexicon=not args.no_lexicon)
    print(report(result, show_errors=args.errors))
    if args.cv > 1:
        cv = cross_validate(load_examples(args.train), args.cv, use_spacy, not args.no_lexicon)
        print(f"\n{args.cv}-fold cross-validation on the training set: top-1 {cv:.3f}")
    if result.accuracy < args.min_accuracy:
        print(f"\nFAIL: top-1 accuracy {result.accuracy:.3f} < {args.min_accuracy:.2f}")
        return 1
    print(f"\nOK: top-1 accuracy {result.accuracy:.3f} >= {args.min_accuracy:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
