"""Versions of what a coordinator edits (the conversation, the flag rules): the list, one
version with what changed compared to the one before it, and putting an older version back
(saved again as the newest, so nothing is lost). Shared by bot.portal.gesprek and
bot.portal.signalen; a coordinator only ever sees their own school's versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.portal import auth, beheer, html, mentor, yaml_roundtrip
from bot.storage import config_versions as versions
from bot.storage.accounts import Principal

NUMBER = r"{number:\d{1,6}}"


@dataclass(frozen=True)
class Editor:
    kind: str  # config_versions kind
    base: str  # the editor's address, e.g. /beheer/gesprek
    title: str  # Dutch, e.g. "Gesprek"
    file: Path  # what is in use while no version is saved
    # Dutch problems with a content that is about to be put in use (run off the event loop):
    # (content in use, new content) -> problems; empty: fine.
    check: Callable[[str | None, str], list[str]]


def file_content(editor: Editor) -> str:
    """The file, written as the editors write a version (so a diff shows only real changes)."""
    return yaml_roundtrip.dump(yaml_roundtrip.load(editor.file.read_text(encoding="utf-8")))


def current(db: Any, editor: Editor, school_id: int | None) -> tuple[str | None, int]:
    """(content in use for the school, None: the file; the school's newest number, 0: none)."""
    used = versions.in_use(db, editor.kind, school_id)
    own = versions.newest(db, editor.kind, school_id)
    return (used.content if used is not None else None), (own.number if own else 0)


def saved_notice(query: Any, what: str) -> str:
    """The line after a save or a rollback (from the redirect's query); `what`: "deze versie"
    or "deze regels"."""
    if query.get("opgeslagen", "").isdigit():
        return (f'<p class="gelukt" role="status">Opgeslagen als versie '
                f"{int(query['opgeslagen'])}. De coach gebruikt {what} nu.</p>")
    if query.get("teruggezet", "").isdigit():
        return (f'<p class="gelukt" role="status">Versie {int(query["teruggezet"])} '
                f"is teruggezet als nieuwe versie. De coach gebruikt {what} nu.</p>")
    return ""


def history_html(editor: Editor, rows: list[versions.VersionInfo], csrf: str) -> str:
    if not rows:
        return ('<section class="versies"><h2>Versies</h2><p>Nog geen versies: het gesprek '
                "gebruikt de standaardteksten van de installatie.</p></section>"
                if editor.kind == versions.SCRIPT else
                '<section class="versies"><h2>Versies</h2><p>Nog geen versies: de standaard'
                "regels van de installatie worden gebruikt.</p></section>")
    lines = []
    for i, row in enumerate(rows):
        in_use = ' <strong class="in-gebruik">in gebruik</strong>' if i == 0 else ""
        back = "" if i == 0 else (
            f'<form method="post" action="{editor.base}/versies/{row.number}/terugzetten" '
            f'class="reset"><input type="hidden" name="csrf" value="{html.e(csrf)}">'
            f'<button type="submit" class="secundair">Versie {row.number} terugzetten</button>'
            "</form>")
        lines.append(
            f'<tr id="versie-{row.number}"><td><a href="{editor.base}/versies/{row.number}">'
            f"Versie {row.number}</a>{in_use}</td>"
            f"<td>{html.e(row.created_at.strftime('%d-%m-%Y %H:%M') + ' UTC')}</td>"
            f"<td>{html.e(row.author_name)}</td><td>{html.e(row.summary)}</td><td>{back}</td>"
            "</tr>")
    return ('<section class="versies"><h2>Versies</h2>'
            '<table class="studenten versies"><thead><tr><th>Versie</th><th>Wanneer</th>'
            "<th>Door</th><th>Wat is er veranderd</th><th></th></tr></thead>"
            f"<tbody>{''.join(lines)}</tbody></table></section>")


def _diff_html(lines: list[str]) -> str:
    if not lines:
        return "<p>Geen verschil.</p>"
    out = []
    for line in lines[2:]:  # without the ---/+++ header
        cls = ("erbij" if line.startswith("+") else "eraf" if line.startswith("-")
               else "plek" if line.startswith("@@") else "")
        shown = "…" if cls == "plek" else line
        out.append(f'<span class="{cls}">{html.e(shown)}</span>')
    return f'<pre class="verschil">{chr(10).join(out)}</pre>'


async def version_page(request: web.Request, editor: Editor) -> web.Response:
    user = beheer._school_user(request)
    number = int(request.match_info["number"])

    def load(db: Any) -> tuple[Any, str]:
        version = versions.get(db, editor.kind, user.school_id, number)
        before = (versions.get(db, editor.kind, user.school_id, number - 1).content
                  if number > 1 else None)
        return version, before if before is not None else file_content(editor)

    try:
        version, before = await auth.in_db(load)
    except versions.NotFound:
        raise web.HTTPNotFound() from None
    label = f"versie {number - 1}" if number > 1 else "de standaard"
    diff = versions.diff(before, version.content, label, f"versie {number}")
    body = (f'<p><a href="{editor.base}">← {html.e(editor.title)}</a></p>'
            f"<h1>{html.e(editor.title)}: versie {number}</h1>"
            f"<p>Opgeslagen door {html.e(version.author_name or 'onbekend')} op "
            f"{html.e(version.created_at.strftime('%d-%m-%Y %H:%M'))} UTC. "
            f"{html.e(version.summary or '')}</p>"
            f"<h2>Verschil met {html.e(label)}</h2>"
            '<p class="hulp">Rood: weggehaald. Groen: erbij gekomen.</p>'
            f"{_diff_html(diff)}")
    return await mentor.render(request, user, f"{editor.title}: versie {number}", body)


async def rollback(request: web.Request, editor: Editor) -> web.Response:
    user = beheer._school_user(request)
    await auth.check_csrf(request)
    number = int(request.match_info["number"])

    def load(db: Any) -> tuple[str | None, str]:
        used, _ = current(db, editor, user.school_id)
        return used, versions.get(db, editor.kind, user.school_id, number).content

    try:
        used, content = await auth.in_db(load)
    except versions.NotFound:
        raise web.HTTPNotFound() from None
    problems = await auth.blocking(lambda: editor.check(used, content))
    if problems:
        items = "".join(f"<li>{html.e(p)}</li>" for p in problems)
        body = (f'<p><a href="{editor.base}">← {html.e(editor.title)}</a></p>'
                f"<h1>Versie {number} is niet teruggezet</h1>"
                f'<section class="melding" role="alert"><ul>{items}</ul></section>')
        return await mentor.render(request, user, editor.title, body, 400)
    await auth.in_db(lambda db: save_version(db, editor, user, None, content,
                                             f"Teruggezet naar versie {number}."))
    return auth.redirect(f"{editor.base}?teruggezet={number}")


def save_version(db: Any, editor: Editor, user: Principal, basis: int | None, content: str,
                 summary: str) -> int | None:
    """Save a new version; None when someone else saved one since `basis` (the number the
    form was made from)."""
    own = versions.newest(db, editor.kind, user.school_id)
    if basis is not None and (own.number if own else 0) != basis:
        return None
    return versions.save(db, editor.kind, user.school_id, content, summary, user).number


def setup(app: web.Application, editor: Editor) -> None:
    async def show(request: web.Request) -> web.Response:
        return await version_page(request, editor)

    async def back(request: web.Request) -> web.Response:
        return await rollback(request, editor)

    app.router.add_get(f"{editor.base}/versies/{NUMBER}", show)
    app.router.add_post(f"{editor.base}/versies/{NUMBER}/terugzetten", back)
