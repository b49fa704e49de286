"""bot.channels.channel_input and bot.rasa_plugins.action_server.authorised: the request checks,
without servers."""

from __future__ import annotations

import pytest

from bot.channels.channel_input import BadRequest, parse_rest_body, student_text
from bot.rasa_plugins.action_server import authorised


@pytest.mark.parametrize(("raw", "words"), [
    (b"", "Lege aanvraag"), (b"  \n", "Lege aanvraag"), (b"{kapot", "Geen geldige JSON"),
    (b"\xff\xfe", "Geen geldige JSON"), (b"null", "JSON-object"), (b"[1]", "JSON-object"),
    (b'"hoi"', "JSON-object"), (b'{"message": "hoi"}', "'sender'"),
    (b'{"sender": "", "message": "hoi"}', "'sender'"),
    (b'{"sender": 7, "message": "hoi"}', "'sender'"),
    (b'{"sender": {"a": 1}, "message": "hoi"}', "'sender'"),
    (b'{"sender": "met spatie", "message": "hoi"}', "1-128 tekens"),
    (b'{"sender": "s", "message": 1}', "'message'"),
    (b'{"sender": "s", "message": "  "}', "leeg"),
    (b'{"sender": "s", "message": "//"}', "leeg"),
    (b'{"sender": "s", "message": "hoi", "message_id": "a b"}', "'message_id'"),
])
def test_bad_bodies_are_refused_with_a_clear_message(raw: bytes, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        parse_rest_body(raw, max_chars=2000)


def test_a_good_body() -> None:
    got = parse_rest_body(b'{"sender": "@s:school.nl", "message": " hoi ", "message_id": "m-1"}',
                          max_chars=10)
    assert (got.sender, got.text, got.message_id, got.too_long) == (
        "@s:school.nl", "hoi", "m-1", False)


def test_text_over_the_limit_is_marked_and_not_kept() -> None:
    got = parse_rest_body(b'{"sender": "s", "message": "' + b"a" * 11 + b'"}', max_chars=10)
    assert got.too_long and got.text == ""


@pytest.mark.parametrize(("text", "expected"), [
    ("/signaal_crisis", "signaal_crisis"), ('/start_gesprek{"sessie_id": "5"}',
                                            'start_gesprek{"sessie_id": "5"}'),
    ("  ik wil / kan niet ", "ik wil / kan niet"),
])
def test_a_student_cannot_trigger_an_intent_by_name(text: str, expected: str) -> None:
    assert student_text(text) == expected


@pytest.mark.parametrize(("header", "ok"), [
    (None, False), ("", False), ("Bearer", False), ("Bearer ", False), ("bearer geheim", False),
    ("Basic geheim", False), ("Bearer geheim2", False), ("Bearer geheim", True),
])
def test_action_server_secret_check(header: str | None, ok: bool) -> None:
    assert authorised(header, "geheim") is ok
