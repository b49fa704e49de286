"""The flag-rule editor (/beheer/signalen): per category the phrases and exceptions of the
signal rules. Before a change is saved the coordinator sees what it does on the project's
evaluation sets (which messages start or stop raising a flag, recall and precision before and
after); a change that lowers crisis recall is refused. Every save is a version
(bot.portal.versies) the running detector uses within seconds (bot.conversation.live_config)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.paths import SIGNAL_RULES_FILE
from bot.portal import auth, beheer, html, mentor, rules_form, versies
from bot.portal.rules_form import Impact
from bot.storage import config_versions as versions
from bot.storage.audit import audit
from bot.taxonomy import FLAG_BY_KEY
from bot.text import signals

MAX_SHOWN = 60  # changed messages listed


def _pct(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def _crisis_refusal(impact: Impact) -> list[str]:
    return [f"De crisisherkenning wordt slechter op {name}: van {_pct(old)} naar {_pct(new)} "
            "(recall). Een gemiste crisis is de ergste fout, dus deze wijziging wordt niet "
            "opgeslagen. Maak een uitzondering smaller of zet het weggehaalde woord terug."
            for name, old, new in impact.crisis_lower()]


def _check(used: str | None, content: str) -> list[str]:
    """Problems with putting `content` in use: invalid rules, or lower crisis recall."""
    try:
        impact = rules_form.impact(used, content)
    except signals.RulesError as exc:
        return [str(exc)]
    return _crisis_refusal(impact)


EDITOR = versies.Editor(versions.SIGNAL_RULES, "/beheer/signalen", "Signalen",
                        SIGNAL_RULES_FILE, _check)



def _count(n: int, one: str, more: str) -> str:
    return f"{n} {one if n == 1 else more}"

def _form(content: str, basis: int, csrf: str) -> str:
    parts = []
    for cat in rules_form.fields(content):
        areas = "".join(
            f'<label for="{cat.key}-{part}">{html.e(label)}</label>'
            f'<textarea id="{cat.key}-{part}" name="{cat.key}.{part}" rows="8" '
            f'maxlength="60000">{html.e(chr(10).join(cat.values[part]))}</textarea>'
            for part, label in rules_form.PARTS.items())
        parts.append(
            f'<details class="vraag" id="categorie-{cat.key}"><summary>{html.e(cat.label)} '
            f"({_count(len(cat.values['woorden']), 'woord', 'woorden')}, "
            f"{_count(len(cat.values['uitzonderingen']), 'uitzondering', 'uitzonderingen')})"
            f"</summary>{areas}"
            f'<p class="hulp">Daarnaast {cat.patterns} patronen (reguliere expressies); die '
            "past de beheerder van de server aan in het bestand.</p></details>")
    return (f'<form method="post" action="{EDITOR.base}" class="editor">'
            f'<input type="hidden" name="csrf" value="{html.e(csrf)}">'
            f'<input type="hidden" name="basis" value="{basis}">{"".join(parts)}'
            '<div class="knoppen"><button type="submit" name="actie" value="controleren" '
            'class="secundair">Controleren</button> <button type="submit" name="actie" '
            'value="opslaan">Opslaan</button></div></form>')


def _cats(changed: frozenset[str]) -> str:
    return ", ".join(FLAG_BY_KEY[c].key for c in sorted(changed))


def impact_html(impact: Impact) -> str:
    tables = []
    for name, before in impact.before.items():
        after = impact.after[name]
        rows = "".join(
            f"<tr><td>{html.e(cat)}</td><td>{c.support}</td>"
            f"<td>{_pct(c.recall)} → {_pct(after.per_category[cat].recall)}</td>"
            f"<td>{_pct(c.precision)} → {_pct(after.per_category[cat].precision)}</td></tr>"
            for cat, c in before.per_category.items() if c.support or c.fp
            or after.per_category[cat].fp)
        tables.append(
            f'<h3>{html.e(name)} ({before.n_messages} berichten)</h3>'
            f'<table class="studenten effect" id="effect-{html.e(name.split(".")[0])}">'
            "<thead><tr><th>Soort signaal</th><th>Berichten</th><th>Recall (voor → na)</th>"
            f"<th>Precisie (voor → na)</th></tr></thead><tbody>{rows}</tbody></table>")
    items = []
    for ch in impact.changed[:MAX_SHOWN]:
        what = []
        if ch.started:
            good = ch.started <= ch.expected
            what.append(f"meldt nu <strong>{html.e(_cats(ch.started))}</strong>"
                        f"{' (terecht)' if good else ' (onterecht)'}")
        if ch.stopped:
            bad = bool(ch.stopped & ch.expected)
            what.append(f"meldt niet meer <strong>{html.e(_cats(ch.stopped))}</strong>"
                        f"{' (gemist!)' if bad else ' (terecht)'}")
        items.append(f"<li>“{html.e(ch.text)}” <span class=\"hulp\">({html.e(ch.set_name)})"
                     f"</span>: {'; '.join(what)}</li>")
    more = (f"<p>En nog {len(impact.changed) - MAX_SHOWN} berichten.</p>"
            if len(impact.changed) > MAX_SHOWN else "")
    changed = (f"<ul class=\"veranderd\">{''.join(items)}</ul>{more}" if items
               else "<p>Geen enkel bericht verandert.</p>")
    return ('<section class="effect" id="effect"><h2>Wat deze wijziging doet</h2>'
            '<p class="hulp">Getest op de evaluatiesets van het project (eval.yml en dev.yml). '
            "Recall: hoeveel van de echte signalen de coach vindt. Precisie: hoeveel van de "
            "meldingen terecht zijn. 1,00 is alles.</p>"
            f"<h3>Berichten die veranderen ({len(impact.changed)})</h3>{changed}"
            f"{''.join(tables)}</section>")


async def _page(request: web.Request, user: Any, content: str, basis: int,
                notice: str = "", shown: str = "", status: int = 200) -> web.Response:
    rows = await auth.in_db(lambda db: versions.history(db, EDITOR.kind, user.school_id))
    csrf = auth.csrf_token(request)
    body = ('<p><a href="/mentor">← Studenten</a></p><h1>Signalen aanpassen</h1>'
            '<p class="hulp">Hier pas je aan welke woorden een signaal voor de mentor geven, '
            "per soort signaal. Eén woord of zin per regel. Een woord met * aan het eind vindt "
            "ook langere woorden (zelfmoord* vindt zelfmoordgedachten). Een uitzondering "
            "zorgt dat een woord níet meetelt, bijvoorbeeld in 'ik ging dood van het lachen'. "
            "Kies eerst Controleren: dan zie je wat de wijziging doet. Een wijziging die een "
            "crisis vaker mist, wordt niet opgeslagen.</p>"
            f"{notice}{shown}{_form(content, basis, csrf)}"
            f"{versies.history_html(EDITOR, rows, csrf)}")
    return await mentor.render(request, user, "Signalen aanpassen", body, status)


async def editor_page(request: web.Request) -> web.Response:
    user = beheer._school_user(request)
    used, basis = await auth.in_db(lambda db: versies.current(db, EDITOR, user.school_id))
    notice = versies.saved_notice(request.query, "deze regels")
    content = used if used is not None else versies.file_content(EDITOR)
    return await _page(request, user, content, basis, notice)


async def editor_post(request: web.Request) -> web.StreamResponse:
    user = beheer._school_user(request)
    form = await auth.check_csrf(request)
    used, basis = await auth.in_db(lambda db: versies.current(db, EDITOR, user.school_id))
    base = used if used is not None else versies.file_content(EDITOR)
    try:
        content, changes = rules_form.apply(base, form)
    except signals.RulesError as exc:  # too many or too long lines: shown back as typed
        content, changes = rules_form.apply(base, form, bounded=False)
        notice = ('<section class="melding" role="alert"><h2>Nog niet opgeslagen</h2>'
                  f"<p>{html.e(str(exc))}</p></section>")
        return await _page(request, user, content, basis, notice, status=400)
    try:
        impact = await auth.blocking(lambda: rules_form.impact(used, content))
    except signals.RulesError as exc:
        notice = ('<section class="melding" role="alert"><h2>Nog niet opgeslagen</h2>'
                  f"<p>{html.e(str(exc))}</p></section>")
        return await _page(request, user, content, basis, notice, status=400)
    shown = impact_html(impact)
    if form.get("actie") != "opslaan":
        notice = ('<p class="hulp" role="status">Nog niet opgeslagen. Kies Opslaan als de '
                  "wijziging goed is.</p>" if changes else
                  '<p class="hulp" role="status">Er is niets veranderd.</p>')
        return await _page(request, user, content, basis, notice, shown)
    refusal = _crisis_refusal(impact)
    if refusal:
        await auth.in_db(lambda db: audit(db, user.actor, "config.signal_rules.refused",
                                          detail={"reason": "crisis_recall"}))
        items = "".join(f"<p>{html.e(r)}</p>" for r in refusal)
        notice = ('<section class="melding" role="alert"><h2>Niet opgeslagen</h2>'
                  f"{items}</section>")
        return await _page(request, user, content, basis, notice, shown, status=400)
    if not changes:
        notice = '<p class="gelukt" role="status">Er is niets veranderd.</p>'
        return await _page(request, user, content, basis, notice)
    typed = str(form.get("basis", ""))
    summary = "; ".join(changes).capitalize() + "."
    number = await auth.in_db(lambda db: versies.save_version(
        db, EDITOR, user, int(typed) if typed.isdigit() else -1, content, summary))
    if number is None:
        notice = ('<section class="melding" role="alert"><p>Iemand anders heeft intussen een '
                  "nieuwe versie opgeslagen. Kijk je wijziging na en sla opnieuw op.</p>"
                  "</section>")
        return await _page(request, user, content, basis, notice, shown, status=409)
    return auth.redirect(f"{EDITOR.base}?opgeslagen={number}")


def setup(app: web.Application) -> None:
    app.router.add_get(EDITOR.base, editor_page)
    app.router.add_post(EDITOR.base, editor_post)
    versies.setup(app, EDITOR)
