"""bot.service, the repository's main caller, end to end on a real database: the storage API
must fit its calls exactly, including replays from the spool."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import service
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import ActionPlan, Answer, Conversation, Flag, Insight


@pytest.fixture
def svc(storage: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPOOL_FILE", str(tmp_path / "spool.jsonl"))
    return storage


def _count(model, *where) -> int:
    with dbmod.session_scope() as db:
        return db.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _reply(session_id: int, **kw) -> bool:
    args = dict(channel="rest", sender_id="u1", session_id=session_id, step="terugkijken",
                question_key="ervaring", text="ik liep stage bij de bakker", kind="answer",
                message_id="m1")
    args.update(kw)
    args["experience"] = args["question_key"] == "ervaring"  # its question's doel
    return service.save_reply(**args)


def test_a_whole_conversation(svc: str) -> None:
    view = service.student_view("rest", "u1")
    assert view.first_time and view.open_session_id is None and view.open_plan is None

    sid = service.start_session("rest", "u1", "vmbo")
    assert service.student_view("rest", "u1").open_session_id == sid
    assert _reply(sid)
    assert _reply(sid)  # a replayed write stores nothing new
    assert _count(Answer) == 1
    assert _reply(sid, step="reflecteren", question_key="kwaliteit", text="Geduldig",
                  message_id="m2", competencies=["kwaliteiten", "motieven"], method="rules",
                  headline=True)
    assert _reply(sid, step="reflecteren", question_key="kwaliteit", text="Geduldig",
                  message_id="m2", competencies=["kwaliteiten", "motieven"], method="rules",
                  headline=True)
    assert _count(Insight) == 2
    assert service.overview("rest", "u1") == [("kwaliteiten", "Geduldig")]

    signals = [{"category": "financien", "severity": "attention", "evidence": "geen geld"}]
    assert service.save_flags(channel="rest", sender_id="u1", session_id=sid, signals=signals,
                              text="ik heb geen geld voor schoenen", message_id="m3")
    assert service.save_flags(channel="rest", sender_id="u1", session_id=sid, signals=signals,
                              text="ik heb geen geld voor schoenen", message_id="m3")
    assert _count(Flag) == 1
    assert service.decline_contact(channel="rest", sender_id="u1", message_id="m4")
    assert _count(Flag, Flag.student_declined.is_(True)) == 1

    assert service.set_status(channel="rest", sender_id="u1", session_id=sid, status="paused")
    assert service.set_status(channel="rest", sender_id="u1", session_id=sid, status="active",
                              step="vooruitkijken")
    plan = {"what": "bellen met de bakker", "who": "ik", "how": "telefoon",
            "when_text": "maandag", "when_date": "2026-12-01", "obstacle": None,
            "solution": None}
    assert service.complete_session(channel="rest", sender_id="u1", session_id=sid, plan=plan)
    assert service.complete_session(channel="rest", sender_id="u1", session_id=sid, plan=plan)
    assert _count(ActionPlan) == 1

    view = service.student_view("rest", "u1")
    assert not view.first_time and view.open_session_id is None
    assert view.previous_experience == "ik liep stage bij de bakker"
    assert view.open_plan == "bellen met de bakker" and view.open_plan_id is not None

    # next conversation: follow-up of the plan
    sid2 = service.start_session("rest", "u1", None)
    assert _reply(sid2, question_key="vorige_stap", text="ja gelukt", kind="followup",
                  message_id="m5", followup_status="gelukt")
    assert _reply(sid2, question_key="vorige_stap", text="ja gelukt", kind="followup",
                  message_id="m5", followup_status="gelukt")
    assert service.student_view("rest", "u1").open_plan is None
    with dbmod.session_scope() as db:
        stored = db.execute(select(ActionPlan)).scalar_one()
        assert stored.followup_status == "gelukt" and stored.followup_text == "ja gelukt"

    counts = service.delete_student("rest", "u1")
    assert counts["answers"] == 3 and counts["sessions"] == 2
    assert service.student_view("rest", "u1").first_time


def test_start_session_abandons_the_unfinished_one(svc: str) -> None:
    first = service.start_session("rest", "u1", "mbo-bbl")
    second = service.start_session("rest", "u1", None)
    with dbmod.session_scope() as db:
        assert repo.get_session(db, first).status == "abandoned"
        assert repo.get_session(db, second).status == "active"


def test_abandon_stale_sessions_flags_afgehaakt(svc: str) -> None:
    sid = service.start_session("rest", "u1", "vmbo")
    assert _reply(sid, step="reflecteren")
    assert service.abandon_stale_sessions(timedelta(seconds=-1)) == 1
    assert service.abandon_stale_sessions(timedelta(seconds=-1)) == 0
    with dbmod.session_scope() as db:
        flag = db.execute(select(Flag)).scalar_one()
        assert flag.category == "afgehaakt" and flag.severity == "info"
        assert flag.evidence == "gestopt bij stap reflecteren"
        assert db.execute(select(Conversation.status)).scalar_one() == "abandoned"


def test_repeated_skips_raise_one_afgehaakt_flag(svc: str) -> None:
    sid = service.start_session("rest", "u1", "vmbo")
    for n in range(service.SKIPS_BEFORE_FLAG + 1):
        assert _reply(sid, question_key=f"vraag{n}", text="weet niet", kind="skip",
                      message_id=f"s{n}")
    assert _reply(sid, question_key="vraag2", text="weet niet", kind="skip", message_id="s2")
    with dbmod.session_scope() as db:
        gesprek = repo.get_session(db, sid)
        assert repo.count_answers(db, gesprek, kind="skip") == service.SKIPS_BEFORE_FLAG + 1
        assert repo.count_answers(db, gesprek) == service.SKIPS_BEFORE_FLAG + 1
        flags = db.execute(select(Flag)).scalars().all()
    assert [(f.category, f.evidence) for f in flags] == [("afgehaakt", "herhaald 'weet niet'")]


def test_writes_are_spooled_while_the_database_is_down(svc: str, monkeypatch) -> None:
    sid = service.start_session("rest", "u1", "vmbo")
    monkeypatch.setattr(service, "run_with_retry",
                        lambda fn, attempts=3, delay=0.2: repo.run_with_retry(fn, 1, 0))
    dbmod.configure("postgresql://postgres@127.0.0.1:1/x")
    assert _reply(sid) is False  # spooled, not lost
    dbmod.configure(svc)
    assert _reply(sid, question_key="taak", text="brood bakken", message_id="m2")
    with dbmod.session_scope() as db:
        texts = db.execute(select(Answer.text).order_by(Answer.id)).scalars().all()
    assert texts == ["ik liep stage bij de bakker", "brood bakken"]


def _operation(session_id: int, key: str, text: str, message_id: str,
               sender_id: str = "u1") -> tuple[str, dict]:
    return ("save_reply", dict(channel="rest", sender_id=sender_id, session_id=session_id,
                               step="terugkijken", question_key=key, text=text, kind="answer",
                               message_id=message_id))


def test_a_turns_writes_are_one_transaction(svc: str) -> None:
    """service.write_turn: the writes in order, in one commit, the student looked up once."""
    from sqlalchemy import event

    sid = service.start_session("rest", "u1", "vmbo")
    commits: list[int] = []

    def committed(connection) -> None:  # the database's COMMIT, not a savepoint's release
        commits.append(1)

    event.listen(dbmod.get_engine(), "commit", committed)
    try:
        assert service.write_turn([
            _operation(sid, "ervaring", "ik liep stage bij de bakker", "m1"),
            ("set_status", dict(channel="rest", sender_id="u1", session_id=sid,
                                status="active", step="reflecteren")),
            _operation(sid, "taak", "brood bakken", "m2")]) == [True, True, True]
    finally:
        event.remove(dbmod.get_engine(), "commit", committed)
    assert len(commits) == 1
    with dbmod.session_scope() as db:
        texts = db.execute(select(Answer.text).order_by(Answer.id)).scalars().all()
        step = db.get(Conversation, sid).step_reached
    assert texts == ["ik liep stage bij de bakker", "brood bakken"]
    assert step == "reflecteren"
    assert service.write_turn([]) == []


def test_a_write_into_another_students_session_is_refused_alone(svc: str) -> None:
    mine = service.start_session("rest", "u1", "vmbo")
    theirs = service.start_session("rest", "u2", "vmbo")
    assert service.write_turn([
        _operation(mine, "ervaring", "mijn eigen antwoord", "m1"),
        _operation(theirs, "taak", "in het gesprek van een ander", "m2"),  # sender u1
        _operation(mine, "taak", "nog een eigen antwoord", "m3")]) == [True, False, True]
    with dbmod.session_scope() as db:
        texts = db.execute(select(Answer.text).order_by(Answer.id)).scalars().all()
    assert texts == ["mijn eigen antwoord", "nog een eigen antwoord"]


def test_a_turns_writes_are_spooled_together_and_replayed_in_order(svc: str,
                                                                  monkeypatch) -> None:
    sid = service.start_session("rest", "u1", "vmbo")
    monkeypatch.setattr(service, "run_with_retry",
                        lambda fn, attempts=3, delay=0.2: repo.run_with_retry(fn, 1, 0))
    dbmod.configure("postgresql://postgres@127.0.0.1:1/x")
    assert service.write_turn([_operation(sid, "ervaring", "eerst dit", "m1"),
                               _operation(sid, "taak", "dan dat", "m2")]) == [False, False]
    dbmod.configure(svc)
    assert service.replay_spool() == 2
    with dbmod.session_scope() as db:
        texts = db.execute(select(Answer.text).order_by(Answer.id)).scalars().all()
    assert texts == ["eerst dit", "dan dat"]
