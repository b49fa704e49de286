#!/usr/bin/env bash
# NLU evaluation on the held-out test split (tests/nlu/test_nlu.yml, never trained on) with
# the assistant's own model (trained on data/nlu by `make setup`): per-intent precision,
# recall, F1, macro-F1 and the confusion matrix, written to docs/nlu-evaluation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1
out=var/nlu-eval
rm -rf "$out" && mkdir -p "$out"
scripts/step.sh "rasa test nlu on tests/nlu/test_nlu.yml" .venv/bin/rasa test nlu \
  --nlu tests/nlu/test_nlu.yml --model models/loopbaancoach.tar.gz --out "$out/results"
.venv/bin/python scripts/nlu_report.py "$out/results" docs/nlu-evaluation.md
