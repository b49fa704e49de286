"""Messages per second and latency over the REST channel: real Rasa + action server +
SQLite, with concurrent students, each in their own conversation."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

from bench.table import percentile, print_table
from bot.devservers import Servers, isolated_env, upgrade_database

STUDENTS = 16
# One whole four-step conversation to the closing (terugkijken, reflecteren, vooruitkijken,
# activeren) of a new student whose level nobody set, with answers the coach accepts without
# probing, and "ja" to every "Klopt dat?". Each answer with what the coach asks next: a
# question's key, "check:<step>" (the step's summary check) or a text under `teksten`
# ("tekst:<key>"); the expected words are read from the script (`expected_replies`), so a
# rewording in the script does not break the benchmark.
STEPS_OF_CONVERSATION: list[tuple[str, str]] = [
    ("hoi", "tekst:aanbod_nieuw"),
    ("ja", "schoolsoort"),
    ("mbo", "ervaring"),
    ("ik heb stage gelopen bij een kapper", "rol"),
    ("ik waste haren en veegde de vloer", "verwachting"),
    ("op tijd komen en klanten begroeten", "moment"),
    ("toen ik zelf een klant mocht helpen", "goed_gedaan"),
    ("ik bleef rustig toen het druk was", "hoe_gedaan"),
    ("ik deed alles na elkaar", "leuk_niet_leuk"),
    ("klanten helpen vond ik leuk want ze zijn blij", "belangrijk"),
    ("dat mensen zich fijn voelen", "rode_draad"),
    ("ja, bij voetbal help ik ook de nieuwe jongens", "inzicht_naam"),
    ("ik werk graag met mensen", "check:reflecteren"),
    ("ja", "uitproberen"),
    ("ik wil leren hoe je een planning maakt", "nodig_voor_keuze"),
    ("meer weten over de opleiding kapper", "eerste_stap"),
    ("mijn oom vragen of ik een middag mag meekijken in zijn kapsalon", "hulp_contact"),
    ("ik app mijn oom, hij heeft een kapsalon", "obstakel"),
    ("ik vind het spannend om te bellen", "oplossing"),
    ("ik schrijf eerst op wat ik wil zeggen", "wanneer"),
    ("vrijdag", "check:activeren"),
    ("ja", "afronden"),
    ("doei", "tekst:afscheid_buiten_gesprek"),
]
LEVEL = "mbo"


def closing_line(script: Any, what: str, when: str, level: str | None = LEVEL) -> str:
    """The closing a first conversation ends with, for a plan of `what` on `when`."""
    from bot.conversation.closing import closing_lines

    return closing_lines(script, level, 0, what=what, when_text=when, today=date.today())[-1]


def closing_for(script: Any, steps: list[tuple[str, str]], level: str | None = LEVEL) -> str:
    """The closing after the conversation `steps` (each a message and the key of what the
    coach asks next): the script's closing with the plan its messages make (the answers to
    `eerste_stap` and `wanneer`)."""
    keys = [key for _, key in steps]
    what, when = (steps[keys.index(key) + 1][0] for key in ("eerste_stap", "wanneer"))
    return closing_line(script, what, when, level)


def asked_line(script: Any, key: str, level: str | None = LEVEL) -> str:
    """A line of what the coach says for `key`: a question's key (its first line),
    "check:<step>" (the step's first summary question), "tekst:<key>" (the text's last
    line) or "afronden" (the closing, with this conversation's plan), as a first conversation
    reads it."""
    if key == "afronden":
        return closing_for(script, STEPS_OF_CONVERSATION, level)
    if key.startswith("tekst:"):
        return script.render(script.raw["teksten"][key.removeprefix("tekst:")], level)[-1]
    if key.startswith("check:"):
        step = script.steps[key.removeprefix("check:")]
        return script.pick(step.summary_question, level, 0)[0]
    return script.render(script.question(key).text, level)[0]


def expected_replies() -> list[tuple[str, str | None]]:
    """(message, a line of the reply that shows the conversation advanced), from the script."""
    from bot.conversation.script import load

    script = load()
    return [(text, asked_line(script, key)) for text, key in STEPS_OF_CONVERSATION]


FULL_CONVERSATION: list[tuple[str, str | None]] = expected_replies()
CONVERSATION = [text for text, _ in FULL_CONVERSATION]


async def _student(session: aiohttp.ClientSession, url: str, messages: list[str],
                   latencies: list[float]) -> None:
    sender = f"bench-{uuid.uuid4().hex[:8]}"
    for text in messages:
        start = time.perf_counter()
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            response.raise_for_status()
            await response.json()
        latencies.append((time.perf_counter() - start) * 1000)


async def _load(url: str, messages: list[str], students: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await _student(session, url, messages[:1], [])  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(_student(session, url, messages, latencies)
                               for _ in range(students)))
        return time.perf_counter() - start, latencies


async def _with_huge_messages(url: str, students: int, huge: int) -> list[float]:
    """Greeting latency of `students` while `huge` clients each send 100 KB messages."""
    latencies: list[float] = []
    stop = asyncio.Event()

    async def flood(session: aiohttp.ClientSession) -> None:
        sender = f"flood-{uuid.uuid4().hex[:8]}"
        while not stop.is_set():
            async with session.post(url, json={"sender": sender,
                                               "message": "woord " * 17_000}) as response:
                await response.read()

    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        floods = [asyncio.create_task(flood(session)) for _ in range(huge)]
        await asyncio.gather(*(_student(session, url, ["hoi"] * 5, latencies)
                               for _ in range(students)))
        stop.set()
        await asyncio.gather(*floods)
    return latencies


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        upgrade_database(env)
        servers = Servers(Path(tmp), env)
        started = time.perf_counter()
        servers.start()
        startup = time.perf_counter() - started
        try:
            url = f"{servers.rasa_url}/webhooks/rest/webhook"
            rows = []
            for name, messages in (("greeting only", ["hoi"] * len(CONVERSATION)),
                                   ("four-step conversation", CONVERSATION)):
                elapsed, latencies = asyncio.run(_load(url, messages, STUDENTS))
                rows.append([name, STUDENTS, len(latencies), len(latencies) / elapsed,
                             percentile(latencies, 50), percentile(latencies, 95)])
            print(f"servers started in {startup:.1f} s (Rasa + action server, SQLite)")
            print_table(["workload", "students", "messages", "msg/s", "p50 ms", "p95 ms"], rows)
            ratio = rows[1][3] / rows[0][3]
            print(f"conversation / greeting throughput ratio: {ratio:.2f}")
            # Issue 9: a 100 KB message must leave other students' latency unchanged.
            quiet: list[float] = []
            asyncio.run(_load(url, ["hoi"] * 5, 4))  # warm
            for _ in range(2):
                quiet += asyncio.run(_load(url, ["hoi"] * 5, 4))[1]
            busy = asyncio.run(_with_huge_messages(url, 4, 2))
            print_table(["greeting latency, 4 students", "p50 ms", "p95 ms"], [
                ["alone", percentile(quiet, 50), percentile(quiet, 95)],
                ["while 2 clients send 100 KB messages", percentile(busy, 50),
                 percentile(busy, 95)]])
        finally:
            servers.stop()
