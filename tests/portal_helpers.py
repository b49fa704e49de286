"""The portal as its own process (as `make run` starts it), for browser and HTTP-level tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bot.devservers import ROOT, free_port, wait_until_up


@contextmanager
def running_portal(env: dict[str, str], rasa_url: str, **extra: str) -> Iterator[str]:
    """`python -m bot.portal` talking to Rasa at `rasa_url` (extra: more environment);
    yields its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=ROOT,
                               env=dict(env, RASA_URL=rasa_url, **extra),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", [process], timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
