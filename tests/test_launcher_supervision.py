"""The launcher's supervision round, with real child processes: a crashed process is
restarted after a growing backoff, and the status file says so."""

from __future__ import annotations

import json
import sys

from bot import launcher


def _service(tmp_path, code: str) -> launcher.Service:
    return launcher.Service("demo", [sys.executable, "-c", code], "http://127.0.0.1:9/none")


def test_a_crashed_process_is_restarted_with_backoff(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    monkeypatch.setenv("LOOPBAANCOACH_VAR", str(tmp_path))
    (tmp_path / "log").mkdir()
    service = _service(tmp_path, "print('opstarten'); print('fout: poort bezet'); "
                                 "raise SystemExit(3)")
    launcher._spawn(service, {})
    service.process.wait()
    said = launcher.supervise_once([service], {}, now=service.started_at + 1)
    assert service.state == "restarting" and service.last_exit == 3
    assert "restarting in 1s" in said[0]
    assert said[1].strip() == "fout: poort bezet"  # why it stopped, from its log
    assert launcher.supervise_once([service], {}, now=service.started_at + 1.5) == []
    said = launcher.supervise_once([service], {}, now=service.started_at + 2.1)
    assert said == ["==> restarting demo (restart 1)"] and service.restarts == 1
    service.process.wait()
    said = launcher.supervise_once([service], {}, now=service.started_at + 1)
    assert "restarting in 2s" in said[0]  # the second crash in a row waits longer
    launcher.write_status([service])
    status = json.loads(launcher.status_file().read_text())
    assert status["demo"]["restarts"] == 1 and status["demo"]["last_exit"] == 3


def test_a_process_that_stayed_up_starts_the_backoff_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    (tmp_path / "log").mkdir()
    service = _service(tmp_path, "raise SystemExit(1)")
    service.crashes_in_a_row = 4
    launcher._spawn(service, {})
    service.process.wait()
    said = launcher.supervise_once([service], {},
                                   now=service.started_at + launcher.STABLE_AFTER_S + 1)
    assert "restarting in 1s" in said[0]


def test_rasa_takes_a_token_that_begins_with_a_dash(monkeypatch) -> None:
    """A generated token may begin with "-" (it did in CI: Rasa exited with a usage error at
    every restart); Rasa's own argument parser reads it whole."""
    from rasa.__main__ import create_argument_parser

    from bot.config import settings
    from bot.processes import rasa_argv

    monkeypatch.setenv("RASA_API_TOKEN", "-Ab3_x-9")
    monkeypatch.setenv("PORTAL_ORIGIN", "http://localhost:8080")
    args = create_argument_parser().parse_args(rasa_argv(settings(), 5005)[1:])
    assert args.auth_token == "-Ab3_x-9" and args.port == 5005


def test_a_generated_secret_is_safe_on_a_command_line(tmp_path, monkeypatch) -> None:
    from bot.config import secret

    monkeypatch.setenv("LOOPBAANCOACH_VAR", str(tmp_path))
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    token = secret("RASA_API_TOKEN", "rasa_api_token")
    assert len(token) >= 32 and token.isalnum()
    assert secret("RASA_API_TOKEN", "rasa_api_token") == token  # kept in var/
