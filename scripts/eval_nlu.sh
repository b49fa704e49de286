#!/usr/bin/env bash
# NLU evaluation on the held-out test split (tests/nlu/test_nlu.yml, never trained on):
# trains an NLU-only model on data/nlu with config.yml, runs `rasa test nlu`, and writes the
# per-intent report and confusion matrix to docs/nlu-evaluation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1
out=var/nlu-eval
rm -rf "$out" && mkdir -p "$out"
scripts/step.sh "train NLU-only model" .venv/bin/rasa train nlu --config config.yml \
  --nlu data/nlu --out "$out" --fixed-model-name nlu
scripts/step.sh "rasa test nlu on tests/nlu/test_nlu.yml" .venv/bin/rasa test nlu \
  --nlu tests/nlu/test_nlu.yml --model "$out/nlu.tar.gz" --out "$out/results"
.venv/bin/python scripts/nlu_report.py "$out/results" docs/nlu-evaluation.md
