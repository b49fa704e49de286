"""The Matrix channel against a real homeserver: Synapse on loopback (its own venv, made by
scripts/ensure_synapse.sh), real Rasa and action servers with the Matrix channel enabled, and
students who write to the coach's Matrix account from their own accounts."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.conversation.script import get_script
from bot.devservers import MODEL, Servers, isolated_env, upgrade_database
from bot.paths import ROOT
from bot.storage import models as m
from tests.matrix_support import SYNAPSE_PYTHON, Homeserver, Student
from tests.test_conversation import FULL, db, expected_closing, jobs_runner, joined

LEVEL_QUESTION = get_script().key_of("niveau")  # the level question (its doel)

pytestmark = pytest.mark.rasa
COACH = "loopbaancoach"


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    if not SYNAPSE_PYTHON.exists():
        reason = "Synapse is not installed: run scripts/ensure_synapse.sh (`make test` does)"
        if os.environ.get("LOOPBAANCOACH_REQUIRE_TOOLS", "") not in ("", "0"):
            pytest.fail(reason)
        pytest.skip(reason)
    hs = Homeserver(tmp_path_factory.mktemp("synapse"))
    hs.start()
    yield hs
    hs.stop()


@pytest.fixture(scope="module")
def coach(homeserver: Homeserver) -> str:
    return homeserver.register(COACH, "coach-wachtwoord-123")


def wait_synced(servers: Servers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{servers.rasa_url}/webhooks/matrix/", timeout=5) as r:
            if json.loads(r.read())["synced"]:
                return
        time.sleep(0.3)
    raise TimeoutError("the Matrix channel did not sync")


@pytest.fixture(scope="module")
def matrix_servers(tmp_path_factory: pytest.TempPathFactory, homeserver: Homeserver,
                   coach: str) -> Iterator[Servers]:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test` (it trains one).")
    workdir = tmp_path_factory.mktemp("matrix-servers")
    block = "bot.channels.matrix_channel.MatrixInput:"
    assert f"# {block}\n" in (ROOT / "credentials.yml").read_text(encoding="utf-8")
    credentials = Path(workdir) / "credentials.yml"  # as a school uncomments it
    credentials.write_text(f"bot.rasa_plugins.channels.RestChannel:\n{block}\n")
    env = isolated_env(workdir)
    env.update(MATRIX_HOMESERVER_URL=homeserver.url, MATRIX_USER_ID=coach,
               MATRIX_PASSWORD="coach-wachtwoord-123")
    upgrade_database(env)
    s = Servers(workdir, env, credentials=credentials)
    s.start()
    wait_synced(s)
    yield s
    s.stop()


def converse(student: Student, coach: str, steps: list[tuple[str, str]]) -> list[str]:
    last: list[str] = []
    for text, expected in steps:
        last = student.say(coach, text)
        assert expected in joined(last), (text, last)
    return last


def opening(student: Student, coach: str) -> None:
    assert "Zullen we beginnen" in joined(student.say(coach, "hoi"))
    level = get_script().render(get_script().question(LEVEL_QUESTION).text)[0]
    assert level in joined(student.say(coach, "ja"))  # nobody set this student's level
    assert "Welke ervaring" in joined(student.say(coach, "mbo"))


def finish(student: Student, coach: str) -> None:
    closing = student.say(coach, "ja klopt")
    assert closing == expected_closing(), closing


def user_texts(servers: Servers, sender: str) -> list[str]:
    return [e["text"] for e in servers.tracker(sender)["events"] if e["event"] == "user"]


def test_two_students_hold_a_full_conversation_at_once(matrix_servers, homeserver,
                                                        coach) -> None:
    """Each student opens a direct chat (the coach joins by itself) and holds the whole
    four-step conversation, both at the same time; the coach's answers come in order, each
    complete before the typing notice ends; Rasa's sender id is the Matrix user id."""
    students = [Student(homeserver), Student(homeserver)]

    def run(student: Student) -> None:
        student.open_chat(coach)
        opening(student, coach)
        converse(student, coach, FULL)
        finish(student, coach)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, students))
    for student in students:
        with db(matrix_servers) as s:
            identity = s.execute(select(m.ChannelIdentity).where(
                m.ChannelIdentity.sender_id == student.user_id)).scalar_one()
            assert identity.channel == "matrix"
            sessions = s.execute(select(m.Conversation).where(
                m.Conversation.student_id == identity.student_id)).scalars().all()
        assert [x.status for x in sessions] == ["completed"]
        texts = user_texts(matrix_servers, student.user_id)
        assert texts == ["hoi", "ja", "mbo"] + [t for t, _ in FULL] + ["ja klopt"]
        history = student.history(coach)
        assert [t for who, t in history if who == "student"] == texts
        assert history[0][0] == "student" and history[-1][0] == "coach"


def test_a_restart_of_the_bot_loses_nothing_and_answers_nothing_twice(
        matrix_servers, homeserver, coach) -> None:
    """Rasa stops in the middle of a conversation (once right after a message came in, once
    while the student writes during the downtime); after the restart the open message is
    answered once, and nothing said before is answered again."""
    student = Student(homeserver)
    student.open_chat(coach)
    opening(student, coach)
    converse(student, coach, FULL[:5])
    # A message arrives and Rasa is stopped at once: the turn finishes or is redone, once.
    student.send(FULL[5][0])
    matrix_servers.stop()
    matrix_servers.start()
    assert FULL[5][1] in joined(student.replies(coach))
    converse(student, coach, FULL[6:9])
    # The student writes while the coach is down.
    matrix_servers.stop()
    student.send(FULL[9][0])
    matrix_servers.start()
    assert FULL[9][1] in joined(student.replies(coach))
    converse(student, coach, FULL[10:])
    finish(student, coach)
    time.sleep(3)  # anything answered twice would come in now
    assert student.sync(timeout_ms=1000).get("timeline", {}).get("events", []) == []
    texts = user_texts(matrix_servers, student.user_id)
    assert texts == ["hoi", "ja", "mbo"] + [t for t, _ in FULL] + ["ja klopt"]
    history = student.history(coach)
    said = [t for who, t in history if who == "student"]
    assert said == texts
    # Every student message is followed by one block of coach messages, none repeated.
    blocks: list[tuple[str, ...]] = []
    for who, text in history:
        if who == "student":
            blocks.append(())
        elif blocks:
            blocks[-1] += (text,)
    assert all(blocks), blocks
    assert not [b for b in blocks if len(b) % 2 == 0 and b[:len(b) // 2] == b[len(b) // 2:]]


def test_the_bot_survives_a_homeserver_restart(matrix_servers, homeserver, coach) -> None:
    student = Student(homeserver)
    student.open_chat(coach)
    opening(student, coach)
    homeserver.stop()
    time.sleep(3)  # the coach's sync fails meanwhile and is retried
    homeserver.start()
    converse(student, coach, FULL[:2])


def test_the_coach_writes_first_on_the_plans_day(matrix_servers, homeserver, coach) -> None:
    """The check-in goes through Rasa's trigger_intent (output channel of the student's last
    channel): it arrives in the student's Matrix room at once, nothing waits in the database,
    and the student's answer is the plan's follow-up."""
    from bot.conversation.followups import LOCAL
    from bot.conversation.script import get_script

    script = get_script()
    student = Student(homeserver)
    student.open_chat(coach)
    opening(student, coach)
    converse(student, coach, FULL)
    finish(student, coach)
    with db(matrix_servers) as s:
        identity = s.execute(select(m.ChannelIdentity).where(
            m.ChannelIdentity.sender_id == student.user_id)).scalar_one()
        job = s.execute(select(m.Job).where(m.Job.student_id == identity.student_id,
                                            m.Job.kind == "checkin")).scalar_one()
        due = job.due_at.astimezone(LOCAL)
    assert "checkins_sent" in jobs_runner(matrix_servers)(due.strftime("%Y-%m-%dT%H:%M"))
    first = script.text("checkin_begin")[0]
    arrived = student.wait_for(coach, first)
    assert arrived[0] == first
    with db(matrix_servers) as s:
        assert s.execute(select(m.PendingMessage).where(
            m.PendingMessage.sender_id == student.user_id)).first() is None
    assert script.text("vorige_stap_gelukt")[0] in student.say(coach, "ja het is gelukt")


def test_group_rooms_and_encrypted_chats_are_declined(matrix_servers, homeserver,
                                                      coach) -> None:
    """The coach only talks in private, readable chats: an invitation to an encrypted chat
    or to a room that is not a direct chat is declined."""
    student = Student(homeserver)
    room = student.open_chat(coach, encrypted=True)
    group = student.api("POST", "/createRoom", {"preset": "private_chat", "invite": [coach],
                                                "name": "klas 3b"})["room_id"]
    deadline = time.monotonic() + 30
    left: set[str] = set()
    while time.monotonic() < deadline and left != {room, group}:
        for room_id in (room, group):
            members = student.api("GET", f"/rooms/{room_id}/members")["chunk"]
            if any(e["state_key"] == coach and e["content"]["membership"] == "leave"
                   for e in members):
                left.add(room_id)
        time.sleep(0.5)
    assert left == {room, group}


def test_only_a_students_typed_text_is_an_answer() -> None:
    """Edits, notices, files and encrypted events are not answered; a reply's quoted
    fallback is not part of the answer."""
    from bot.channels.matrix_channel import message_text

    def event(**content: object) -> dict:
        return {"type": "m.room.message", "content": content}

    assert message_text(event(msgtype="m.text", body="  ik liep stage  ")) == "ik liep stage"
    assert message_text(event(msgtype="m.text", body="> <@coach:school.test> Klopt dat?\n"
                                                     "> echt?\n\nja klopt")) == "ja klopt"
    assert message_text(event(msgtype="m.text", body="* ja", **{
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}})) is None
    assert message_text(event(msgtype="m.notice", body="bot")) is None
    assert message_text(event(msgtype="m.image", body="foto.jpg")) is None
    assert message_text({"type": "m.room.encrypted", "content": {"ciphertext": "x"}}) is None


def test_the_state_file_survives_and_belongs_to_one_account(tmp_path: Path) -> None:
    from bot.channels.matrix_channel import MatrixState

    path = tmp_path / "matrix_state.json"
    first = MatrixState.load(path, "@coach:school.test")
    assert first.since is None and first.started_at > 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    first.since, first.done, first.rooms = "s1", ["$a"], {"@l:school.test": "!r:school.test"}
    first.save()
    again = MatrixState.load(path, "@coach:school.test")
    assert (again.since, again.done, again.rooms, again.started_at) == (
        "s1", ["$a"], {"@l:school.test": "!r:school.test"}, first.started_at)
    other = MatrixState.load(path, "@ander:school.test")  # another account: from scratch
    assert other.since is None and other.rooms == {}
