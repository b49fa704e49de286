"""`bot eval signals`: how well the signal detector does on a labelled set.

Reads data/signals/eval.yml (or --file, or --blind for the frozen blind sets), runs
`detect()` on every message and prints per category: support, TP, FP, FN, precision, recall;
crisis twice (the alarm alone, and alarm + the unsure band's check question, which leads to
the crisis reply on "ja" or an unclear answer); false alarms on the hard negatives per kind
(figurative, negated, about others, work tasks, ordinary); the confusion between categories;
and the time per message.

Targets (issue 10): crisis recall (alarm + check) >= 0.98, recall >= 0.85 for every other
category, micro precision >= 0.90, false alarms on figurative/negated negatives <= 3 %,
<= 10 ms per message. Exit code 1 when a target is missed."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.paths import DATA
from bot.text.signal_model import BLIND_DIR, retired_blind_sets

EVAL_FILE = DATA / "signals" / "eval.yml"
DEV_FILE = DATA / "signals" / "dev.yml"
MIN_CRISIS_RECALL = 0.98
MIN_RECALL = 0.85
MIN_PRECISION = 0.90
MAX_FIGURATIVE_FALSE_ALARMS = 0.03
MAX_MS_PER_MESSAGE = 10.0
HARD_KINDS = ("figuurlijk", "ontkend")


@dataclass
class Example:
    text: str
    expected: frozenset[str]
    kind: str | None = None  # for a negative: figuurlijk, ontkend, over_ander, werk, gewoon


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
    crisis_alarm: Counts = field(default_factory=Counts)  # without the unsure band
    errors: list[tuple[str, frozenset[str], frozenset[str], dict[str, str]]] = field(
        default_factory=list)  # (text, expected, got, evidence per category)
    negatives_by_kind: dict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0]))  # kind -> [with a signal, total]
    confusion: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
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

    @property
    def hard_false_alarm_rate(self) -> float:
        hit = sum(self.negatives_by_kind[k][0] for k in HARD_KINDS if k in self.negatives_by_kind)
        total = sum(self.negatives_by_kind[k][1] for k in HARD_KINDS
                    if k in self.negatives_by_kind)
        return hit / total if total else 0.0

    def verdicts(self) -> list[tuple[str, bool]]:
        others = [(f"recall {name} >= {MIN_RECALL:.2f} (is {c.recall:.3f})",
                   c.recall >= MIN_RECALL)
                  for name, c in self.per_category.items() if name != "crisis" and c.support]
        return [
            (f"crisis-recall (alarm + controlevraag) >= {MIN_CRISIS_RECALL:.2f} "
             f"(is {self.crisis_recall:.3f})", self.crisis_recall >= MIN_CRISIS_RECALL),
            *others,
            (f"precisie (micro) >= {MIN_PRECISION:.2f} (is {self.total.precision:.3f})",
             self.total.precision >= MIN_PRECISION),
            (f"vals alarm op figuurlijk/ontkend <= {MAX_FIGURATIVE_FALSE_ALARMS:.0%} "
             f"(is {self.hard_false_alarm_rate:.1%})",
             self.hard_false_alarm_rate <= MAX_FIGURATIVE_FALSE_ALARMS),
            (f"tijd per bericht <= {MAX_MS_PER_MESSAGE:.0f} ms (is {self.ms_per_message:.2f})",
             self.ms_per_message <= MAX_MS_PER_MESSAGE),
        ]

    def passed(self) -> bool:
        return all(ok for _, ok in self.verdicts())


def load_examples(path: Path) -> list[Example]:
    """Read a labelled set: `berichten: [{tekst: ..., verwacht: [...], soort?: ...}, ...]`."""
    from bot.text.signals import TEXT_CATEGORIES

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
        examples.append(Example(item["tekst"], frozenset(expected), item.get("soort")))
    return examples


def evaluate(examples: Sequence[Example],
             detect: Callable[[str], Sequence[Any]] | None = None) -> Report:
    """Run the detector on every example and count hits per category."""
    from bot.text.signals import TEXT_CATEGORIES
    from bot.text.signals import detect as default_detect

    detect = detect or default_detect
    detect("hallo")  # warm-up: rules, model and pipeline load outside the timing
    report = Report({c: Counts() for c in TEXT_CATEGORIES})
    start = time.perf_counter()
    results = [detect(ex.text) for ex in examples]
    report.seconds = time.perf_counter() - start
    report.n_messages = len(examples)
    for ex, signals in zip(examples, results, strict=True):
        got = frozenset(s.category for s in signals)
        alarm = any(s.category == "crisis" and not getattr(s, "unsure", False)
                    for s in signals)
        _count(report.crisis_alarm, alarm, "crisis" in ex.expected)
        for cat in TEXT_CATEGORIES:
            _count(report.per_category[cat], cat in got, cat in ex.expected)
        if not ex.expected:
            kind = ex.kind or "onbekend"
            report.negatives_by_kind[kind][1] += 1
            report.negatives_by_kind[kind][0] += bool(got)
        for cat in ex.expected:
            report.confusion[cat].update(got or {"(niets)"})
        if got != ex.expected:
            report.errors.append((ex.text, ex.expected, got,
                                  {s.category: s.evidence for s in signals}))
    return report


def _count(counts: Counts, predicted: bool, expected: bool) -> None:
    if predicted and expected:
        counts.tp += 1
    elif predicted:
        counts.fp += 1
    elif expected:
        counts.fn += 1


def format_report(report: Report, *, errors: bool = False) -> str:
    header = (f"{'categorie':<22} {'support':>7} {'TP':>4} {'FP':>4} {'FN':>4} "
              f"{'precisie':>8} {'recall':>7} {'F1':>6}")
    lines = [header]

    def row(name: str, c: Counts) -> str:
        return (f"{name:<22} {c.support:>7} {c.tp:>4} {c.fp:>4} {c.fn:>4} "
                f"{c.precision:>8.3f} {c.recall:>7.3f} {c.f1:>6.3f}")

    for name, c in report.per_category.items():
        lines.append(row(name + (" (+controle)" if name == "crisis" else ""), c))
        if name == "crisis":
            lines.append(row("crisis (alleen alarm)", report.crisis_alarm))
    lines.append("-" * len(header))
    lines.append(row("totaal (micro)", report.total))
    lines.append("")
    lines.append("vals alarm op lastige negatieven (bericht met minstens één signaal):")
    for kind, (hit, total) in sorted(report.negatives_by_kind.items()):
        lines.append(f"  {kind:<12} {hit:>4} van {total:<4} ({hit / total:.1%})")
    lines.append("")
    lines.append("verwarring (verwachte categorie -> wat de detector vond):")
    for cat, found in report.confusion.items():
        parts = ", ".join(f"{k} {v}" for k, v in found.most_common())
        lines.append(f"  {cat:<16} {parts}")
    lines.append("")
    lines.append(f"berichten: {report.n_messages}, zonder fouten: "
                 f"{report.n_messages - len(report.errors)}, "
                 f"tijd per bericht: {report.ms_per_message:.2f} ms")
    for text, ok in report.verdicts():
        lines.append(f"  [{'OK' if ok else 'NEE'}] {text}")
    lines.append(f"oordeel: {'OK' if report.passed() else 'ONVOLDOENDE'}")
    if errors and report.errors:
        lines.append("")
        lines.append(f"fouten ({len(report.errors)}):")
        for text, expected, got, evidence in report.errors:
            missed = ", ".join(sorted(expected - got)) or "-"
            extra = ", ".join(f"{c} ({evidence[c]!r})" for c in sorted(got - expected)) or "-"
            lines.append(f"  {text!r}\n      gemist: {missed}   onterecht: {extra}")
    return "\n".join(lines)


def frozen_sets() -> list[tuple[Path, str]]:
    """The blind sets and the hash each was frozen with (data/signals/blind/FROZEN), without
    the sets retired into the training data (they are no longer blind)."""
    frozen = BLIND_DIR / "FROZEN"
    retired = set(retired_blind_sets())
    out = []
    if frozen.exists():
        for line in frozen.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                digest, name = line.split()
                if BLIND_DIR / name not in retired:
                    out.append((BLIND_DIR / name, digest))
    return out


def conversation_signals(paths: Sequence[Path]) -> tuple[int, Counter[str]]:
    """What the coach raises on the student messages of the conversation-quality sets
    (data/eval/gesprekken: ordinary conversations, written apart from the detector), each
    screened as the answer to its question (that question's `alleen_regels` apply):
    (messages, count per finding), a crisis split into "controlevraag" (the unsure band's
    check question) and "crisisantwoord" (the crisis reply itself)."""
    from bot.conversation import intake
    from bot.conversation.script import get_script
    from bot.rubric_eval import load_set

    script = get_script()
    questions = {q.key: q for step in script.steps.values() for q in step.questions}
    counts: Counter[str] = Counter()
    messages = 0
    for path in paths:
        for conversation in load_set(path):
            for role, texts in conversation["rollen"].items():
                rules_only = questions[role].rules_only if role in questions else ()
                for text in texts:
                    messages += 1
                    for finding in intake.analyse(text, None, rules_only).findings:
                        if finding.category == "crisis":
                            counts["controlevraag" if finding.unsure else "crisisantwoord"] += 1
                        else:
                            counts[finding.category] += 1
    return messages, counts


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bot eval signals",
        description="Precisie en recall van de signaaldetectie op een gelabelde set.")
    parser.add_argument("--file", type=Path, action="append",
                        help=f"gelabelde berichten (standaard: {EVAL_FILE})")
    parser.add_argument("--blind", action="store_true",
                        help="de bevroren blinde toetssets (data/signals/blind) die nog niet "
                             "als trainingsdata zijn gebruikt (RETIRED)")
    parser.add_argument("--errors", action="store_true", help="toon elk fout herkend bericht")
    parser.add_argument("--gesprekken", action="store_true",
                        help="tel wat de coach opmerkt in de gewone antwoorden van de "
                             "evaluatiegesprekken (data/eval/gesprekken), elk als antwoord op "
                             "zijn vraag")
    args = parser.parse_args(argv)
    if args.gesprekken:
        from bot.rubric_eval import EVAL_DIR

        try:
            messages, counts = conversation_signals(sorted(EVAL_DIR.glob("*.yml")))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"fout: {exc}", file=sys.stderr)
            return 2
        found = ", ".join(f"{name} {n}" for name, n in counts.most_common()) or "niets"
        print(f"evaluatiegesprekken: {messages} berichten van studenten; opgemerkt: {found}")
        return 0
    files = list(args.file or [])
    if args.blind:
        for path, digest in frozen_sets():
            if sha256(path) != digest:
                print(f"fout: {path} is veranderd na het bevriezen; maak een nieuwe set.",
                      file=sys.stderr)
                return 2
            files.append(path)
    files = files or [EVAL_FILE]
    passed = True
    for path in files:
        try:
            examples = load_examples(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"fout: {exc}", file=sys.stderr)
            return 2
        report = evaluate(examples)
        print(f"set: {path} ({len(examples)} berichten)")
        print(format_report(report, errors=args.errors))
        print()
        passed = passed and report.passed()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
