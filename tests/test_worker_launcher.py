"""The worker under `make run`'s launcher: it is one of the supervised processes, has no HTTP
health check (it is up once it stays alive), and is restarted when it crashes."""

from __future__ import annotations

import sys

from bot import launcher
from bot.config import settings
from bot.processes import worker_argv


def test_make_run_starts_the_worker() -> None:
    by_name = {s.name: s for s in launcher.services()}
    assert set(by_name) == {"actions", "rasa", "portal", "worker"}
    assert by_name["worker"].argv == worker_argv(settings())
    assert by_name["worker"].argv[-2:] == ["bot.cli", "worker"]
    assert by_name["worker"].health_url is None


def test_a_process_without_health_url_is_up_once_it_stays_alive(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    (tmp_path / "log").mkdir()
    service = launcher.Service("worker", [sys.executable, "-c", "import time; time.sleep(30)"],
                               None)
    launcher._spawn(service, {})
    try:
        assert launcher.supervise_once([service], {}, now=service.started_at + 0.5) == []
        assert service.state == "starting"
        said = launcher.supervise_once([service], {},
                                       now=service.started_at + launcher.ALIVE_AFTER_S)
        assert service.state == "up" and said == ["    worker is up (2s)"]
    finally:
        launcher.stop([service], grace_s=5)


def test_a_crashed_worker_is_restarted(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    (tmp_path / "log").mkdir()
    service = launcher.Service("worker", [sys.executable, "-c", "raise SystemExit(2)"], None)
    launcher._spawn(service, {})
    service.process.wait()
    said = launcher.supervise_once([service], {}, now=service.started_at + 5)
    assert service.state == "restarting" and "worker stopped (exit 2)" in said[0]
