"""Account management for coordinators and the school admin: the school's accounts, and a new
one-time password for a mentor (coordinators) or also a coordinator (the school admin).

A mentor who opens these pages gets "not found": the pages do not exist for them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.conversation.followups import DEFAULT_QUIET, REMINDER_DAYS
from bot.portal import auth, html, mentor
from bot.storage import accounts, schools
from bot.storage.accounts import AccountRow, Principal
from bot.taxonomy import LEVELS

ACCOUNT = r"{account:(?:mentor|coordinator)-\d{1,9}}"
ROLE_LABELS = {"mentor": "Mentor", "coordinator": "LOB-coördinator", "admin": "Schoolbeheerder"}


def _school_user(request: web.Request) -> Principal:
    user = auth.require_user(request)
    if not user.school_wide:
        raise web.HTTPNotFound()
    return user


def _table(rows: list[AccountRow], csrf: str) -> str:
    lines = []
    for row in rows:
        action = ""
        if row.may_reset:
            hidden = f'<input type="hidden" name="csrf" value="{html.e(csrf)}">'
            switch = "deactiveren" if row.active else "activeren"
            action = (f'<form method="post" action="/beheer/accounts/{html.e(row.key)}/'
                      f'wachtwoord" class="reset">{hidden}<button type="submit">Nieuw '
                      "wachtwoord</button></form>"
                      f'<form method="post" action="/beheer/accounts/{html.e(row.key)}/'
                      f'{switch}" class="reset">{hidden}<button type="submit" '
                      f'class="secundair">{switch.capitalize()}</button></form>')
        lines.append(f"<tr><td>{html.e(row.name)}</td><td>{html.e(row.email)}</td>"
                     f"<td>{html.e(ROLE_LABELS.get(row.role, row.role))}</td>"
                     f"<td>{'ja' if row.active else 'nee'}</td><td>{action}</td></tr>")
    return ('<table class="studenten accounts"><thead><tr><th>Naam</th><th>E-mailadres</th>'
            "<th>Rol</th><th>Actief</th><th></th></tr></thead>"
            f"<tbody>{''.join(lines)}</tbody></table>")


async def accounts_page(request: web.Request) -> web.Response:
    user = _school_user(request)
    rows = await auth.in_db(lambda db: accounts.school_accounts(db, user))
    body = ('<p><a href="/mentor">← Studenten</a></p><h1>Accounts van je school</h1>'
            '<p class="hulp">Is iemand zijn wachtwoord vergeten? Maak een nieuw wachtwoord en '
            "geef het persoonlijk door. De oude sessies van dat account stoppen dan.</p>"
            f"{_table(rows, auth.csrf_token(request))}")
    return await mentor.render(request, user, "Accounts", body)


async def reset_password(request: web.Request) -> web.Response:
    user = _school_user(request)
    await auth.check_csrf(request)
    key = request.match_info["account"]

    def reset(db: Any) -> tuple[str, str, str]:
        account, password = accounts.reset_by(db, user, key)
        return account.name, account.email, password

    try:
        name, email, password = await auth.in_db(reset)
    except accounts.NotYours:
        await auth.in_db(lambda db: accounts.record_denied_account(db, user, key))
        raise web.HTTPNotFound() from None
    body = ('<p><a href="/beheer/accounts">← Accounts</a></p><h1>Nieuw wachtwoord</h1>'
            f"<p>Het nieuwe wachtwoord van {html.e(name)} ({html.e(email)}):</p>"
            f'<p class="eenmalig"><code>{html.e(password)}</code></p>'
            '<p class="hulp">Dit wachtwoord wordt maar één keer getoond. Geef het persoonlijk '
            "door, niet per e-mail.</p>")
    return await mentor.render(request, user, "Nieuw wachtwoord", body)


async def _switch(request: web.Request, active: bool) -> web.StreamResponse:
    user = _school_user(request)
    await auth.check_csrf(request)
    key = request.match_info["account"]
    try:
        await auth.in_db(lambda db: accounts.set_active_by(db, user, key, active))
    except accounts.NotYours:
        tried = "activate" if active else "deactivate"
        await auth.in_db(lambda db: accounts.record_denied_account(db, user, key, tried))
        raise web.HTTPNotFound() from None
    return auth.redirect("/beheer/accounts")


async def deactivate(request: web.Request) -> web.StreamResponse:
    return await _switch(request, False)


async def activate(request: web.Request) -> web.StreamResponse:
    return await _switch(request, True)


def _settings_form(settings: schools.Settings, csrf: str, errors: list[str],
                   saved: bool, typed: Any = None) -> str:
    """The settings form; `typed`: the rejected form, shown again as it was typed."""
    default_from = DEFAULT_QUIET.start.strftime("%H:%M")
    default_until = DEFAULT_QUIET.end.strftime("%H:%M")
    values = {"niveau": settings.default_level or "", "email": settings.notify_email or "",
              "bewaren": str(settings.retention_months or ""),
              "stil_van": settings.quiet_from or "", "stil_tot": settings.quiet_until or "",
              "herinnering": "" if settings.reminder_days is None
              else str(settings.reminder_days)}
    sunday = settings.quiet_sunday is not False
    if typed is not None:
        values = {name: str(typed.get(name) or "")[:320] for name in values}
        sunday = typed.get("zondag") == "stil"
    notice = ("".join(f'<p class="melding" role="alert">{html.e(x)}</p>' for x in errors)
              or ('<p class="gelukt">Opgeslagen.</p>' if saved else ""))
    levels = [("", "geen (de student kiest niets: standaard van het script)")] + [
        (level, level) for level in LEVELS]
    options = "".join(f'<option value="{html.e(v)}"'
                      f'{" selected" if v == values["niveau"] else ""}>'
                      f"{html.e(label)}</option>" for v, label in levels)
    return (
        f'{notice}<form method="post" action="/beheer/instellingen" class="import">'
        f'<input type="hidden" name="csrf" value="{html.e(csrf)}">'
        '<label for="niveau">Niveau als een student geen niveau heeft</label>'
        f'<select id="niveau" name="niveau">{options}</select>'
        '<label for="email">E-mailadres voor signalen van studenten zonder mentor</label>'
        f'<input id="email" name="email" type="email" maxlength="320" '
        f'value="{html.e(values["email"])}">'
        '<p class="hulp">Bijvoorbeeld de zorgcoördinator. Leeg: het adres dat de beheerder van '
        "de server instelde.</p>"
        '<label for="bewaren">Bewaartermijn van gesprekken (maanden)</label>'
        f'<input id="bewaren" name="bewaren" inputmode="numeric" maxlength="3" '
        f'value="{html.e(values["bewaren"])}">'
        '<p class="hulp">Oudere gesprekken worden automatisch verwijderd, met de antwoorden, '
        "inzichten en plannen. Leeg: alles blijft bewaard.</p>"
        "<fieldset><legend>Wanneer de coach zelf een bericht stuurt</legend>"
        '<p class="hulp">De coach vraagt op de dag van een plan hoe het ging, en stuurt één '
        "herinnering als een gesprek halverwege is blijven staan. Nooit meer dan één bericht per "
        "dag, en nooit in de stille uren (Nederlandse tijd).</p>"
        '<label for="stil_van">Stille uren vanaf</label>'
        f'<input id="stil_van" name="stil_van" maxlength="5" placeholder="{default_from}" '
        f'value="{html.e(values["stil_van"])}">'
        '<label for="stil_tot">Stille uren tot</label>'
        f'<input id="stil_tot" name="stil_tot" maxlength="5" placeholder="{default_until}" '
        f'value="{html.e(values["stil_tot"])}">'
        '<label><input type="checkbox" name="zondag" value="stil"'
        f'{" checked" if sunday else ""}> '
        "Op zondag geen berichten</label>"
        '<label for="herinnering">Herinnering na (dagen)</label>'
        f'<input id="herinnering" name="herinnering" inputmode="numeric" maxlength="2" '
        f'placeholder="{REMINDER_DAYS}" value="{html.e(values["herinnering"])}">'
        '<p class="hulp">0: geen herinneringen. Leeg: de standaard '
        f"({REMINDER_DAYS} dagen, stil van {default_from} tot {default_until}).</p>"
        "</fieldset>"
        '<button type="submit">Opslaan</button></form>')


async def settings_page(request: web.Request) -> web.Response:
    user = _school_user(request)
    current = await auth.in_db(lambda db: schools.settings_of(db, user))
    saved = request.query.get("opgeslagen") == "1"
    body = ('<p><a href="/mentor">← Studenten</a></p><h1>Instellingen van je school</h1>'
            f"{_settings_form(current, auth.csrf_token(request), [], saved)}")
    return await mentor.render(request, user, "Instellingen", body)


async def settings_post(request: web.Request) -> web.StreamResponse:
    user = _school_user(request)
    form = await auth.check_csrf(request)
    settings, errors = schools.parse(dict(form))
    if settings is None:  # shown again as typed, so nothing is lost
        shown = schools.Settings(None, None, None)
        body = ('<p><a href="/mentor">← Studenten</a></p><h1>Instellingen van je school</h1>'
                f"{_settings_form(shown, auth.csrf_token(request), errors, False, form)}")
        return await mentor.render(request, user, "Instellingen", body, 400)
    await auth.in_db(lambda db: schools.save(db, user, settings))
    return auth.redirect("/beheer/instellingen?opgeslagen=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/beheer/accounts", accounts_page)
    app.router.add_get("/beheer/instellingen", settings_page)
    app.router.add_post("/beheer/instellingen", settings_post)
    app.router.add_post(f"/beheer/accounts/{ACCOUNT}/wachtwoord", reset_password)
    app.router.add_post(f"/beheer/accounts/{ACCOUNT}/deactiveren", deactivate)
    app.router.add_post(f"/beheer/accounts/{ACCOUNT}/activeren", activate)

