"""Where a student's message spends its CPU time: `python -m bench profile`.

Starts our servers as the comparison does (bench.compare.start_ours), holds one whole
conversation to warm up, then samples Rasa and the action server with py-spy while one
student holds conversations back to back, and prints, per process, the functions with the
largest share of the busy samples (inclusive) and the busiest lines (exclusive). The raw
samples are kept in var/bench/profile/ (py-spy's "raw" format: one stack per line, open
them in speedscope or flamegraph.pl). This is how the hot spots named in
docs/performance.md were found."""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.paths import VAR

OUT = VAR / "bench" / "profile"
RATE_HZ = 200
# Samples of an idle thread: a worker waiting for work, Sanic's loop waiting for a request.
_IDLE = re.compile(r"(_worker \(concurrent/futures/thread\.py:\d+\)|"
                   r"serve \(sanic/server/runners\.py:\d+\))$")
_LINE = re.compile(r":\d+\)")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is missing: `.venv/bin/pip install -c constraints.txt py-spy`")
    return found


def busy_stacks(raw: Path) -> list[tuple[list[str], int]]:
    """(frames, count) of the samples in which the process was working."""
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if _IDLE.search(frames[-1]):
            continue
        stacks.append(([_LINE.sub(")", f) for f in frames], int(count)))
    return stacks


def top(stacks: list[tuple[list[str], int]], n: int = 25) -> tuple[int, list, list]:
    """(busy samples, [(share, function)] inclusive, [(share, function)] exclusive)."""
    inclusive: collections.Counter[str] = collections.Counter()
    exclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in stacks:
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        exclusive[frames[-1]] += count
    total = max(total, 1)
    return (total,
            [(c / total, f) for f, c in inclusive.most_common(n)],
            [(c / total, f) for f, c in exclusive.most_common(n // 2)])


def run(seconds: float = 25.0) -> None:
    from bench.compare import closed_loop, cpu_seconds, start_ours

    spy = py_spy()
    OUT.mkdir(parents=True, exist_ok=True)
    ours = start_ours(Path(tempfile.mkdtemp(prefix="loopbaancoach-profile-")))
    try:
        pids = ours.pids()
        asyncio.run(closed_loop(ours.url, ours.conversation, 1, 1))  # warm-up
        names = ["actions", "rasa"]  # bench.compare starts the action server first
        samplers = [subprocess.Popen([spy, "record", "-p", str(pid), "-r", str(RATE_HZ),
                                      "-f", "raw", "--nonblocking",
                                      "-o", str(OUT / f"{name}.txt")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for pid, name in zip(pids, names, strict=True)]
        time.sleep(2)
        cpu = cpu_seconds(pids)
        result = asyncio.run(closed_loop(ours.url, ours.conversation, 1, seconds))
        cpu = cpu_seconds(pids) - cpu
        for sampler in samplers:
            sampler.send_signal(signal.SIGINT)
        for sampler in samplers:
            sampler.wait(60)
    finally:
        ours.stop()
    answered = max(result.answered, 1)
    print(f"{result.answered} messages, {result.errors} errors; CPU {1000 * cpu / answered:.0f}"
          f" ms per message (with py-spy sampling at {RATE_HZ} Hz, which adds some)")
    for name in names:
        raw = OUT / f"{name}.txt"
        if not raw.exists():
            print(f"\n{name}: no samples (py-spy needs ptrace permission)")
            continue
        total, inclusive, exclusive = top(busy_stacks(raw))
        print(f"\n### {name}: {total} busy samples ({total / RATE_HZ / answered * 1000:.0f} ms"
              " per message)\ninclusive:")
        for share, frame in inclusive:
            print(f"  {100 * share:5.1f}%  {frame}")
        print("exclusive:")
        for share, frame in exclusive:
            print(f"  {100 * share:5.1f}%  {frame}")
    print(f"\nraw samples: {OUT}")
