#!/usr/bin/env bash
# Runs one setup step with a visible progress line: what runs, a heartbeat while it takes
# long, its duration, and on failure the end of its log. Usage: step.sh "title" cmd args...
set -u
title=$1; shift
mkdir -p var/log
log="var/log/setup-$(echo "$title" | tr -c 'a-zA-Z0-9' '-' | tr -s '-' | sed 's/-$//').log"
start=$(date +%s)
printf '==> %s ...\n' "$title"
"$@" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM
while kill -0 "$pid" 2>/dev/null; do
  for _ in $(seq 1 20); do
    sleep 1
    kill -0 "$pid" 2>/dev/null || break
  done
  if kill -0 "$pid" 2>/dev/null; then
    # Last progress fragment of the log (tqdm bars end with \r, not \n).
    last=$(tail -c 4000 "$log" | tr '\r' '\n' | grep -v "^WARNING: Location\|is ignored: it is neither" | grep -v '^[[:space:]]*$' \
      | tail -n 1 | cut -c1-100)
    printf '    ... still working on %s (%ds) %s\n' "$title" "$(( $(date +%s) - start ))" "${last:+| $last}"
  fi
done
wait "$pid"
rc=$?
took=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ]; then
  printf '!!  %s FAILED after %ds (exit %d). Last lines of %s:\n' "$title" "$took" "$rc" "$log"
  grep -v "^WARNING: Location" "$log" | tail -n 30 | sed 's/^/    /'
  exit "$rc"
fi
printf '    done: %s (%ds, log: %s)\n' "$title" "$took" "$log"
