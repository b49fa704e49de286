#!/usr/bin/env bash
# Makes sure the browser tests have a Chromium (called by `make test` before the tests).
# Looks for $CHROMIUM, `chromium`, `chromium-browser`. When none is found and installing is
# permitted (root, or sudo without a password; apt-get present; ALLOW_APT is not 0), installs
# Debian's `chromium` quietly (log: var/log/setup-chromium.log), without its recommended
# packages (those would bring systemd, avahi, cups helpers, ...), plus fonts-liberation so
# that pages render text as on a school computer. Otherwise it stops with the
# exact command to run — or, with REQUIRE_SERVICES=0, only warns (the browser tests skip).
set -uo pipefail
cd "$(dirname "$0")/.."

find_chromium() {
  local candidate
  for candidate in "${CHROMIUM:-}" chromium chromium-browser; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if found=$(find_chromium); then
  exit 0  # quiet when there is nothing to do: `make test` stays short
fi

if [ -n "${CHROMIUM:-}" ]; then
  echo "!! CHROMIUM=$CHROMIUM is not an executable. Point it at a Chromium or Chrome binary," >&2
  echo "   or unset it to let this script find or install one." >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
fi
can_install=0
if [ "${ALLOW_APT:-1}" != "0" ] && command -v apt-get >/dev/null 2>&1 \
   && { [ "$(id -u)" -eq 0 ] || [ "${#as_root[@]}" -gt 0 ]; }; then
  can_install=1
fi

if [ "$can_install" -eq 1 ]; then
  mkdir -p var/log
  log=var/log/setup-chromium.log
  start=$(date +%s)
  echo "==> install Chromium for the browser tests (apt-get install chromium, ~1-2 min) ..."
  if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
     && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends chromium fonts-liberation >>"$log" 2>&1 \
     && found=$(find_chromium); then
    echo "    done: Chromium $("$found" --version 2>/dev/null | awk '{print $2}') at $found" \
         "($(( $(date +%s) - start ))s, log: $log)"
    exit 0
  fi
  echo "!! installing Chromium failed. Last lines of $log:" >&2
  tail -n 20 "$log" | sed 's/^/    /' >&2
  exit 1
fi

if command -v apt-get >/dev/null 2>&1; then
  command_to_run="sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium fonts-liberation"
elif command -v brew >/dev/null 2>&1; then
  command_to_run="brew install --cask chromium"
elif command -v dnf >/dev/null 2>&1; then
  command_to_run="sudo dnf install -y chromium"
else
  command_to_run="install Chromium with your system's package manager"
fi
why="not permitted to install it here"
[ "${ALLOW_APT:-1}" = "0" ] && why="ALLOW_APT=0"
echo "!! The browser tests need Chromium, and it is not installed ($why). Run:" >&2
echo "       $command_to_run" >&2
echo "   or set CHROMIUM=/path/to/chromium. To run the other tests without it: REQUIRE_SERVICES=0 make test" >&2
if [ "${REQUIRE_SERVICES:-1}" = "0" ]; then
  echo "   (REQUIRE_SERVICES=0: going on; the browser tests are skipped)" >&2
  exit 0
fi
exit 1
