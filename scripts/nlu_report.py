"""Turn `rasa test nlu` results into docs/nlu-evaluation.md and print the summary.
Exit code 1 when macro-F1 is below the target."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

TARGET_MACRO_F1 = 0.90


def main(results_dir: str, target: str) -> int:
    results = Path(results_dir)
    report = json.loads((results / "intent_report.json").read_text(encoding="utf-8"))
    errors = json.loads((results / "intent_errors.json").read_text(encoding="utf-8"))
    intents = sorted(k for k, v in report.items() if isinstance(v, dict) and "support" in v
                     and k not in ("macro avg", "weighted avg", "micro avg"))
    macro = report["macro avg"]["f1-score"]
    lines = ["# NLU evaluation", "",
             "Held-out split `tests/nlu/test_nlu.yml` (never trained on), model trained on",
             "`data/nlu/` with `config.yml` (the assistant's own model).",
             "Reproduce: `make eval-nlu`.", "",
             f"**Macro-F1: {macro:.3f}** (target ≥ {TARGET_MACRO_F1}); accuracy "
             f"{report.get('accuracy', 0):.3f}; "
             f"weighted F1 {report['weighted avg']['f1-score']:.3f}.",
             "", "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for intent in intents:
        r = report[intent]
        lines.append(f"| {intent} | {r['precision']:.2f} | {r['recall']:.2f} | "
                     f"{r['f1-score']:.2f} | {r['support']} |")
    confusions = Counter((e["intent"], e["intent_prediction"]["name"]) for e in errors)
    lines += ["", "## Confusions (gold → predicted, count)", ""]
    lines += [f"- {gold} → {pred}: {n}" for (gold, pred), n in confusions.most_common()]
    lines += ["", "## Confusion matrix (rows: gold, columns: predicted)", ""]
    short = [i[:6] for i in intents]
    lines.append("| gold \\ pred | " + " | ".join(short) + " |")
    lines.append("|---" * (len(intents) + 1) + "|")
    for gold in intents:
        wrong = {pred: n for (g, pred), n in confusions.items() if g == gold}
        right = report[gold]["support"] - sum(wrong.values())
        cells = [str(right if pred == gold else wrong.get(pred, "")) for pred in intents]
        lines.append(f"| {gold} | " + " | ".join(cells) + " |")
    lines += ["", "The confusion matrix image is written to "
              "`var/nlu-eval/results/intent_confusion_matrix.png` by the same command.", ""]
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text("\n".join(lines), encoding="utf-8")
    start = next(n for n, line in enumerate(lines) if line.startswith("**Macro"))
    print("\n".join(lines[start:]))
    return 0 if macro >= TARGET_MACRO_F1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
