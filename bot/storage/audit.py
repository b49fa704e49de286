"""The audit log: who did what to which object. Never write message content here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session as DbSession

from bot.storage.models import AuditLog


def audit(db: DbSession, actor: str, action: str, object_type: str | None = None,
          object_id: int | str | None = None, detail: dict[str, Any] | None = None) -> AuditLog:
    row = AuditLog(actor=actor, action=action, object_type=object_type,
                   object_id=None if object_id is None else str(object_id), detail=detail)
    db.add(row)
    return row
