#!/usr/bin/env bash
# Makes sure the API tests have Schemathesis (called by `make test` before the tests).
# Schemathesis' dependencies clash with Rasa's pins, so it gets a virtual environment of its
# own: var/tools/schemathesis, with the pinned version below. Quiet and quick when it is
# there; otherwise creates it (Python 3.10, else any python3 >= 3.9) and installs from the
# package index (log: var/log/setup-*.log). When that fails it stops — or, with
# REQUIRE_SERVICES=0, only warns (the Schemathesis test then skips).
set -uo pipefail
cd "$(dirname "$0")/.."

VERSION=4.30.1
TOOL=var/tools/schemathesis
STAMP="$TOOL/.installed-$VERSION"

# Installed, and its interpreter still runs (a removed base Python breaks a venv).
if [ -f "$STAMP" ] && [ -x "$TOOL/bin/schemathesis" ] && "$TOOL/bin/python" -V >/dev/null 2>&1; then
  exit 0  # quiet when there is nothing to do: `make test` stays short
fi

if ! python=$(scripts/tool_python.sh 9); then
  echo "!! Schemathesis needs Python 3.9 or newer with venv; none was found." >&2
  exit 1
fi

# A half-made environment (an interrupted or older install) is rebuilt from scratch.
rm -rf "$TOOL"
mkdir -p "$(dirname "$TOOL")"
if scripts/step.sh "install Schemathesis $VERSION for the API tests (~30 s)" bash -c "
    '$python' -m venv '$TOOL' &&
    '$TOOL/bin/python' -m pip install --disable-pip-version-check -q 'schemathesis==$VERSION' &&
    '$TOOL/bin/schemathesis' --version"; then
  touch "$STAMP"
  exit 0
fi
rm -rf "$TOOL"
echo "!! Could not install schemathesis==$VERSION (the package index is needed once)." >&2
if [ "${REQUIRE_SERVICES:-1}" = "0" ]; then
  echo "   (REQUIRE_SERVICES=0: going on; the Schemathesis test is skipped)" >&2
  exit 0
fi
exit 1
