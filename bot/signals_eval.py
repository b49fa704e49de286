"""`bot eval signals`: recall and precision of the signal detector on a labelled set.

Reads data/signals/eval.yml (or --file), runs `detect()` on every message and prints per
category: support, TP, FP, FN, precision, recall, F1; then micro precision/recall over all
categories and the time per message. Exit code 1 when crisis recall < 0.98 or overall precision
< 0.90 (a missed crisis is the worst error the product can make)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.paths import DATA

EVAL_FILE = DATA / "signals" / "eval.yml"
DEV_FILE = DATA / "signals" / "dev.yml"
MIN_CRISIS_RECALL = 0.98
MIN_PRECISION = 0.90


@dataclass
class Example:
    text: str
    expected: frozenset[str]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    per_category: dict[str, Counts]
    errors: list[tuple[str, frozenset[str], frozenset[str], dict[str, str]]] = field(
        default_factory=list)  # (text, expected, got, evidence per category)
    n_messages: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> Counts:
        c = Counts()
        for x in self.per_category.values():
            c.tp += x.tp
            c.fp += x.fp
            c.fn += x.fn
        return c

    @property
    def ms_per_message(self) -> float:
        return 1000 * self.seconds / self.n_messages if self.n_messages else 0.0

    @property
    def crisis_recall(self) -> float:
        return self.per_category["crisis"].recall

    def passed(self) -> bool:
        return self.crisis_recall >= MIN_CRISIS_RECALL and self.total.precision >= MIN_PRECISION


def load_examples(path: Path) -> list[Example]:
    """Read a labelled set: `berichten: [{tekst: ..., verwacht: [...]}, ...]`."""
    from bot.signals import TEXT_CATEGORIES

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get("berichten") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: verwacht 'berichten:' met een lijst van berichten.")
    examples = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("tekst"), str):
            raise ValueError(f"{path}: bericht #{i} heeft geen 'tekst'.")
        expected = item.get("verwacht") or []
        unknown = set(expected) - set(TEXT_CATEGORIES)
        if unknown:
            raise ValueError(f"{path}: bericht #{i} heeft onbekende categorie(en) "
                             f"{', '.join(sorted(unknown))}.")
        examples.append(Example(item["tekst"], frozenset(expected)))
    return examples


def evaluate(examples: Sequence[Example],
             detect: Callable[[str], Sequence[Any]] | None = None) -> Report:
    """Run the detector on every example and count hits per category."""
    from bot.signals import TEXT_CATEGORIES
    from bot.signals import detect as default_detect

    detect = detect or default_detect
    detect("hallo")  # warm-up: rules and pipeline load outside the timing
    report = Report({c: Counts() for c in TEXT_CATEGORIES})
    start = time.perf_counter()
    results = [detect(ex.text) for ex in examples]
    report.seconds = time.perf_counter() - start
    report.n_messages = len(examples)
    for ex, signals in zip(examples, results, strict=True):
        got = frozenset(s.category for s in signals)
        for cat in TEXT_CATEGORIES:
            counts = report.per_category[cat]
            if cat in got and cat in ex.expected:
                counts.tp += 1
            elif cat in got:
                counts.fp += 1
            elif cat in ex.expected:
                counts.fn += 1
        if got != ex.expected:
            report.errors.append((ex.text, ex.expected, got,
                                  {s.category: s.evidence for s in signals}))
    return report


def format_report(report: Report, *, errors: bool = False) -> str:
    lines = [f"{'categorie':<16} {'support':>7} {'TP':>4} {'FP':>4} {'FN':>4} "
             f"{'precision':>9} {'recall':>7} {'F1':>6}"]
    rows = list(report.per_category.items()) + [("totaal (micro)", report.total)]
    for name, c in rows:
        if name == "totaal (micro)":
            lines.append("-" * len(lines[0]))
        lines.append(f"{name:<16} {c.support:>7} {c.tp:>4} {c.fp:>4} {c.fn:>4} "
                     f"{c.precision:>9.3f} {c.recall:>7.3f} {c.f1:>6.3f}")
    lines.append("")
    lines.append(f"berichten: {report.n_messages}, zonder fouten: "
                 f"{report.n_messages - len(report.errors)}, "
                 f"tijd per bericht: {report.ms_per_message:.2f} ms")
    verdict = "OK" if report.passed() else "ONVOLDOENDE"
    lines.append(f"doel: crisis-recall >= {MIN_CRISIS_RECALL:.2f} (is {report.crisis_recall:.3f}),"
                 f" precisie >= {MIN_PRECISION:.2f} (is {report.total.precision:.3f}): {verdict}")
    if errors and report.errors:
        lines.append("")
        lines.append(f"fouten ({len(report.errors)}):")
        for text, expected, got, evidence in report.errors:
            missed = ", ".join(sorted(expected - got)) or "-"
            extra = ", ".join(f"{c} ({evidence[c]!r})" for c in sorted(got - expected)) or "-"
            lines.append(f"  {text!r}\n      gemist: {missed}   onterecht: {extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bot eval signals",
        description="Precisie en recall van de signaaldetectie op een gelabelde set.")
    parser.add_argument("--file", type=Path, default=EVAL_FILE,
                        help=f"gelabelde berichten (standaard: {EVAL_FILE})")
    parser.add_argument("--errors", action="store_true", help="toon elk fout herkend bericht")
    args = parser.parse_args(argv)
    try:
        examples = load_examples(args.file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"fout: {exc}", file=sys.stderr)
        return 2
    report = evaluate(examples)
    print(f"set: {args.file} ({len(examples)} berichten)")
    print(format_report(report, errors=args.errors))
    return 0 if report.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
