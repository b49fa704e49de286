"""Scale-out (PRODUCT.md §9): two Rasa processes sharing a PostgreSQL tracker store and a
Redis lock store, one action server, application data in PostgreSQL. A student's messages
alternate between the two processes and the conversation carries on as one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.conversation.script import Script, get_script
from bot.devservers import MODEL, Servers, isolated_env, upgrade_database
from bot.paths import ROOT
from tests.conftest import service_missing
from tests.support.private_services import PrivatePostgres, PrivateRedis, ServiceUnavailable
from tests.test_conversation import ROLE_QUESTION

LEVEL_QUESTION = get_script().key_of("niveau")  # the level question (its doel)

pytestmark = [pytest.mark.rasa, pytest.mark.postgres, pytest.mark.redis]
PG = os.environ.get("DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/5")


def _create_db(name: str) -> str:
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG).set(database=name).render_as_string(hide_password=False)


def _drop_db(name: str) -> None:
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test`.")
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS}", exc)
    suffix = uuid.uuid4().hex[:8]
    names = [f"lbc_app_{suffix}", f"lbc_tracker_{suffix}"]
    try:
        app_url, tracker_url = (_create_db(n) for n in names)
    except Exception as exc:
        service_missing(f"PostgreSQL at {PG}", exc)
    env = isolated_env(tmp_path_factory.mktemp("cluster"))
    env.update(DATABASE_URL=app_url, TRACKER_STORE_URL=tracker_url, REDIS_URL=REDIS)
    upgrade_database(env)
    servers = Servers(tmp_path_factory.mktemp("cluster-logs"), env, rasa_instances=2)
    servers.start()
    yield servers
    servers.stop()
    for name in names:
        _drop_db(name)


def test_conversation_moves_between_rasa_processes(cluster: Servers) -> None:
    sender = f"scale-{uuid.uuid4().hex[:8]}"
    assert "Zullen we beginnen" in "\n".join(cluster.say(sender, "hoi", instance=0))
    assert "Zit je op het vmbo" in "\n".join(cluster.say(sender, "ja", instance=1))
    assert "Welke ervaring" in "\n".join(cluster.say(sender, "mbo", instance=0))
    replies = cluster.say(sender, "ik heb stage gelopen bij een kapper", instance=0)
    assert ROLE_QUESTION in "\n".join(replies)
    replies = cluster.say(sender, "ik waste haren", instance=1)
    assert "Wat werd er van je verwacht" in "\n".join(replies)
    engine = create_engine(cluster.env["TRACKER_STORE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"),
                              {"s": sender}).scalar_one()
    engine.dispose()
    assert stored > 10
    with create_engine(cluster.env["DATABASE_URL"]).connect() as conn:
        answers = conn.execute(text("SELECT question_key FROM answers ORDER BY id")).scalars()
        assert list(answers) == ["ervaring", "rol"]


def test_full_conversation_on_postgresql(cluster: Servers) -> None:
    """The whole four-step conversation, alternating between the Rasa processes, leaves its
    answers, insights, plan and summary in PostgreSQL."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session as DbSession

    from bot.storage import models as m
    from tests.test_conversation import FULL, assert_summary, expected_closing

    sender = f"scale-{uuid.uuid4().hex[:8]}"
    cluster.say(sender, "hoi", instance=0)
    cluster.say(sender, "ja", instance=1)
    cluster.say(sender, "mbo", instance=0)  # the level: nobody set it
    for n, (message, expected) in enumerate(FULL):
        assert expected in "\n".join(cluster.say(sender, message, instance=n % 2)), message
    assert cluster.say(sender, "ja klopt", instance=0) == expected_closing()
    url = cluster.env["DATABASE_URL"]
    with DbSession(create_engine(url)) as s:
        identity = s.execute(select(m.ChannelIdentity)
                             .where(m.ChannelIdentity.sender_id == sender)).scalar_one()
        session = s.execute(select(m.Conversation)
                            .where(m.Conversation.student_id == identity.student_id)).scalar_one()
        assert session.status == "completed"
        answers = s.execute(select(m.Answer).where(m.Answer.session_id == session.id)
                            ).scalars().all()
        assert {a.question_key for a in answers} >= {"ervaring", "inzicht_naam", "wanneer"}
        insights = s.execute(select(m.Insight).where(m.Insight.session_id == session.id)
                             ).scalars().all()
        assert insights and all(i.competency for i in insights)
        plan = s.execute(select(m.ActionPlan).where(m.ActionPlan.session_id == session.id)
                         ).scalar_one()
        assert plan.when_date is not None
        session_id = session.id
    assert_summary(url, session_id)


def test_redis_lock_store_is_used(cluster: Servers) -> None:
    from bot.rasa_plugins.stores import EnvLockStore

    os.environ["REDIS_URL"] = REDIS
    try:
        store = EnvLockStore()
    finally:
        del os.environ["REDIS_URL"]
    assert type(store).__name__ == "RedisLockStore"
    store.red.ping()


# --- issue 9: restarting PostgreSQL and Redis during a conversation ------------------------
#
# These servers are private (tests.support.private_services): their own PostgreSQL cluster
# and Redis on free ports, so stopping them touches nothing else on the machine.

TURNS = 13  # answers from tests.test_conversation.FULL to give after "hoi" and "ja"


@dataclass
class PrivateCluster:
    servers: Servers
    postgres: PrivatePostgres
    redis: PrivateRedis


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[PrivateCluster]:
    """A private PostgreSQL (application and tracker database), a private Redis (lock
    store), two Rasa processes and one action server."""
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test`.")
    with ExitStack() as stack:
        try:
            postgres = stack.enter_context(PrivatePostgres())
            cache = stack.enter_context(PrivateRedis())
        except ServiceUnavailable as exc:
            service_missing("a private PostgreSQL or Redis", exc)
        data = tmp_path / "data"
        data.mkdir()
        env = isolated_env(data)
        env.update(DATABASE_URL=postgres.create_database("lbc_app"),
                   TRACKER_STORE_URL=postgres.create_database("lbc_tracker"),
                   REDIS_URL=cache.url(5))
        upgrade_database(env)
        servers = Servers(tmp_path, env, rasa_instances=2)
        stack.callback(servers.stop)
        servers.start()
        yield PrivateCluster(servers, postgres, cache)


@dataclass
class Attempt:
    instance: int  # the Rasa process that got the message
    text: str
    replies: list[str]
    accepted: bool  # False: the bot answered even_geduld (not saved, please resend)


@dataclass
class Student:
    """Sends each message to the next Rasa process in turn (a load balancer's round robin)
    and, like a real student, sends a message again when the bot says it was not saved."""

    servers: Servers
    sender: str
    busy: list[str]  # the script's even_geduld lines
    sent: list[Attempt] = field(default_factory=list)

    def send(self, text: str) -> tuple[list[str], bool]:
        """One attempt: the replies, and whether the message was accepted."""
        instance = len(self.sent) % self.servers.rasa_instances
        try:
            replies = self.servers.say(self.sender, text, instance=instance)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"HTTP {exc.code} to {text!r} from Rasa {instance} (see "
                                 f"{self.servers.workdir / 'servers.log'})\n"
                                 f"{self.transcript()}") from exc
        accepted = not all(line in replies for line in self.busy)
        self.sent.append(Attempt(instance, text, replies, accepted))
        assert replies, f"no reply at all to {text!r} from Rasa {instance}\n{self.transcript()}"
        return replies, accepted

    def say(self, text: str, attempts: int = 10) -> list[str]:
        """Send `text` until it is accepted; the replies to the accepted attempt."""
        for _ in range(attempts):
            replies, accepted = self.send(text)
            if accepted:
                return replies
            time.sleep(0.3)
        raise AssertionError(f"{text!r} was still not accepted after {attempts} attempts\n"
                             f"{self.transcript()}")

    @property
    def accepted(self) -> list[str]:
        return [attempt.text for attempt in self.sent if attempt.accepted]

    def transcript(self) -> str:
        return "\n".join(
            f"[rasa {a.instance}] > {a.text}" + "".join(f"\n    < {r}" for r in a.replies)
            for a in self.sent)


def _slots(script: Script, messages: list[str]) -> list[str]:
    """The slots a new student fills with `messages`, in order: each step's questions, then
    its check (when the step has one), as the forms ask them - which questions come depends on
    the answers (a visit or work, a reason given or not:
    bot.conversation.coaching.answer_context)."""
    from bot.conversation.coaching import answer_context, required_slots

    filled: dict[str, str] = {}
    order: list[str] = []
    answers = iter([*messages, *["ja"] * 40])
    for step in script.steps:
        while True:
            wanted = required_slots(script, step, answer_context(script, filled))
            todo = [slot for slot in wanted if slot not in filled]
            if not todo:
                break
            filled[todo[0]] = next(answers)
            order.append(todo[0])
    return order


def _prompt(script: Script, slot: str) -> str:
    """The last line the bot says when it asks for `slot` (default level)."""
    step = script.step_of_slot(slot)
    assert step is not None, slot
    if slot == step.check_slot():
        return script.render(step.summary_question)[-1]
    return script.render(script.question(slot).text)[-1]


def _replay_spool_as_the_jobs_do(env: dict[str, str]) -> int:
    """What the scheduled jobs do (bot.scheduled.jobs.run_due): store the spooled writes."""
    done = subprocess.run(
        [sys.executable, "-c", "from bot import service; print(service.replay_spool())"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def test_restarting_postgresql_and_redis_loses_nothing(private_cluster: PrivateCluster
                                                       ) -> None:
    """Issue 9: PostgreSQL and Redis are stopped and started again during a conversation on
    the scale-out set-up. The student resends what the bot did not accept; every answer is
    stored once, in order, and the conversation carries on where it was."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session as DbSession

    from bot.storage import models as m
    from tests.test_conversation import FULL

    servers, postgres, cache = (private_cluster.servers, private_cluster.postgres,
                                private_cluster.redis)
    script = get_script()
    messages = [message for message, _ in FULL][:TURNS]
    slots = _slots(script, [message for message, _ in FULL])
    student = Student(servers, f"restart-{uuid.uuid4().hex[:8]}", script.text("even_geduld"))
    outages: list[str] = []

    def outage(name: str, stop: Callable[[], None], start: Callable[[], None],
               message: str) -> list[str]:
        """Stop a service, send `message`, start the service; resend until accepted."""
        stop()
        replies, accepted = student.send(message)  # even_geduld, or a normal answer
        start()
        outages.append(f"{name}: {'accepted' if accepted else 'even_geduld'}")
        return replies if accepted else student.say(message)

    def quick_restart(name: str, restart: Callable[[], None], message: str) -> list[str]:
        """Restart a service between two messages: clients hold dropped connections."""
        restart()
        outages.append(f"{name} restarted")
        return student.say(message)

    assert script.text("aanbod_nieuw")[-1] in student.say("hoi")
    assert _prompt(script, LEVEL_QUESTION) in student.say("ja")  # nobody set the level
    assert _prompt(script, slots[0]) in student.say("mbo")
    for n, message in enumerate(messages):
        if n == 2:
            replies = outage("postgresql down", postgres.stop, postgres.start, message)
        elif n == 5:
            replies = outage("redis down", cache.stop, cache.start, message)
        elif n == 9:
            replies = quick_restart("postgresql", postgres.restart, message)
        elif n == 12:
            replies = quick_restart("redis", cache.restart, message)
        else:
            replies = student.say(message)
        assert _prompt(script, slots[n + 1]) in replies, (
            f"answer {n} ({slots[n]}) did not lead to {slots[n + 1]}:\n{student.transcript()}"
            f"\n{'; '.join(outages)}")

    expected_user = ["hoi", "ja", "mbo", *messages]
    assert student.accepted == expected_user, student.transcript()
    resent = len(student.sent) - len(expected_user)

    # Writes the action server had to spool are stored by the scheduled jobs.
    spool_file = Path(servers.env["SPOOL_FILE"])
    replayed = _replay_spool_as_the_jobs_do(servers.env) if spool_file.exists() else 0
    assert not spool_file.exists() or not spool_file.read_text().strip(), "spool not replayed"
    rejected = spool_file.with_suffix(".rejected.jsonl")
    assert not rejected.exists(), rejected.read_text()

    # Rasa's tracker: every accepted message once, in order.
    events = servers.tracker(student.sender)["events"]
    user = [e for e in events if e["event"] == "user"]
    assert [e["text"] for e in user] == expected_user, student.transcript()
    ids = [e.get("message_id") for e in user]
    assert len(set(ids)) == len(ids), ids

    # The application database: every answer once, in the order given.
    checks = {step.check_slot() for step in script.steps.values()}
    expected_answers = [(slot, "answer", message)
                        for slot, message in zip(slots[:TURNS], messages, strict=True)
                        if slot not in checks]
    last_step = script.step_of_slot(slots[TURNS])
    assert last_step is not None
    engine = create_engine(servers.env["DATABASE_URL"])
    with DbSession(engine) as db:
        identity = db.execute(select(m.ChannelIdentity)
                              .where(m.ChannelIdentity.sender_id == student.sender)
                              ).scalar_one()
        session = db.execute(select(m.Conversation)
                             .where(m.Conversation.student_id == identity.student_id)).scalar_one()
        answers = db.execute(select(m.Answer).where(m.Answer.session_id == session.id)
                             .order_by(m.Answer.id)).scalars().all()
        assert [(a.question_key, a.kind, a.text) for a in answers] == expected_answers, (
            student.transcript())
        assert session.status == "active"
        assert session.step_reached == last_step.key
    engine.dispose()
    print(f"\nissue 9: {len(student.sent)} messages sent, {resent} resent, spool replayed "
          f"{replayed}; {'; '.join(outages)}")


def test_a_crisis_while_postgresql_is_down_is_answered_and_flagged_later(
        private_cluster: PrivateCluster) -> None:
    """Issue 9: with both databases down, a crisis message still gets the crisis reply with
    the help numbers; its flag is spooled and stored once the database is back."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session as DbSession

    from bot.storage import models as m

    servers, postgres = private_cluster.servers, private_cluster.postgres
    script = get_script()
    sender = f"crisis-down-{uuid.uuid4().hex[:8]}"
    postgres.stop()
    try:
        assert servers.say(sender, "ik wil niet meer leven", instance=1) == (
            script.signal_reply("crisis"))
    finally:
        postgres.start()
    deadline = time.monotonic() + 20
    spool_file = Path(servers.env["SPOOL_FILE"])
    while time.monotonic() < deadline and not spool_file.exists():
        time.sleep(0.2)  # the flag is written in a thread, after the reply
    _replay_spool_as_the_jobs_do(servers.env)
    engine = create_engine(servers.env["DATABASE_URL"])
    try:
        with DbSession(engine) as db:
            flags = db.execute(
                select(m.Flag).join(m.ChannelIdentity,
                                    m.ChannelIdentity.student_id == m.Flag.student_id)
                .where(m.ChannelIdentity.sender_id == sender)).scalars().all()
            assert [(f.category, f.severity, f.excerpt) for f in flags] == [
                ("crisis", "urgent", "ik wil niet meer leven")]
    finally:
        engine.dispose()
