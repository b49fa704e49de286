#!/usr/bin/env bash
# Makes sure the Matrix channel tests have a Synapse homeserver (called by `make test` before
# the tests). Synapse's dependencies clash with Rasa's pins, so it gets a virtual environment of
# its own: var/tools/synapse-venv, with the pinned version below and its dependencies pinned in
# constraints-synapse.txt. Quiet and quick when it is
# there; otherwise creates it (Python 3.10, else any python3 >= 3.10) and installs from the
# package index (log: var/log/setup-*.log). When that fails it stops — or, with
# REQUIRE_SERVICES=0, only warns (the Matrix tests then skip).
set -uo pipefail
cd "$(dirname "$0")/.."

VERSION=1.163.2
TOOL=var/tools/synapse-venv
STAMP="$TOOL/.installed-$VERSION-$(sha256sum constraints-synapse.txt | cut -c1-12)"

# Installed, and its interpreter still runs (a removed base Python breaks a venv).
if [ -f "$STAMP" ] && [ -x "$TOOL/bin/python" ] && "$TOOL/bin/python" -c 'import synapse' >/dev/null 2>&1; then
  exit 0  # quiet when there is nothing to do: `make test` stays short
fi

if ! python=$(scripts/tool_python.sh 10); then
  echo "!! Synapse needs Python 3.10 or newer with venv; none was found." >&2
  exit 1
fi

# A half-made environment (an interrupted or older install) is rebuilt from scratch.
rm -rf "$TOOL"
mkdir -p "$(dirname "$TOOL")"
if scripts/step.sh "install Synapse $VERSION for the Matrix tests (~1 min)" bash -c "
    '$python' -m venv '$TOOL' &&
    '$TOOL/bin/python' -m pip install --disable-pip-version-check -q \
      -c constraints-synapse.txt 'matrix-synapse==$VERSION' &&
    '$TOOL/bin/python' -c 'import synapse; print(synapse.__version__)'"; then
  touch "$STAMP"
  exit 0
fi
rm -rf "$TOOL"
echo "!! Could not install matrix-synapse==$VERSION (the package index is needed once)." >&2
if [ "${REQUIRE_SERVICES:-1}" = "0" ]; then
  echo "   (REQUIRE_SERVICES=0: going on; the Matrix tests are skipped)" >&2
  exit 0
fi
exit 1
