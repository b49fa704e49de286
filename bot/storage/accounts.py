"""Portal accounts (mentors, coordinators): argon2 passwords, login sessions, API tokens and
login rate limiting.

Secrets are never stored: passwords as argon2 hashes, session and API tokens as SHA-256 (they
are 256-bit random values, so a fast hash is enough)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DbSession

from bot.storage.audit import audit
from bot.storage.models import (
    ApiToken,
    Coordinator,
    LoginFailure,
    Mentor,
    PortalSession,
    School,
)
from bot.storage.types import utcnow

ROLES: tuple[str, ...] = ("mentor", "coordinator", "admin")  # admin: the school admin
SCHOOL_ROLES: tuple[str, ...] = ("coordinator", "admin")  # see every student of their school
MAX_FAILURES = 5  # per account and IP address ...
MAX_FAILURES_PER_IP = 50  # ... and per IP address over all accounts ...
FAILURE_WINDOW = timedelta(minutes=15)  # ... within this window
TOUCH_EVERY = timedelta(seconds=60)  # a session's last_seen_at is written at most this often
API_TOKEN_PREFIX = "lbc_"

User = Mentor | Coordinator
_hasher = PasswordHasher()
# Verified against when an e-mail address is unknown, so that the answer takes as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    """Who is logged in (a mentor or a coordinator)."""

    role: str
    id: int
    name: str
    email: str
    school_id: int | None

    @property
    def actor(self) -> str:
        """How the audit log names this user (no e-mail address: ids are stable). An admin
        is a coordinator account, so it is named as one."""
        return f"{self.table_role}:{self.id}"

    @property
    def table_role(self) -> str:
        """"mentor" or "coordinator": the kind of account (admins are coordinators)."""
        return "mentor" if self.role == "mentor" else "coordinator"

    @property
    def school_wide(self) -> bool:
        """Sees every student of their school (coordinators and the school admin)."""
        return self.role in SCHOOL_ROLES


class AccountError(ValueError):
    """A Dutch message for the operator (CLI)."""


def principal_of(user: User) -> Principal:
    role = ("mentor" if isinstance(user, Mentor)
            else "admin" if user.is_admin else "coordinator")
    return Principal(role, user.id, user.name, user.email, user.school_id)


def _owner(user: User) -> dict[str, int]:
    return {"mentor_id": user.id} if isinstance(user, Mentor) else {"coordinator_id": user.id}


def _user_of(db: DbSession, mentor_id: int | None, coordinator_id: int | None) -> User | None:
    user: User | None = (db.get(Mentor, mentor_id) if mentor_id is not None
                         else db.get(Coordinator, coordinator_id))
    return user if user is not None and user.active else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token bound to a session: derived from the session token, not reversible."""
    return hmac.new(session_token.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


# --- passwords and users ---------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A one-time password for a new account or a reset (about 96 bits)."""
    return secrets.token_urlsafe(12)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(db: DbSession, email: str) -> User | None:
    email = normalise_email(email)
    for model in (Mentor, Coordinator):
        user = db.execute(select(model).where(func.lower(model.email) == email)
                          ).scalar_one_or_none()
        if user is not None:
            return user
    return None


def add_user(db: DbSession, role: str, email: str, name: str, password: str,
             school: str | None = None, actor: str = "cli") -> User:
    if role not in ROLES:
        raise AccountError(f"Onbekende rol: {role!r} (kies uit {', '.join(ROLES)}).")
    email = normalise_email(email)
    if "@" not in email or not name.strip():
        raise AccountError("Geef een geldig e-mailadres en een naam.")
    if len(password) < 10:
        raise AccountError("Het wachtwoord moet minstens 10 tekens hebben.")
    if find_user(db, email) is not None:
        raise AccountError(f"Er is al een account met {email}.")
    school_row = None
    if school:
        school_row = db.execute(select(School).where(School.name == school)).scalar_one_or_none()
        if school_row is None:
            school_row = School(name=school)
            db.add(school_row)
    user: User
    if role == "mentor":
        user = Mentor(name=name.strip(), email=email, password_hash=hash_password(password),
                      school=school_row)
    else:
        user = Coordinator(name=name.strip(), email=email, school=school_row,
                           password_hash=hash_password(password), is_admin=role == "admin")
    db.add(user)
    db.flush()
    audit(db, actor, "account.create", principal_of(user).table_role, user.id)
    return user


def set_password(db: DbSession, email: str, password: str, actor: str = "cli") -> User:
    """A new password; every open session of the account is ended."""
    if len(password) < 10:
        raise AccountError("Het wachtwoord moet minstens 10 tekens hebben.")
    user = find_user(db, email)
    if user is None:
        raise AccountError(f"Geen account met {normalise_email(email)}.")
    user.password_hash = hash_password(password)
    owner = _owner(user)
    column = next(iter(owner))
    db.execute(delete(PortalSession).where(getattr(PortalSession, column) == owner[column]))
    audit(db, actor, "account.password_reset", principal_of(user).table_role, user.id)
    db.flush()
    return user


# --- logging in ------------------------------------------------------------------------------


def login_limited(db: DbSession, email: str, ip: str, now: datetime | None = None) -> bool:
    """True when this account+IP (or this IP overall) failed too often recently."""
    since = (now or utcnow()) - FAILURE_WINDOW
    per_account = db.execute(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.email == normalise_email(email), LoginFailure.ip == ip,
        LoginFailure.at > since)).scalar_one()
    if per_account >= MAX_FAILURES:
        return True
    per_ip = db.execute(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.ip == ip, LoginFailure.at > since)).scalar_one()
    return per_ip >= MAX_FAILURES_PER_IP


def authenticate(db: DbSession, email: str, password: str, ip: str) -> User | None:
    """The active user with this e-mail and password, or None (the failure is recorded).
    Call login_limited() first."""
    user = find_user(db, email)
    ok = verify_password(user.password_hash if user is not None else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        db.add(LoginFailure(email=normalise_email(email)[:320], ip=ip[:64]))
        db.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - FAILURE_WINDOW))
        db.flush()
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.execute(delete(LoginFailure).where(LoginFailure.email == normalise_email(email),
                                          LoginFailure.ip == ip))
    return user


def create_session(db: DbSession, user: User) -> str:
    """A new session for `user`; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    db.add(PortalSession(token_hash=token_hash(token), **_owner(user)))
    db.flush()
    return token


def session_principal(db: DbSession, token: str, idle: timedelta,
                      now: datetime | None = None) -> Principal | None:
    """The user of a live session; an idle-expired session is deleted."""
    now = now or utcnow()
    row = db.execute(select(PortalSession).where(PortalSession.token_hash == token_hash(token))
                     ).scalar_one_or_none()
    if row is None:
        return None
    if now - row.last_seen_at > idle:
        db.delete(row)
        return None
    user = _user_of(db, row.mentor_id, row.coordinator_id)
    if user is None:
        db.delete(row)
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    return principal_of(user)


def end_session(db: DbSession, token: str) -> None:
    db.execute(delete(PortalSession).where(PortalSession.token_hash == token_hash(token)))


def purge_sessions(db: DbSession, idle: timedelta) -> int:
    """Delete sessions idle for longer than `idle`; returns how many."""
    result = db.execute(delete(PortalSession).where(PortalSession.last_seen_at < utcnow() - idle))
    return int(result.rowcount or 0)


# --- API tokens ------------------------------------------------------------------------------


def create_api_token(db: DbSession, email: str, actor: str = "cli") -> str:
    user = find_user(db, email)
    if user is None:
        raise AccountError(f"Geen account met {normalise_email(email)}.")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=token_hash(token), **_owner(user))
    db.add(row)
    db.flush()
    audit(db, actor, "account.api_token", principal_of(user).table_role, user.id,
          {"token_id": row.id})
    return token


def token_principal(db: DbSession, token: str) -> Principal | None:
    row = db.execute(select(ApiToken).where(ApiToken.token_hash == token_hash(token),
                                            ApiToken.revoked_at.is_(None))).scalar_one_or_none()
    if row is None:
        return None
    user = _user_of(db, row.mentor_id, row.coordinator_id)
    if user is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
    return principal_of(user)


# --- managing the school's accounts in the portal -----------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    key: str  # "mentor-3", "coordinator-4": the account's address in the portal
    role: str  # mentor, coordinator, admin
    name: str
    email: str
    active: bool
    may_reset: bool  # the viewer may give this account a new password


def may_reset(viewer: Principal, target: Principal) -> bool:
    """Coordinators reset mentors' passwords; the school admin also coordinators'. Only
    within their own school, and never their own (that goes through the login)."""
    if not viewer.school_wide or viewer.school_id is None:
        return False
    if target.school_id != viewer.school_id or target.actor == viewer.actor:
        return False
    return target.role == "mentor" or viewer.role == "admin"


def school_accounts(db: DbSession, viewer: Principal) -> list[AccountRow]:
    """The accounts of the viewer's school (empty for a mentor); audited without names."""
    if not viewer.school_wide or viewer.school_id is None:
        return []
    users: list[User] = [*db.execute(select(Mentor).where(Mentor.school_id == viewer.school_id)
                                     .order_by(Mentor.name)).scalars(),
                         *db.execute(select(Coordinator)
                                     .where(Coordinator.school_id == viewer.school_id)
                                     .order_by(Coordinator.name)).scalars()]
    rows = []
    for user in users:
        who = principal_of(user)
        rows.append(AccountRow(f"{who.table_role}-{user.id}", who.role, user.name, user.email,
                               bool(user.active), may_reset(viewer, who)))
    audit(db, viewer.actor, "accounts.list", detail={"count": len(rows)})
    return rows


class NotYours(LookupError):
    """The account does not exist or the viewer may not change it (the portal says 404)."""


def reset_by(db: DbSession, viewer: Principal, key: str) -> tuple[User, str]:
    """A new one-time password for the account `key` ("mentor-3") when the viewer may reset
    it (all its sessions end; audited with the viewer as actor); NotYours otherwise."""
    kind, _, number = key.partition("-")
    model = {"mentor": Mentor, "coordinator": Coordinator}.get(kind)
    user = db.get(model, int(number)) if model is not None and number.isdigit() else None
    if user is None or not may_reset(viewer, principal_of(user)):
        raise NotYours(key)  # rolled back: record it with record_denied_account()
    password = new_password()
    set_password(db, user.email, password, actor=viewer.actor)
    return user, password


def set_active_by(db: DbSession, viewer: Principal, key: str, active: bool) -> User:
    """(De)activate the account `key` when the viewer may manage it (as for a password
    reset). A deactivated account cannot log in, its sessions end and its API tokens stop
    working; its students keep their mentor until moved. NotYours otherwise."""
    kind, _, number = key.partition("-")
    model = {"mentor": Mentor, "coordinator": Coordinator}.get(kind)
    user = db.get(model, int(number)) if model is not None and number.isdigit() else None
    if user is None or not may_reset(viewer, principal_of(user)):
        raise NotYours(key)
    user.active = active
    if not active:
        owner = _owner(user)
        column = next(iter(owner))
        db.execute(delete(PortalSession).where(getattr(PortalSession, column) == owner[column]))
    audit(db, viewer.actor, "account.activated" if active else "account.deactivated",
          principal_of(user).table_role, user.id)
    db.flush()
    return user


def record_denied_account(db: DbSession, viewer: Principal, key: str,
                          tried: str = "password_reset") -> None:
    """Audit a refused account change (in its own transaction)."""
    audit(db, viewer.actor, "account.denied", "account", key[:100], {"tried": tried})
