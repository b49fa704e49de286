"""Our assistant against the stock `rasa init` assistant, in the same run, under the same
load shapes: every figure of ours is also given as a ratio to the stock one.

    python -m bench compare            # all load shapes (~10 min on 2 cores)
    python -m bench compare --quick    # shorter runs, for trying the harness out

The stock assistant is created and trained once in var/bench/stock/project (`rasa init
--no-prompt`) and reused afterwards; it runs `rasa run` with its own credentials.yml (REST
channel) and endpoints.yml (in-memory tracker store, no action server: its domain has no
custom actions). Ours runs as in the tests: Rasa + action server + SQLite (bot.devservers).

Load shapes (docs/performance.md describes them in full):
- closed loop: N students at once, each holding whole conversations back to back (a new
  student id for every conversation), until at least MIN_SECONDS have passed; every
  conversation that was started is finished.
- open loop: messages are due on a fixed schedule, message k at k/rate seconds, for
  OPEN_SECONDS. Messages are dealt to students in conversation order (student j gets due
  messages j*M .. j*M+M-1, M the length of the conversation), so a new student starts every
  M/rate seconds whatever the replies. A message is sent at its due time, or, when the
  student's previous reply has not arrived yet, the moment it arrives.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import aiohttp

from bench.conversation import FULL_CONVERSATION
from bench.table import percentile, print_table
from bot.devservers import Servers, free_port, isolated_env, upgrade_database, wait_until_up
from bot.paths import ROOT

STOCK_DIR = ROOT / "var" / "bench" / "stock"
STOCK_PROJECT = STOCK_DIR / "project"
DOC = ROOT / "docs" / "performance.md"
BIN = Path(sys.executable).parent

# The stock assistant's own stories and rules, one after the other: greet, mood_unhappy ->
# cheer up + "did that help?", affirm -> happy (sad path 1); greet, mood_great -> happy
# (happy path); bot_challenge and goodbye (its two rules).
STOCK_CONVERSATION: list[tuple[str, str | None]] = [
    ("hello", "How are you?"),
    ("I am sad", "Did that help you?"),
    ("yes", "Great, carry on!"),
    ("hi", "How are you?"),
    ("I am great", "Great, carry on!"),
    ("are you a bot?", "I am a bot"),
    ("bye", "Bye"),
]

CLOSED_STUDENTS = (1, 16, 50)
OPEN_RATES = (14.0, 40.0)
MIN_SECONDS = 20.0  # a closed-loop run lasts at least this long
OPEN_SECONDS = 30.0  # an open-loop run offers messages for this long
DRAIN_SECONDS = 60.0  # after the schedule, wait at most this long for outstanding replies
REQUEST_TIMEOUT = 120.0
SAMPLE_SECONDS = 0.25  # memory sampling interval

Step = tuple[str, str | None]


# --- server processes: CPU time and memory -------------------------------------------------

def _tree(root_pids: Sequence[int]) -> list[int]:
    """The given processes and all their descendants."""
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        psutil = None
    if psutil is not None:
        found: list[int] = []
        for pid in root_pids:
            try:
                proc = psutil.Process(pid)
                found += [pid, *(c.pid for c in proc.children(recursive=True))]
            except psutil.NoSuchProcess:
                pass
        return found
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], list(root_pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(root_pids: Sequence[int]) -> float:
    """User + system CPU time of the processes and their descendants so far (including
    children that have exited and were waited for)."""
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        psutil = None
    total = 0.0
    if psutil is not None:
        for pid in _tree(root_pids):
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
        return total
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in _tree(root_pids):
        stat = _proc_stat(pid)
        if stat is not None:  # utime stime cutime cstime are fields 14-17 (index 11-14 here)
            total += sum(int(v) for v in stat[11:15]) / ticks
    return total


def rss_bytes(root_pids: Sequence[int]) -> int:
    """Resident memory of the processes and their descendants, summed."""
    total = 0
    for pid in _tree(root_pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) * 1024 if match else 0
    return total


class Meter:
    """CPU time and peak resident memory of server processes while a load shape runs."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._cpu0 = 0.0
        self.cpu = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pids))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> Meter:
        self._cpu0 = cpu_seconds(self.pids)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pids))
        self.cpu = cpu_seconds(self.pids) - self._cpu0


# --- the two assistants ----------------------------------------------------------------------

@dataclasses.dataclass
class Assistant:
    name: str
    url: str  # the REST webhook
    conversation: list[Step]
    pids: Callable[[], list[int]]
    stop: Callable[[], None]


def ensure_stock() -> Path:
    """The stock assistant's project with a trained model; created and trained only when
    missing."""
    models = STOCK_PROJECT / "models"
    if STOCK_PROJECT.is_dir() and any(models.glob("*.tar.gz")):
        return STOCK_PROJECT
    print(f"creating and training the stock assistant in {STOCK_PROJECT} (~2-5 min)",
          flush=True)
    if STOCK_PROJECT.exists():
        shutil.rmtree(STOCK_PROJECT)
    STOCK_PROJECT.mkdir(parents=True)
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    with open(STOCK_DIR / "init.log", "wb") as log:
        subprocess.run([str(BIN / "rasa"), "init", "--no-prompt", "--init-dir",
                        str(STOCK_PROJECT)], cwd=STOCK_DIR, env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True)
    if not any(models.glob("*.tar.gz")):
        raise RuntimeError(f"rasa init made no model: see {STOCK_DIR / 'init.log'}")
    return STOCK_PROJECT


def start_stock() -> Assistant:
    project = ensure_stock()
    port = free_port()
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    log = open(STOCK_DIR / "server.log", "ab")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen(
        [str(BIN / "rasa"), "run", "--model", "models", "--credentials", "credentials.yml",
         "--endpoints", "endpoints.yml", "--interface", "127.0.0.1", "--port", str(port)],
        cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()

    try:
        wait_until_up(f"http://127.0.0.1:{port}/", [proc])
    except BaseException:  # also Ctrl-C: never leave the server running
        stop()
        raise
    return Assistant("stock rasa init", f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                     STOCK_CONVERSATION, lambda: [proc.pid], stop)


def snapshot_root(workdir: Path) -> Path:
    """A copy of the files our servers read at run time (data/, domain.yml, config.yml; the
    model is linked): edits other people make to data/ during the run then cannot make the
    servers reload the script or refit the signal model halfway through a measurement."""
    root = workdir / "root"
    shutil.copytree(ROOT / "data", root / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(ROOT / name, root / name)
    (root / "models").symlink_to(ROOT / "models")
    return root


def start_ours(workdir: Path) -> Assistant:
    env = isolated_env(workdir)
    upgrade_database(env)  # migrations from the working tree
    env["LOOPBAANCOACH_ROOT"] = str(snapshot_root(workdir))  # bot.paths: data read from here
    servers = Servers(workdir, env)
    try:
        servers.start()
    except BaseException:
        servers.stop()
        raise
    return Assistant("Loopbaancoach", f"{servers.rasa_url}/webhooks/rest/webhook",
                     FULL_CONVERSATION, lambda: [p.pid for p in servers.processes],
                     servers.stop)


# --- load ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    latencies: list[float] = dataclasses.field(default_factory=list)  # ms, answered ones
    errors: int = 0  # HTTP error, time-out, connection error, or a reply that did not advance
    unsent: int = 0  # open loop: due messages never sent (their student was still waiting)
    conversations: int = 0  # finished whole
    why: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    elapsed: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed else 0.0


async def _say(session: aiohttp.ClientSession, url: str, sender: str, step: Step,
               result: Result) -> bool:
    text, expect = step
    start = time.perf_counter()
    why = ""
    body = None
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            if response.status == 200:
                body = await response.json(content_type=None)
            else:
                why = f"HTTP {response.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        why = type(exc).__name__
    took = (time.perf_counter() - start) * 1000
    replies = " ".join(str(r.get("text", "")) for r in body or [] if isinstance(r, dict))
    if not why and (not body or (expect is not None and expect not in replies)):
        # the bench's own made-up answers, never a student's words
        why = f"reply did not advance: expected {expect!r}, got {replies[:70]!r}"
    if why:
        result.errors += 1
        result.why[why] += 1
        return False
    result.latencies.append(took)
    return True


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                                 connector=aiohttp.TCPConnector(limit=0))


async def closed_loop(url: str, conversation: list[Step], students: int,
                      min_seconds: float) -> Result:
    result = Result()
    async with _session() as session:
        start = time.perf_counter()

        async def student() -> None:
            while time.perf_counter() - start < min_seconds:
                sender = f"bench-{uuid.uuid4().hex[:12]}"
                for step in conversation:
                    if not await _say(session, url, sender, step, result):
                        break  # a broken conversation is not continued
                else:
                    result.conversations += 1

        await asyncio.gather(*(student() for _ in range(students)))
        result.elapsed = time.perf_counter() - start
    return result


async def open_loop(url: str, conversation: list[Step], rate: float,
                    seconds: float) -> Result:
    result = Result()
    due_total = int(rate * seconds)
    m = len(conversation)
    async with _session() as session:
        start = time.perf_counter()
        deadline = start + seconds + DRAIN_SECONDS

        async def student(first: int) -> None:
            sender = f"bench-{uuid.uuid4().hex[:12]}"
            for i, step in enumerate(conversation):
                k = first + i
                if k >= due_total:
                    return
                due = start + k / rate
                now = time.perf_counter()
                if now >= deadline:
                    result.unsent += min(m, due_total - first) - i  # this student's rest
                    return
                if due > now:
                    await asyncio.sleep(due - now)
                if not await _say(session, url, sender, step, result):
                    result.unsent += min(m, due_total - first) - i - 1
                    return
            result.conversations += 1

        tasks = []
        for first in range(0, due_total, m):  # a new student at its first message's due time
            wait = start + first / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(student(first)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - start
    return result


def _measure(assistant: Assistant, run: Callable[[], Result]) -> Result:
    with Meter(assistant.pids()) as meter:
        result = run()
    result.cpu, result.peak_rss = meter.cpu, meter.peak
    return result


def _warm_up(assistant: Assistant) -> None:
    """One whole conversation first: models loaded, caches filled, code paths compiled."""
    result = asyncio.run(closed_loop(assistant.url, assistant.conversation, 1, 0.0))
    if result.errors:
        raise RuntimeError(f"{assistant.name}: the warm-up conversation did not advance")


# --- report ----------------------------------------------------------------------------------

HEADERS = ["load", "assistant", "msgs", "msg/s", "p50 ms", "p95 ms", "p99 ms", "errors",
           "CPU s", "CPU ms/msg", "peak RSS MB"]


def _figures(r: Result) -> list[float]:
    return [r.rate, percentile(r.latencies, 50), percentile(r.latencies, 95),
            percentile(r.latencies, 99), r.cpu, 1000 * r.cpu / max(r.answered, 1),
            r.peak_rss / 2**20]


def _ratio(ours: float, stock: float) -> str:
    return f"×{ours / stock:.1f}" if stock else "–"


def rows(results: list[tuple[str, Result, Result]]) -> list[list[object]]:
    """Per load shape: the stock row, our row, and our figures as ratios to stock."""
    out: list[list[object]] = []
    for load, stock, ours in results:
        for name, r in (("stock", stock), ("ours", ours)):
            f = _figures(r)
            errors = f"{r.errors}" + (f" (+{r.unsent} unsent)" if r.unsent else "")
            out.append([load, name, r.answered, f[0], f[1], f[2], f[3], errors, f[4], f[5],
                        f[6]])
        s, o = _figures(stock), _figures(ours)
        out.append([load, "ours / stock", "", _ratio(o[0], s[0]), _ratio(o[1], s[1]),
                    _ratio(o[2], s[2]), _ratio(o[3], s[3]), "", _ratio(o[4], s[4]),
                    _ratio(o[5], s[5]), _ratio(o[6], s[6])])
    return out


def markdown(headers: list[str], table: list[list[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(),
                          re.MULTILINE)
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = ["?"] * 3
    return {"cpu": cpu, "nproc": str(os.cpu_count()), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "load": " ".join(load)}


BEGIN, END = "<!-- bench compare: begin -->", "<!-- bench compare: end -->"


def write_doc(section: str) -> None:
    """Replace the generated part of docs/performance.md (between the markers)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}", encoding="utf-8")


def run(quick: bool = False, write: bool = True) -> None:
    min_s, open_s = (5.0, 8.0) if quick else (MIN_SECONDS, OPEN_SECONDS)
    students, rates = ((1, 4), (14.0,)) if quick else (CLOSED_STUDENTS, OPEN_RATES)
    before = machine()
    started = datetime.now(timezone.utc)
    assistants: list[Assistant] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            t0 = time.perf_counter()
            assistants.append(start_stock())
            stock_up = time.perf_counter() - t0
            t0 = time.perf_counter()
            assistants.append(start_ours(Path(tmp)))
            ours_up = time.perf_counter() - t0
            stock, ours = assistants
            print(f"servers up: stock {stock_up:.1f} s, ours {ours_up:.1f} s", flush=True)
            for a in assistants:
                _warm_up(a)
            idle = {a.name: rss_bytes(a.pids()) for a in assistants}
            shapes: list[tuple[str, Callable[[Assistant], Result]]] = [
                *((f"closed, {n} student{'s' * (n > 1)}",
                   lambda a, n=n: _measure(a, lambda: asyncio.run(
                       closed_loop(a.url, a.conversation, n, min_s)))) for n in students),
                *((f"open, {r:g} msg/s offered",
                   lambda a, r=r: _measure(a, lambda: asyncio.run(
                       open_loop(a.url, a.conversation, r, open_s)))) for r in rates),
            ]
            results: list[tuple[str, Result, Result]] = []
            for load, shape in shapes:  # stock and ours back to back, shape by shape
                pair = []
                for a in (stock, ours):
                    r = shape(a)
                    print(f"{load:26} {a.name:16} {r.answered:5} msgs {r.rate:6.1f} msg/s "
                          f"p50 {percentile(r.latencies, 50):7.0f} ms  errors {r.errors}"
                          f"  unsent {r.unsent}  {r.elapsed:.0f} s", flush=True)
                    for why, count in r.why.most_common():
                        print(f"    error: {why} x{count}", flush=True)
                    pair.append(r)
                results.append((load, pair[0], pair[1]))
        finally:
            for a in reversed(assistants):
                a.stop()
    after = machine()
    table = rows(results)
    print()
    print_table(HEADERS, table)
    section = "\n".join([
        f"Run of {started:%Y-%m-%d %H:%M} UTC"
        f"{' (quick: shortened runs, not for comparison)' if quick else ''}: "
        f"{before['cpu']}, {before['nproc']} CPUs (`nproc`), {before['system']}, "
        f"Python {before['python']}.",
        f"Load average before the run: {before['load']}; after: {after['load']}.",
        f"Servers up in {stock_up:.0f} s (stock) and {ours_up:.0f} s (ours); idle RSS after "
        f"the warm-up conversation: stock {idle[stock.name] / 2**20:.0f} MB, ours "
        f"{idle[ours.name] / 2**20:.0f} MB.",
        f"Conversation length: stock {len(STOCK_CONVERSATION)} messages, ours "
        f"{len(FULL_CONVERSATION)} messages.",
        "",
        markdown(HEADERS, table),
    ])
    reasons = [f"- {load}, {name}: {why} ×{count}"
               for load, stock_r, ours_r in results
               for name, r in (("stock", stock_r), ("ours", ours_r))
               for why, count in r.why.most_common()]
    if reasons:
        section += "\n\nErrors by kind:\n\n" + "\n".join(reasons)
    if write and not quick:
        write_doc(section)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")
