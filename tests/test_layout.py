"""The package's import graph (every import, also those inside functions): no cycles, so that
each module can be understood, tested and replaced from the ones it builds on."""

from __future__ import annotations

import ast
import re
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
# The rules and the learned model are two halves of one detector: the model learns from what
# the rules leave (bot.text.signal_model.everyday_messages) and the rules call the model for what
# they miss. Kept visible here rather than hidden behind an indirection.
ALLOWED = {frozenset({"bot.text.signals", "bot.text.signal_model"})}


def import_graph() -> dict[str, set[str]]:
    modules = {
        ".".join(p.relative_to(BOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in BOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.add(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        out.append(frozenset(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycles() -> None:
    """Among others: the services do not import the scheduled work that calls them (the
    action server installs the urgent-mail dispatcher with bot.service.on_urgent_flag)."""
    graph = import_graph()
    assert "bot.scheduled.jobs" not in graph["bot.service"]
    assert "bot.scheduled.worker" not in graph["bot.scheduled.notify"]
    assert [set(c) for c in cycles(graph) if c not in ALLOWED] == []


# Where the environment may be read: the settings object; the mail and Matrix settings, each
# one class with its own `from_env`; the root the paths are resolved from; and the code that
# starts processes (servers, browsers, the demo) and passes the environment on to them.
READS_ENVIRONMENT = {"bot/config.py", "bot/scheduled/notify.py", "bot/channels/matrix_channel.py",
                     "bot/paths.py", "bot/processes.py", "bot/devservers.py",
                     "tests/support/browser.py", "bot/demo.py"}


def test_the_environment_is_read_in_one_place() -> None:
    readers = set()
    for path in BOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                readers.add(str(path.relative_to(BOT.parent)))
    assert readers <= READS_ENVIRONMENT, sorted(readers - READS_ENVIRONMENT)


# bot/ by what it is about; what stays at the top is the glue: settings, paths, the command
# line and the processes it starts, the services the actions call, the names other programs
# rely on, the demo and the evaluation commands (with the real servers they start).
GROUPS = {"conversation", "text", "storage", "scheduled", "portal", "channels", "rasa_plugins"}
TOP = {"__init__", "cli", "config", "paths", "processes", "launcher", "service", "taxonomy",
       "users", "demo", "demo_talk", "eval_student", "rubric_eval", "devservers"}


def test_the_package_is_grouped_by_what_it_is_about() -> None:
    assert {p.name for p in BOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == GROUPS
    assert {p.stem for p in BOT.glob("*.py")} == TOP


def test_rasa_loads_only_plug_ins_and_channels() -> None:
    """Every class Rasa loads from this project (config.yml, credentials.yml, endpoints.yml)
    lives in bot.rasa_plugins, or is a messaging channel in bot.channels."""
    root = BOT.parent
    named = set()
    for name in ("config.yml", "credentials.yml", "endpoints.yml"):
        text = (root / name).read_text(encoding="utf-8")
        named |= set(re.findall(r"\b(bot(?:\.\w+)+)\.[A-Z]\w*", text))
    assert named and all(m.startswith(("bot.rasa_plugins.", "bot.channels.")) for m in named)
    for module in named:
        assert (root / (module.replace(".", "/") + ".py")).exists(), module
