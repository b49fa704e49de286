#!/usr/bin/env bash
# Prints a Python interpreter with venv for a tool's own virtual environment (Schemathesis,
# Synapse): the project's Python 3.10 when found, else any python3 of at least 3.MINOR.
# Usage: scripts/tool_python.sh MINOR   (exit 1 when there is none)
set -uo pipefail
cd "$(dirname "$0")/.."
minor=${1:-10}
if candidate=$(scripts/find_python310.sh 2>/dev/null); then
  echo "$candidate"
  exit 0
fi
for candidate in python3 python3.12 python3.11 python3.13; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
      "import sys, venv; assert sys.version_info >= (3, $minor)" >/dev/null 2>&1; then
    command -v "$candidate"
    exit 0
  fi
done
exit 1
