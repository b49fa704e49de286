"""Logging in to the portal: the login page, sessions in a cookie, CSRF tokens, logout, and
authentication of the JSON API (session cookie or `Authorization: Bearer <token>`).

- The session cookie (`lbc_sessie`) is HttpOnly, SameSite=Strict and Secure; set
  PORTAL_COOKIE_SECURE=0 only for plain http (a laptop without TLS). It holds a random token;
  the database keeps its SHA-256 (bot.storage.accounts).
- Sessions end after PORTAL_SESSION_MINUTES without a request (default 60) and at logout.
- Every form POST carries a CSRF token: on the login form a double-submit cookie
  (`lbc_csrf`), after login a token derived from the session. Missing or wrong: 403.
- Failed logins are limited per account and IP address (5 in 15 minutes): 429.
- Every route under /api/v1/ needs authentication (401 JSON without it)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from bot.config import settings
from bot.portal import html
from bot.portal.security import Handler
from bot.storage import accounts
from bot.storage.accounts import Principal

log = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_COOKIE = "lbc_sessie"
CSRF_COOKIE = "lbc_csrf"
CSRF_FIELD = "csrf"
PRINCIPAL_KEY = "principal"
TOKEN_KEY = "session_token"
API_PREFIX = "/api/v1/"
MAX_EMAIL = 320
MAX_PASSWORD = 1024

WRONG_LOGIN = "Dit e-mailadres of wachtwoord klopt niet."
TOO_MANY = ("Te veel mislukte pogingen. Wacht een kwartier en probeer het dan opnieuw. "
            "Wachtwoord vergeten? Vraag je LOB-coördinator om een nieuw wachtwoord.")
STALE_FORM = "Dit formulier was verlopen. Probeer het opnieuw."


async def blocking(fn: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def session_minutes() -> float:
    return settings().portal_session_minutes


def cookie_secure() -> bool:
    return settings().portal_cookie_secure


def set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, secure=cookie_secure(),
                        samesite="Strict")


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/")
    # del_cookie sets no attributes; keep the same ones on the expiring cookie.
    morsel = response.cookies[name]
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    morsel["secure"] = cookie_secure()


def client_ip(request: web.Request) -> str:
    """The peer address (proxy headers are not trusted)."""
    return (request.remote or "onbekend")[:64]


def _db_call(fn: Callable[[Any], T]) -> Callable[[], T]:
    def run() -> T:
        from bot.storage.db import session_scope

        with session_scope() as db:
            return fn(db)
    return run


async def in_db(fn: Callable[[Any], T]) -> T:
    """Run `fn(db)` in one transaction, off the event loop."""
    return await blocking(_db_call(fn))


def redirect(location: str) -> web.Response:
    """A 303 to `location` (a response, so that cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


# --- who is asking ---------------------------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Puts the logged-in Principal (or None) in request[PRINCIPAL_KEY]; refuses /api/v1/
    without valid credentials."""
    principal: Principal | None = None
    bearer = _bearer(request) if request.path.startswith(API_PREFIX) else None
    token = request.cookies.get(SESSION_COOKIE)
    if bearer:
        principal = await in_db(lambda db: accounts.token_principal(db, bearer))
    elif bearer is None and token and len(token) <= 128:
        idle = timedelta(minutes=session_minutes())
        principal = await in_db(lambda db: accounts.session_principal(db, token, idle))
        if principal is not None:
            request[TOKEN_KEY] = token
    request[PRINCIPAL_KEY] = principal
    if principal is None and request.path.startswith(API_PREFIX):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="loopbaancoach"'})
    return await handler(request)


def principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL_KEY)


NEXT_FIELD = "volgende"
_LOCAL_PATH = re.compile(r"/mentor(?:/[A-Za-z0-9_-]+)*/?")


def safe_next(value: object) -> str | None:
    """A page of the portal to return to after logging in; None for anything else (another
    site, `//host`, a scheme, a query or odd characters: no open redirect)."""
    if isinstance(value, str) and len(value) <= 200 and _LOCAL_PATH.fullmatch(value):
        return value
    return None


def require_user(request: web.Request) -> Principal:
    """The logged-in user of a page; otherwise a redirect to the login page, which returns
    here afterwards (so that a link in an e-mail leads to its page)."""
    user = principal(request)
    if user is None:
        target = safe_next(request.path) if request.method == "GET" else None
        target = None if target in ("/mentor", "/mentor/") else target  # the default anyway
        raise web.HTTPSeeOther(f"/login?{urlencode({NEXT_FIELD: target})}" if target
                               else "/login")
    return user


def csrf_token(request: web.Request) -> str:
    """The CSRF token for forms on this (logged-in) page."""
    return accounts.csrf_token_for(request[TOKEN_KEY])


def _same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison; bytes, because compare_digest refuses non-ASCII str."""
    return bool(a) and bool(b) and hmac.compare_digest(
        str(a).encode("utf-8", "replace"), str(b).encode("utf-8", "replace"))


def require_csrf(request: web.Request, sent: object) -> None:
    """403 unless `sent` is this session's CSRF token (for forms read another way, such as a
    file upload streamed by multipart)."""
    token = request.get(TOKEN_KEY)
    if token is None or not isinstance(sent, str) or not _same(
            sent, accounts.csrf_token_for(token)):
        raise web.HTTPForbidden()


async def check_csrf(request: web.Request) -> Any:
    """The form of a logged-in POST, when its CSRF token is right; otherwise 403."""
    form = await request.post()
    token = request.get(TOKEN_KEY)
    if token is None or not _same(form.get(CSRF_FIELD), accounts.csrf_token_for(token)):
        raise web.HTTPForbidden()
    return form


# --- pages -----------------------------------------------------------------------------------


def _login_page(csrf: str, message: str | None = None, email: str = "",
                status: int = 200, target: str | None = None) -> web.Response:
    body = html.login_form(csrf, message, email, target)
    response = html.page("Inloggen", body, status=status)
    set_cookie(response, CSRF_COOKIE, csrf)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    target = safe_next(request.query.get(NEXT_FIELD))
    if principal(request) is not None:
        raise web.HTTPSeeOther(target or "/mentor")
    csrf = request.cookies.get(CSRF_COOKIE) or ""
    if len(csrf) != 43:
        csrf = secrets.token_urlsafe(32)
    return _login_page(csrf, target=target)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = secrets.token_urlsafe(32)
    target = safe_next(form.get(NEXT_FIELD))
    if not _same(form.get(CSRF_FIELD), cookie):
        return _login_page(fresh, STALE_FORM, status=403, target=target)
    email = form.get("email")
    password = form.get("wachtwoord")
    if not isinstance(email, str) or not isinstance(password, str):
        return _login_page(cookie, WRONG_LOGIN, status=400, target=target)
    email = email.strip()[:MAX_EMAIL]
    ip = client_ip(request)

    previous = request.get(TOKEN_KEY)
    idle = timedelta(minutes=session_minutes())

    def attempt(db: Any) -> str | None:
        if accounts.login_limited(db, email, ip):
            return None
        user = accounts.authenticate(db, email, password[:MAX_PASSWORD], ip)
        if user is None:
            return ""
        from bot.storage.audit import audit

        if previous:  # a new session, never the old one under a new name
            accounts.end_session(db, previous)
        accounts.purge_sessions(db, idle)
        token = accounts.create_session(db, user)
        who = accounts.principal_of(user)
        audit(db, who.actor, "portal.login")
        return token

    token = await in_db(attempt)
    if token is None:
        response = _login_page(cookie, TOO_MANY, email, status=429, target=target)
        response.headers["Retry-After"] = str(int(accounts.FAILURE_WINDOW.total_seconds()))
        return response
    if not token:
        return _login_page(cookie, WRONG_LOGIN, email, status=401, target=target)
    response = redirect(target or "/mentor")
    set_cookie(response, SESSION_COOKIE, token)
    clear_cookie(response, CSRF_COOKIE)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    user = principal(request)
    if user is None:
        raise web.HTTPSeeOther("/login")
    await check_csrf(request)
    token = request[TOKEN_KEY]

    def end(db: Any) -> None:
        from bot.storage.audit import audit

        accounts.end_session(db, token)
        audit(db, user.actor, "portal.logout")

    await in_db(end)
    response = redirect("/login")
    clear_cookie(response, SESSION_COOKIE)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/mentor" if principal(request) is not None else "/login")


def setup(app: web.Application) -> None:
    app.middlewares.append(authenticate)
    app.router.add_get("/", home)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
