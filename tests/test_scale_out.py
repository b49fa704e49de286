"""Scale-out (PRODUCT.md §9): two Rasa processes sharing a PostgreSQL tracker store and a
Redis lock store, one action server, application data in PostgreSQL. A student's messages
alternate between the two processes and the conversation carries on as one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.devservers import MODEL, Servers, isolated_env, upgrade_database
from tests.conftest import service_missing

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
    assert "Welke ervaring" in "\n".join(cluster.say(sender, "ja", instance=1))
    replies = cluster.say(sender, "ik heb stage gelopen bij een kapper", instance=0)
    assert "Wat was jouw rol" in "\n".join(replies)
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
    from tests.test_conversation import FULL, assert_summary

    sender = f"scale-{uuid.uuid4().hex[:8]}"
    cluster.say(sender, "hoi", instance=0)
    cluster.say(sender, "ja", instance=1)
    for n, (message, expected) in enumerate(FULL):
        assert expected in "\n".join(cluster.say(sender, message, instance=n % 2)), message
    assert "Je hebt een plan" in "\n".join(cluster.say(sender, "ja klopt", instance=0))
    url = cluster.env["DATABASE_URL"]
    with DbSession(create_engine(url)) as s:
        identity = s.execute(select(m.ChannelIdentity)
                             .where(m.ChannelIdentity.sender_id == sender)).scalar_one()
        session = s.execute(select(m.Session)
                            .where(m.Session.student_id == identity.student_id)).scalar_one()
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
    from bot.rasa_stores import EnvLockStore

    os.environ["REDIS_URL"] = REDIS
    try:
        store = EnvLockStore()
    finally:
        del os.environ["REDIS_URL"]
    assert type(store).__name__ == "RedisLockStore"
    store.red.ping()
