"""`bot signals tune`: choose the signal model's thresholds by cross-validation on the
training data only (never on an evaluation set), and write them to data/signals/model.yml.

For every training message, the model's out-of-fold probability is combined with what the
rules find (rules ∪ model, as bot.text.signals does). Per category the threshold with the best F1
of that combination is chosen. Crisis is recall-first, in two bands: the alarm (the crisis
reply at once) starts where out-of-fold precision reaches ALARM_PRECISION, and the unsure
band (one check question first) reaches down to where crisis recall is CRISIS_RECALL."""

from __future__ import annotations

import argparse
import sys
from datetime import date

import numpy as np
import yaml

from bot.text.signal_model import (
    ORDINARY_KINDS,
    THRESHOLDS_FILE,
    data_hash,
    fit_pipeline,
    ordinary_clauses,
    prepare,
    training_files,
    training_messages,
)

CRISIS_RECALL = 0.98
ALARM_PRECISION = 0.95
# Share of everyday messages that may get the check question. Recall-first: 1 in 100
# ordinary messages getting one kind check question is acceptable; at 0.005 the unsure
# band caught ~5 points less crisis in cross-validation.
EVERYDAY_CHECK_RATE = 0.01
# Share of everyday messages that may get the crisis reply itself (the alarm). Cross-validated
# alarm precision alone let 15 of 5,348 ordinary conversation answers get the crisis reply once
# the training data held crises hidden in ordinary answers.
EVERYDAY_ALARM_RATE = 0.001
ATTENTION_PRECISION = 0.85  # attention flags: the best F1 among thresholds this precise
FOLDS = 5
# Out-of-fold probabilities are averaged over this many differently shuffled 5-fold splits:
# with one split, adding a handful of training messages moved per-category thresholds by up
# to 0.2 (fold noise); the average is steadier.
REPEATS = 2
GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)


def _everyday_floor(scores: np.ndarray, rate: float) -> float:
    """The lowest threshold that at most `rate` of these everyday scores reach."""
    ordered = np.sort(scores)
    return float(np.round(ordered[int(len(ordered) * (1 - rate))] + 0.01, 2))


def out_of_fold(texts: list[str], y: np.ndarray, folds: int = FOLDS,
                scored: list[str] | None = None, repeats: int = REPEATS,
                clauses: list[list[str]] | None = None) -> np.ndarray:
    """Out-of-fold probabilities, averaged over `repeats` shuffled splits; `scored`: the
    texts to predict on (masked), when they differ from the training texts. An empty scored
    text gets probability 0. `clauses[i]`: extra negatives that come with training text i
    (the clauses of an ordinary answer, as the model learns them); only the training folds'
    own clauses are learned, so an answer is never scored by a model that saw its clauses."""
    from sklearn.model_selection import KFold

    scored = scored or texts
    probabilities = np.zeros(y.shape, dtype=float)
    for repeat in range(repeats):
        for train, test in KFold(folds, shuffle=True, random_state=7 + repeat).split(texts):
            extra = [c for i in train for c in (clauses[i] if clauses else [])]
            negatives = np.zeros((len(extra), y.shape[1]), dtype=y.dtype)
            pipeline = fit_pipeline([texts[i] for i in train] + extra,
                                    np.vstack([y[train], negatives]))
            keep = [i for i in test if scored[i].strip()]
            if keep:
                probabilities[keep] += pipeline.predict_proba([scored[i] for i in keep])
    return probabilities / repeats


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def choose(y: np.ndarray, rules: np.ndarray, oof: np.ndarray, categories: list[str],
           everyday: np.ndarray | None = None,
           ) -> tuple[dict[str, float], float, dict[str, dict]]:
    alarm: dict[str, float] = {}
    report: dict[str, dict] = {}
    unsure = 0.5
    for j, category in enumerate(categories):
        truth, by_rules = y[:, j].astype(bool), rules[:, j].astype(bool)
        if not truth.any():
            alarm[category] = 0.5
            continue
        rows = []
        for t in GRID:
            predicted = by_rules | (oof[:, j] >= t)
            tp = int((predicted & truth).sum())
            fp = int((predicted & ~truth).sum())
            fn = int((~predicted & truth).sum())
            rows.append((float(t), tp, fp, fn))
        if category == "crisis":
            precise = [r for r in rows if r[1] / max(1, r[1] + r[2]) >= ALARM_PRECISION]
            best = min(precise, key=lambda r: r[0]) if precise else rows[-1]
            safe = [r for r in rows if r[1] / (r[1] + r[3]) >= CRISIS_RECALL]
            unsure = max(safe, key=lambda r: r[0])[0] if safe else float(GRID[0])
            if everyday is not None and (everyday & ~truth).any():
                # An ordinary answer ("ik waste haren") must almost never get the check
                # question (EVERYDAY_CHECK_RATE) and hardly ever the alarm (EVERYDAY_ALARM_RATE).
                calm = oof[everyday & ~truth, j]
                unsure = max(unsure, _everyday_floor(calm, EVERYDAY_CHECK_RATE))
                alarm_floor = _everyday_floor(calm, EVERYDAY_ALARM_RATE)
                if alarm_floor > best[0]:
                    best = next((r for r in rows if r[0] >= alarm_floor), rows[-1])
            unsure = min(unsure, best[0])
            reach = next(r for r in rows if r[0] == unsure)
            report["crisis (alarm + controlevraag)"] = {
                "drempel": unsure, "recall": round(reach[1] / (reach[1] + reach[3]), 3),
                "precisie": round(reach[1] / max(1, reach[1] + reach[2]), 3)}
        else:
            precise = [r for r in rows if r[1] / max(1, r[1] + r[2]) >= ATTENTION_PRECISION]
            best = max(precise or rows, key=lambda r: (_f1(*r[1:]), r[0]))
        alarm[category] = best[0]
        t, tp, fp, fn = best
        report[category] = {"drempel": t, "tp": tp, "fp": fp, "fn": fn,
                             "recall": round(tp / (tp + fn), 3),
                             "precisie": round(tp / (tp + fp), 3) if tp + fp else 1.0}
    return alarm, unsure, report


def everyday_extra(messages: list) -> list:
    """The everyday messages at the end of training_messages() (see bot.text.signal_model)."""
    from bot.text.signal_model import labelled_files, load_labelled

    labelled = load_labelled(labelled_files())
    return messages[len(labelled):]


def main(argv: list[str] | None = None) -> int:
    from bot.text.signals import TEXT_CATEGORIES, Detector

    parser = argparse.ArgumentParser(prog="bot signals tune", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="alleen tonen, niet opslaan")
    args = parser.parse_args(argv)
    files = training_files()
    messages = training_messages()
    categories = list(TEXT_CATEGORIES)
    texts = [prepare(m.text) for m in messages]
    y = np.array([[c in m.labels for c in categories] for m in messages], dtype=int)
    rules_detector = Detector()
    views = [rules_detector.rule_view(m.text) for m in messages]
    rules = np.array([[c in {s.category for s in found} for c in categories]
                      for found, _, _ in views], dtype=int)
    vetoed = np.array([[c in veto for c in categories] for _, veto, _ in views], dtype=bool)
    clauses = [[prepare(c) for c in ordinary_clauses(m)] for m in messages]
    oof = out_of_fold(texts, y, scored=[prepare(masked) if masked else ""
                                        for _, _, masked in views], clauses=clauses)
    oof[vetoed] = 0.0  # the rules judged the explicit phrase: the model may not overrule
    labelled = len(messages) - len(everyday_extra(messages))
    # Everyday: the NLU examples, and every ordinary answer of the training data (no concern,
    # not a hard negative of another kind): what students say in most conversations.
    everyday = (np.arange(len(messages)) >= labelled) | np.array(
        [not m.labels and m.kind in ORDINARY_KINDS for m in messages])
    alarm, unsure, report = choose(y, rules, oof, categories, everyday)
    print(f"{len(messages)} trainingsberichten uit {len(files)} bestanden, "
          f"{FOLDS}-voudige CV ({REPEATS}x)")
    for category, row in report.items():
        print(f"  {category:<16} {row}")
    print(f"  crisis twijfelzone vanaf {unsure:.2f} (alarm vanaf {alarm['crisis']:.2f})")
    if args.dry_run:
        return 0
    THRESHOLDS_FILE.write_text(
        "# Drempels van het signaalmodel (bot.text.signal_model), gekozen door `bot signals tune`\n"
        "# met kruisvalidatie op de trainingsdata (nooit op een toetsset).\n"
        "# crisis_twijfel: vanaf deze kans stelt de coach eerst één controlevraag.\n"
        + yaml.safe_dump({"gemaakt": date.today().isoformat(), "data": data_hash(files),
                          "drempels": alarm, "crisis_twijfel": unsure,
                          "kruisvalidatie": report}, sort_keys=False, allow_unicode=True),
        encoding="utf-8")
    print(f"opgeslagen: {THRESHOLDS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
