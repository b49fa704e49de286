#!/usr/bin/env bash
# Prints the path of a working Python 3.10 interpreter, or explains what to install.
# Rasa 3.6 supports Python < 3.11 only, so 3.10 is required.
set -u
try() { "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && command -v "$1"; }
for cand in "${PYTHON310:-}" python3.10; do
  [ -n "$cand" ] && try "$cand" && exit 0
done
# pyenv shims fail when 3.10 is installed but not selected; look inside pyenv itself.
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
  [ -n "$root" ] || continue
  for cand in "$root"/versions/3.10*/bin/python3.10; do
    [ -x "$cand" ] && try "$cand" && exit 0
  done
done
for cand in /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -x "$cand" ] && try "$cand" && exit 0
done
echo "Python 3.10 is required (Rasa 3.6 does not run on 3.11+). Install it, or set PYTHON310=/path/to/python3.10." >&2
exit 1
