"""`bot eval gesprekken`: hold the evaluation conversations (data/eval/gesprekken) against
freshly started Rasa and action servers with their own SQLite files, and score the
transcripts with the rubric (bot.conversation.rubric)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as DbSession

from bot.conversation.rubric import Transcript, Turn, report, score
from bot.conversation.script import get_script
from bot.eval_student import MAX_TURNS, Student, load_conversations, roles_of
from bot.paths import DATA

EVAL_DIR = DATA / "eval" / "gesprekken"


def load_set(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    conversations = data.get("gesprekken")
    if not isinstance(conversations, list) or not conversations:
        raise ValueError(f"{path}: 'gesprekken' ontbreekt of is leeg")
    for n, c in enumerate(conversations, 1):
        messages = c.get("berichten") if isinstance(c, dict) else None
        if not isinstance(messages, list) or not all(
                isinstance(m, str) or (isinstance(m, dict) and len(m) == 1
                                       and all(isinstance(v, str) for v in m.values()))
                for m in messages):
            raise ValueError(f"{path}: gesprek {n} heeft geen lijst 'berichten' met tekst "
                             "(of met 'rol: tekst' per bericht)")
    return load_conversations(text)


def _plan(engine: Engine, sender: str) -> dict[str, object] | None:
    from bot.storage.models import ActionPlan, ChannelIdentity

    with DbSession(engine) as db:
        student_id = db.execute(select(ChannelIdentity.student_id).where(
            ChannelIdentity.sender_id == sender)).scalar_one_or_none()
        if student_id is None:
            return None
        plan = db.execute(select(ActionPlan).where(ActionPlan.student_id == student_id)
                          .order_by(ActionPlan.id.desc())).scalars().first()
        return None if plan is None else {"what": plan.what, "who": plan.who,
                                           "when_date": plan.when_date}


def _enrol(engine: Engine, sender: str, level: str | None) -> None:
    """The student at their school's level (vmbo, mbo-bol, mbo-bbl), as a linked student is."""
    from bot.conversation.coaching import level_in_answer
    from bot.storage import repository as repo
    from bot.taxonomy import LEVELS

    # A set may say "mbo" as a student would: the script's level words decide (mbo-bol).
    level = level if level in LEVELS else level_in_answer(get_script(), level or "")
    if level not in LEVELS:
        return
    with DbSession(engine) as db:
        repo.get_or_create_student(db, "rest", sender).level = level
        db.commit()


def hold(servers: Any, conversation: dict[str, Any], engine: Engine) -> Transcript:
    """The conversation as a student would hold it: the opening, then an answer to whatever
    the coach asks (bot.eval_student: "ja" to the offer, ...), until it asks nothing the
    student knows."""
    sender = f"eval-{conversation.get('id', 'x')}-{uuid.uuid4().hex[:6]}"
    roles = conversation.get("rollen") or roles_of(conversation["berichten"])
    _enrol(engine, sender, conversation.get("niveau"))
    student = Student.of(get_script(), roles, conversation.get("niveau"))
    turns: list[Turn] = []

    def send(text: str) -> tuple[str, ...]:
        replies = tuple(servers.say(sender, text))
        turns.append(Turn(text, replies))
        return replies

    last: tuple[str, ...] = ()
    for text in roles.get("opening", [])[:1]:
        last = send(text)
    for _ in range(MAX_TURNS):
        text = student.reply(last)
        if text is None:
            break
        last = send(text)
    return Transcript(str(conversation.get("id", sender)), conversation.get("niveau"), turns,
                      _plan(engine, sender))


def markdown(transcripts: list[Transcript]) -> str:
    """The conversations for reading: the student's message, then the coach's bubbles."""
    out: list[str] = []
    for t in transcripts:
        out.append(f"## {t.id} ({t.level or 'geen niveau'})\n")
        for turn in t.turns:
            out.append(f"- **student:** {turn.student}")
            out += [f"  - coach: {line}" for line in turn.bot]
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bot eval gesprekken",
        description="Houd de evaluatiegesprekken met de echte servers en scoor ze met de rubric.")
    parser.add_argument("--file", type=Path, action="append",
                        help=f"gesprekken (standaard: alle .yml in {EVAL_DIR})")
    parser.add_argument("--failures", action="store_true",
                        help="noem per criterium de gesprekken die het niet halen")
    parser.add_argument("--transcripts", type=Path,
                        help="schrijf de gevoerde gesprekken (markdown) naar dit bestand")
    args = parser.parse_args(argv)
    files = args.file or sorted(EVAL_DIR.glob("*.yml"))
    if not files:
        print(f"fout: geen gesprekken gevonden in {EVAL_DIR}", file=sys.stderr)
        return 2
    try:
        conversations = [c for path in files for c in load_set(path)]
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"fout: {exc}", file=sys.stderr)
        return 2
    from bot.devservers import MODEL, Servers, isolated_env, upgrade_database

    if not MODEL.exists():
        print(f"fout: geen getraind model in {MODEL} (make train)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lbc-eval-") as tmp:
        workdir = Path(tmp)
        env = isolated_env(workdir)
        upgrade_database(env)
        servers = Servers(workdir, env)
        servers.start()
        try:
            engine = create_engine(env["DATABASE_URL"])  # one for every conversation
            try:
                transcripts = [hold(servers, c, engine) for c in conversations]
            finally:
                engine.dispose()
        finally:
            servers.stop()
    scores = score(transcripts, get_script())
    print(report(scores, transcripts))
    if args.transcripts:
        args.transcripts.write_text(markdown(transcripts), encoding="utf-8")
    if args.failures:
        for s in scores:
            if s.failed_ids:
                print(f"{s.key}: {', '.join(s.failed_ids)}")
    return 0
