"""bot.rasa_plugins.log_privacy: Rasa's structured events and DEBUG lines never carry a student's
words."""

from __future__ import annotations

import logging

import structlog

from bot.rasa_plugins import log_privacy


def test_structlog_events_are_blanked_and_rasa_debug_is_dropped(caplog) -> None:
    seen: list[dict] = []

    def capture(_logger, _name, event_dict):  # noqa: ANN001, ANN202
        seen.append(dict(event_dict))
        raise structlog.DropEvent

    old = structlog.get_config()
    structlog.configure(processors=[capture])
    log_privacy._installed = False
    try:
        log_privacy.install()
        structlog.get_logger().error("rest.message.received.failure",
                                     text="ik wil dood", parse_data_text="ik wil dood", n=3)
        assert seen == [{"event": "rest.message.received.failure", "text": "[verborgen]",
                         "parse_data_text": "[verborgen]", "n": 3}]
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("rasa.core.processor").debug("Received user message 'geheim'")
            logging.getLogger("rasa.core.processor").info("an info line")
            logging.getLogger("bot.something").debug("our own debug line")
        messages = [r.getMessage() for r in caplog.records]
        assert "Received user message 'geheim'" not in messages
        assert "an info line" in messages and "our own debug line" in messages
    finally:
        structlog.configure(**old)
        for target in (logging.getLogger(), *logging.getLogger().handlers,
                       logging.getLogger("rasa"), logging.getLogger("rasa_sdk")):
            for f in [f for f in target.filters if isinstance(f, log_privacy.DropRasaDebug)]:
                target.removeFilter(f)
        log_privacy._installed = False
