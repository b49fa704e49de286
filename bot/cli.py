"""The `bot` command: one entry point for operators and developers.

Subcommands are implemented in their own modules and imported lazily, so that
`bot --help` stays fast and a broken optional part does not break the others."""

from __future__ import annotations

import argparse
import importlib
import sys

# command path -> (module, function, help). Each function takes argv (list[str]) and
# returns an exit code.
COMMANDS: dict[tuple[str, ...], tuple[str, str, str]] = {
    ("run",): ("bot.launcher", "main", "start Rasa, the action server and the portal"),
    ("script", "validate"): ("bot.conversation.script", "validate_main",
                           "validate the conversation script"),
    ("eval", "signals"): ("bot.text.signals_eval", "main", "recall/precision of the flag detector"),
    ("signals", "tune"): ("bot.text.signals_tune", "main",
                          "choose the signal model's thresholds by cross-validation"),
    ("eval", "competencies"): ("bot.text.competencies_eval", "main", "accuracy of classify()"),
    ("eval", "gesprekken"): ("bot.rubric_eval", "main",
                             "hold the evaluation conversations and score them (rubric)"),
    ("db", "upgrade"): ("bot.storage.migrate", "upgrade_main", "migrate the database to head"),
    ("summary",): ("bot.conversation.summaries", "main",
                  "LOB-cv and latest session summary of a student"),
    ("secrets",): ("bot.config", "secrets_main",
                   "create Rasa's API token and the action-server secret (var/)"),
    ("jobs",): ("bot.scheduled.jobs", "main",
               "run the scheduled jobs once (abandoned sessions, e-mail)"),
    ("jobs", "run"): ("bot.scheduled.jobs", "run_main",
                      "run every job due at --now (default: now) once"),
    ("worker",): ("bot.scheduled.worker", "main",
                 "run background jobs until stopped (make run starts it)"),
    ("users", "add"): ("bot.users", "add_main", "create a mentor or coordinator login"),
    ("users", "reset-password"): ("bot.users", "reset_main",
                                  "give a portal login a new password"),
    ("users", "token"): ("bot.users", "token_main", "create an API token for /api/v1/"),
    ("demo",): ("bot.demo", "main", "fill the database with a demo school (make demo)"),
}


def _usage() -> str:
    lines = ["usage: bot <command> [options]", "", "commands:"]
    for path, (_, _, help_text) in COMMANDS.items():
        lines.append(f"  {' '.join(path):<22} {help_text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for length in (2, 1):
        key = tuple(argv[:length])
        if key in COMMANDS:
            module_name, func_name, _ = COMMANDS[key]
            func = getattr(importlib.import_module(module_name), func_name)
            return int(func(argv[length:]) or 0)
    parser = argparse.ArgumentParser(prog="bot", usage=_usage())
    parser.print_usage(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
