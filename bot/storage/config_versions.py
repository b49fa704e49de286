"""The version store of what a coordinator edits in the portal: the conversation script
(`script`) and the flag rules (`signal_rules`), per school (or for the whole installation when
school_id is None). Every save is a new numbered version; the newest is in use; a rollback saves
an older content again as a new version, so history is never lost.

The audit log gets who saved which version, never the content."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from bot.storage.accounts import Principal
from bot.storage.audit import audit
from bot.storage.models import CONFIG_KINDS, ConfigVersion

SCRIPT = "script"
SIGNAL_RULES = "signal_rules"
MAX_SUMMARY = 2000


class NotFound(LookupError):
    """No such version for this kind and school."""


@dataclass(frozen=True)
class VersionInfo:
    """One version as the portal lists it (without the content)."""

    id: int
    number: int
    summary: str
    author_name: str
    created_at: object


def _scope(kind: str, school_id: int | None):  # noqa: ANN202 - a SQLAlchemy condition
    if kind not in CONFIG_KINDS:
        raise ValueError(f"unknown config kind {kind!r}")
    school = (ConfigVersion.school_id.is_(None) if school_id is None
              else ConfigVersion.school_id == school_id)
    return (ConfigVersion.kind == kind) & school


def newest(db: DbSession, kind: str, school_id: int | None) -> ConfigVersion | None:
    """The version in use for this school (None: no saved version)."""
    return db.execute(select(ConfigVersion).where(_scope(kind, school_id))
                      .order_by(ConfigVersion.number.desc()).limit(1)).scalar_one_or_none()


def in_use(db: DbSession, kind: str, school_id: int | None) -> ConfigVersion | None:
    """The school's newest version, else the installation-wide newest (None: the file)."""
    found = newest(db, kind, school_id)
    if found is None and school_id is not None:
        found = newest(db, kind, None)
    return found


def get(db: DbSession, kind: str, school_id: int | None, number: int) -> ConfigVersion:
    """Version `number` of this school; NotFound for another school's or a missing one."""
    found = db.execute(select(ConfigVersion).where(
        _scope(kind, school_id), ConfigVersion.number == number)).scalar_one_or_none()
    if found is None:
        raise NotFound(number)
    return found


def by_id(db: DbSession, version_id: int) -> ConfigVersion | None:
    return db.get(ConfigVersion, version_id)


def history(db: DbSession, kind: str, school_id: int | None,
            limit: int = 200) -> list[VersionInfo]:
    """The school's versions, newest first."""
    rows = db.execute(select(ConfigVersion).where(_scope(kind, school_id))
                      .order_by(ConfigVersion.number.desc()).limit(limit)).scalars()
    return [VersionInfo(v.id, v.number, v.summary or "", v.author_name or "onbekend",
                        v.created_at) for v in rows]


def save(db: DbSession, kind: str, school_id: int | None, content: str, summary: str,
         author: Principal | None) -> ConfigVersion:
    """A new version with the next number. The unique (kind, school, number) constraint makes
    two coordinators saving at the same moment fail one of them instead of mixing."""
    number = (db.execute(select(func.max(ConfigVersion.number))
                         .where(_scope(kind, school_id))).scalar() or 0) + 1
    version = ConfigVersion(kind=kind, school_id=school_id, number=number, content=content,
                            summary=summary[:MAX_SUMMARY],
                            author_id=author.id if author and author.role != "mentor" else None,
                            author_name=author.name if author else "systeem")
    db.add(version)
    db.flush()
    audit(db, author.actor if author else "system", f"config.{kind}.save", "config_version",
          version.id, detail={"number": number, "school_id": school_id})
    return version


def rollback(db: DbSession, kind: str, school_id: int | None, number: int,
             author: Principal | None) -> ConfigVersion:
    """Put version `number` back in use: saved again as the newest version."""
    old = get(db, kind, school_id, number)
    return save(db, kind, school_id, old.content, f"Teruggezet naar versie {number}.", author)


def diff(old: str, new: str, old_label: str, new_label: str) -> list[str]:
    """A unified diff of two contents (lines, without line ends)."""
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label,
                                     lineterm="", n=2))
