#!/usr/bin/env bash
# The whole test suite: lint, pytest (unit, storage on SQLite + PostgreSQL, Rasa servers,
# browser), Rasa's data validation and its end-to-end test conversations.
# Any failing part fails the run; pytest collecting no tests (exit 5) is a failure too.
set -uo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3
# Tools in their own virtual environments (schemathesis): `make test` installs them, so a
# missing one is a failure here, not a skip (REQUIRE_SERVICES=0 relaxes that, as for services).
if [ "${REQUIRE_SERVICES:-1}" != "0" ]; then export LOOPBAANCOACH_REQUIRE_TOOLS=1; fi
mkdir -p var/test
failed=()

section() { printf '\n==> %s\n' "$1"; }

section "ruff"
.venv/bin/ruff check . || failed+=("ruff")

section "pytest"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "!! pytest collected no tests: that is a failure, not a pass"
  failed+=("pytest (no tests collected)")
elif [ "$rc" -ne 0 ]; then
  failed+=("pytest (exit $rc)")
fi

section "rasa data validate"
.venv/bin/rasa data validate --domain domain.yml --data data/nlu data/core --config config.yml \
  --fail-on-warnings || failed+=("rasa data validate")

section "rasa test (end-to-end test conversations)"
# endpoints.yml names the action-server secret; `rasa test core` runs no actions.
export ACTION_SERVER_SECRET="${ACTION_SERVER_SECRET:-not-used-by-rasa-test}"
rm -rf var/test/rasa
.venv/bin/rasa test core --model models/loopbaancoach.tar.gz --stories tests/stories \
  --fail-on-prediction-errors --out var/test/rasa || failed+=("rasa test")

if [ "${#failed[@]}" -ne 0 ]; then
  printf '\n!! FAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\n==> all tests passed\n'
