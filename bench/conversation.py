"""Messages per second and latency over the REST channel: real Rasa + action server +
SQLite, with concurrent students, each in their own conversation."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from bench.table import percentile, print_table
from bot.devservers import Servers, isolated_env, upgrade_database

STUDENTS = 16
# One whole four-step conversation to the closing (terugkijken, reflecteren, vooruitkijken,
# activeren), with answers the coach accepts without probing, and "ja" to every "Klopt dat?".
# `expect`: a piece of the reply that shows the conversation advanced (None: any reply).
FULL_CONVERSATION: list[tuple[str, str | None]] = [
    ("hoi", "Zullen we beginnen?"),
    ("ja", "Welke ervaring wil je met me delen?"),
    ("ik heb stage gelopen bij een kapper", "Wat was jouw rol daar?"),
    ("ik waste haren en veegde de vloer", "Wat werd er van je verwacht?"),
    ("op tijd komen en klanten begroeten", "Welk moment is je het meest bijgebleven?"),
    ("toen ik zelf een klant mocht helpen", "Wat deed jij hierin heel goed?"),
    ("ik bleef rustig toen het druk was", "Hoe deed je dat?"),
    ("ik deed alles na elkaar", "Wat vond je leuk, of juist niet?"),
    ("klanten helpen vond ik leuk want ze zijn blij", "wat jij belangrijk vindt?"),
    ("dat mensen zich fijn voelen", "hoe noem je het dan?"),
    ("ik werk graag met mensen", "Klopt dat? Of mis ik iets?"),
    ("ja", "Wat wil je uitproberen of leren"),
    ("ik wil leren hoe je een planning maakt", "Wat heb je nodig om een keuze te maken"),
    ("meer weten over de opleiding kapper", "Wie kan jou hierbij helpen?"),
    ("ik app mijn oom, hij heeft een kapsalon", "Waar kun je tegenaan lopen?"),
    ("ik vind het spannend om te bellen", "Hoe kun jij dat oplossen?"),
    ("ik schrijf eerst op wat ik wil zeggen", "Noem een dag."),
    ("vrijdag", "Dan is je plan klaar."),
    ("ja", "Je hebt een plan!"),
    ("doei", "Tot de volgende keer."),
]
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
