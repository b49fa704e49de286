"""Issue 9, with real Rasa and action servers: the open doors are closed (API token, action
server secret, sessions bound to their student, request shapes, message length), a crisis
is answered and no word is misplaced while the action server is down or hung, and
"verwijder mijn gegevens" really deletes, also from the tracker store, the spool and logs."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from bot.conversation.script import get_script
from bot.devservers import MODEL, Servers, http_json, isolated_env, upgrade_database
from bot.storage import models as m

LEVEL_QUESTION = get_script().key_of("niveau")  # the level question (its doel)

pytestmark = pytest.mark.rasa
SCRIPT = get_script()
EVEN_GEDULD = SCRIPT.text("even_geduld")
CRISIS = SCRIPT.signal_reply("crisis")


def _question(step: str, key: str) -> str:
    """The first line of a question's text, as the script has it."""
    question = next(q for q in SCRIPT.steps[step].questions if q.key == key)
    return SCRIPT.render(question.text, None)[0]


def _rows(servers: Servers, model: type, *where: object) -> list:
    engine = create_engine(servers.env["DATABASE_URL"])
    try:
        with DbSession(engine) as db:
            rows = db.execute(select(model).where(*where).order_by(model.id)).scalars().all()
            db.expunge_all()
            return rows
    finally:
        engine.dispose()


def _student_answers(servers: Servers, sender: str) -> list[str]:
    engine = create_engine(servers.env["DATABASE_URL"])
    try:
        with DbSession(engine) as db:
            return list(db.execute(
                select(m.Answer.text).join(m.Conversation).join(
                    m.ChannelIdentity, m.ChannelIdentity.student_id == m.Conversation.student_id)
                .where(m.ChannelIdentity.sender_id == sender).order_by(m.Answer.id)).scalars())
    finally:
        engine.dispose()


def _user_texts(servers: Servers, sender: str) -> list[str]:
    return [e.get("text") for e in servers.tracker(sender)["events"] if e["event"] == "user"]


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory, mailbox) -> Iterator[Servers]:
    """Servers of their own, whose action server these tests kill, stop and restart."""
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test`.")
    workdir = tmp_path_factory.mktemp("fragile")
    env = isolated_env(workdir)
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), ACTION_TIMEOUT_S="3",
               NOTIFY_FALLBACK_EMAIL="zorg@school.test", SMTP_FROM="coach@school.test")
    upgrade_database(env)
    servers = Servers(workdir, env)
    servers.start()
    yield servers
    servers.stop()


def _start_conversation(servers: Servers, sender: str) -> None:
    servers.say(sender, "hoi")
    assert _question("terugkijken", LEVEL_QUESTION) in servers.say(sender, "ja")
    assert _question("terugkijken", "ervaring") in servers.say(sender, "mbo")


# --- open doors --------------------------------------------------------------------------


def test_rasa_http_api_needs_the_token(servers, sender) -> None:
    servers.say(sender, "hoi")
    base = f"{servers.rasa_url}/conversations/{sender}"
    status, _ = servers.post(f"/conversations/{sender}/tracker/events",
                             json.dumps({"event": "slot", "name": "sessie_id",
                                         "value": "1"}).encode())
    assert status == 401
    for method, path in [("GET", f"{base}/tracker"), ("GET", f"{servers.rasa_url}/status"),
                         ("DELETE", f"{servers.rasa_url}/model")]:
        with pytest.raises(Exception, match="401"):
            http_json(method, path)
    assert servers.tracker(sender)["sender_id"] == sender  # with ?token=


def test_cors_only_for_the_portal_origin(servers) -> None:
    import urllib.request

    def allowed(origin: str) -> str | None:
        request = urllib.request.Request(f"{servers.rasa_url}/webhooks/rest/webhook",
                                         method="OPTIONS", headers={
                                             "Origin": origin,
                                             "Access-Control-Request-Method": "POST"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers.get("Access-Control-Allow-Origin")

    assert allowed("http://evil.example") in (None, "")
    assert allowed("http://localhost:8080") == "http://localhost:8080"


def test_action_server_refuses_calls_without_the_secret(servers, sender) -> None:
    import urllib.error
    import urllib.request

    body = json.dumps({"next_action": "action_gegevens_verwijderen", "sender_id": sender,
                       "tracker": {"sender_id": sender, "latest_message": {
                           "text": "ja", "intent": {"name": "bevestigen"}}},
                       "domain": {}}).encode()
    url = f"http://127.0.0.1:{servers.actions_port}/webhook"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{servers.actions_port}/health") as ok:
        assert ok.status == 200


def test_a_forged_session_slot_writes_nothing_into_another_students_session(servers) -> None:
    victim, intruder = f"victim-{uuid.uuid4().hex[:8]}", f"intruder-{uuid.uuid4().hex[:8]}"
    _start_conversation(servers, victim)
    servers.say(victim, "ik heb stage gelopen bij een bloemist")
    victim_session = _rows(servers, m.Conversation)[-1].id
    _start_conversation(servers, intruder)
    # Someone with the API token (a leaked token, a tool) points the intruder at the victim.
    http_json("POST", f"{servers.rasa_url}/conversations/{intruder}/tracker/events"
              f"?token={servers.token}",
              {"event": "slot", "name": "sessie_id", "value": str(victim_session)})
    replies = servers.say(intruder, "ik heb gewerkt in een garage met autos")
    assert SCRIPT.text("opslaan_mislukt")[0] in replies
    texts = [a.text for a in _rows(servers, m.Answer, m.Answer.session_id == victim_session)]
    assert "ik heb gewerkt in een garage met autos" not in texts
    assert "ik heb stage gelopen bij een bloemist" in texts


BAD_BODIES = [
    b"", b"   ", b"null", b"[]", b'["hoi"]', b'"hoi"', b"12", b"{kapot",
    b'{"message": "hoi"}', b'{"sender": "", "message": "hoi"}',
    b'{"sender": null, "message": "hoi"}', b'{"sender": 42, "message": "hoi"}',
    b'{"sender": {"id": "x"}, "message": "hoi"}', b'{"sender": ["a"], "message": "hoi"}',
    b'{"sender": "a b", "message": "hoi"}', b'{"sender": "' + b"x" * 200 + b'", "message": "h"}',
    b'{"sender": "s1"}', b'{"sender": "s1", "message": null}', b'{"sender": "s1", "message": 3}',
    b'{"sender": "s1", "message": ""}', b'{"sender": "s1", "message": "   "}',
    b'{"sender": "s1", "message": "hoi", "message_id": 5}', b"\xff\xfe\x00",
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_malformed_requests_get_a_clear_400(servers, body) -> None:
    status, answer = servers.post("/webhooks/rest/webhook", body)
    assert status == 400, (body, answer)
    assert json.loads(answer)["error"]


def test_no_request_ever_lands_in_a_shared_default_sender(servers) -> None:
    for body in BAD_BODIES:
        servers.post("/webhooks/rest/webhook", body)
    assert not [e for e in servers.tracker("default")["events"] if e["event"] == "user"]


def test_a_huge_message_gets_a_polite_reply_and_is_never_parsed(servers, sender) -> None:
    limit = 2000
    polite = SCRIPT.text("te_lang", max_tekens=limit)
    assert servers.say(sender, "woord " * 20_000) == polite  # 120 KB
    assert servers.say(sender, "a" * (limit + 1)) == polite
    assert _user_texts(servers, sender) == []  # nothing reached the NLU or the tracker
    assert servers.say(sender, "hoi")  # and the student just carries on


webhook_bodies = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"sender": st.one_of(st.text(max_size=140), st.integers(),
                                               st.none()),
                           "message": st.one_of(st.text(max_size=60), st.integers(),
                                                st.none(), st.lists(st.text(max_size=5)))},
                          optional={"message_id": st.one_of(st.text(max_size=70),
                                                            st.integers())})
    .map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=webhook_bodies)
def test_fuzzed_webhook_bodies_never_get_a_500(servers, body) -> None:
    status, answer = servers.post("/webhooks/rest/webhook", body)
    assert status in (200, 400), (status, body, answer)
    parsed = json.loads(answer)
    assert isinstance(parsed, list) if status == 200 else parsed["error"]


# --- faults ----------------------------------------------------------------------------------


def test_action_server_down_crisis_is_answered_and_flagged(fragile, mailbox) -> None:
    sender = f"down-{uuid.uuid4().hex[:8]}"
    _start_conversation(fragile, sender)
    fragile.stop_actions()
    try:
        started = time.monotonic()
        replies = fragile.say(sender, "ik wil niet meer leven")
        elapsed = time.monotonic() - started
        assert replies == CRISIS
        assert elapsed < 2.0, elapsed  # the promise to a student in crisis
        # an ordinary answer meanwhile: an apology, and not stored as an answer
        assert fragile.say(sender, "ik heb stage gelopen bij de bakker") == EVEN_GEDULD
    finally:
        fragile.start_actions()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not mailbox.to("zorg@school.test"):
        time.sleep(0.5)
    flags = [f for f in _rows(fragile, m.Flag, m.Flag.category == "crisis")
             if f.excerpt and "niet meer leven" in f.excerpt]
    assert flags and flags[0].severity == "urgent"
    assert mailbox.to("zorg@school.test"), "the mentor was not notified"
    # the conversation did not shift: the resent answer is the answer to the first question
    replies = fragile.say(sender, "ik heb stage gelopen bij de bakker")
    assert _question("terugkijken", "rol") in replies
    assert _student_answers(fragile, sender).count("ik heb stage gelopen bij de bakker") == 1


def test_hung_action_server_gets_a_polite_reply_and_no_duplicate(fragile) -> None:
    sender = f"hung-{uuid.uuid4().hex[:8]}"
    _start_conversation(fragile, sender)
    os.kill(fragile.actions.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        replies = fragile.say(sender, "ik werkte bij een supermarkt", message_id="retry-1")
        assert replies == EVEN_GEDULD
        assert time.monotonic() - started < 10  # ACTION_TIMEOUT_S=3, not Rasa's 5 minutes
        assert fragile.say(sender, "ik wil dood", message_id="crisis-1") == CRISIS
    finally:
        os.kill(fragile.actions.pid, signal.SIGCONT)
    time.sleep(1)  # the late calls now run and write
    # the student retries the same message (the web chat resends with the same id)
    replies = fragile.say(sender, "ik werkte bij een supermarkt", message_id="retry-1")
    assert _question("terugkijken", "rol") in replies
    assert _student_answers(fragile, sender).count("ik werkte bij een supermarkt") == 1
    assert _user_texts(fragile, sender).count("ik werkte bij een supermarkt") == 1


# --- deletion ------------------------------------------------------------------------------


def _files_containing(paths: list[Path], word: str) -> list[str]:
    found = []
    for path in paths:
        if path.exists() and word.encode() in path.read_bytes():
            found.append(path.name)
    return found


def test_deletion_really_deletes_under_concurrent_messages(fragile) -> None:
    import threading

    sender = f"wis-{uuid.uuid4().hex[:8]}"
    marker = f"zebra{uuid.uuid4().hex[:6]}bakkerij"
    _start_conversation(fragile, sender)
    fragile.say(sender, f"ik heb stage gelopen bij {marker}")
    fragile.say(sender, f"ik maakte broodjes bij {marker} en hielp klanten")
    assert SCRIPT.text("verwijderen_vraag")[0] in fragile.say(sender, "verwijder mijn gegevens")
    others: list[list[str]] = []

    def other_student() -> None:
        for _ in range(3):
            others.append(fragile.say(f"ander-{uuid.uuid4().hex[:6]}", "hoi"))

    def same_student_again() -> None:
        time.sleep(0.05)  # arrives while "ja" is being handled: waits for the lock
        fragile.say(sender, "oké doei")
        fragile.say(sender, "hallo?")

    threads = [threading.Thread(target=other_student), threading.Thread(target=same_student_again)]
    for thread in threads:
        thread.start()
    done = fragile.say(sender, "ja")
    assert done == SCRIPT.text("verwijderen_gedaan")
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pending = _rows(fragile, m.TrackerDeletion, m.TrackerDeletion.sender_id == sender)
        if pending and all(d.done_at for d in pending):
            break
        time.sleep(0.5)
    assert pending and all(d.done_at for d in pending)
    fragile.say(sender, "hoi")  # a later turn does not bring it back either
    assert all(marker not in (t or "") for t in _user_texts(fragile, sender))
    workdir = Path(fragile.env["DATABASE_URL"].removeprefix("sqlite:///")).parent
    stores = [workdir / n for n in ("app.db", "app.db-wal", "tracker.db", "tracker.db-journal",
                                    "spool.jsonl")]
    logs = [fragile.workdir / "servers.log"]
    assert _files_containing(stores + logs, marker) == []
    assert len(others) == 3 and all(others)


async def test_web_chat_keeps_the_text_when_the_coach_could_not_take_it_in(fragile,
                                                                           monkeypatch) -> None:
    from tests.test_portal import client

    c = await client(monkeypatch, fragile.rasa_url, fragile.env["DATABASE_URL"])
    sender = uuid.uuid4().hex
    try:
        r = await c.post("/chat/bericht", json={"afzender": sender, "bericht": "hoi"})
        assert (await r.json())["opnieuw_sturen"] is False
        fragile.stop_actions()
        r = await c.post("/chat/bericht", json={"afzender": sender, "bericht": "ja",
                                                "bericht_id": "m-1"})
        body = await r.json()
        assert body == {"antwoorden": EVEN_GEDULD, "opnieuw_sturen": True}
    finally:
        if fragile.actions is None:
            fragile.start_actions()
        await c.close()
