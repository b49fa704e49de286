"""The portal's HTML, built in code with every value escaped. No inline script or style (the
CSP forbids them): the look is in static/portal.css."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from html import escape

from aiohttp import web

from bot.conversation.student_status import chips
from bot.conversation.summaries import (
    FOLLOWUP_TEXT,
    CompetencySection,
    SessionSummary,
    TimelineEntry,
    month_label,
    reason_label,
)
from bot.portal.charts import Series, cumulative, line_chart
from bot.storage.access import NOTE_MAX_CHARS, StudentRow, StudentStory
from bot.storage.accounts import Principal
from bot.storage.models import Flag
from bot.taxonomy import FLAG_BY_KEY

SEVERITY_LABELS = {"urgent": "Urgent", "attention": "Aandacht", "info": "Ter info"}
STATUS_LABELS = {"open": "Open", "acknowledged": "Gezien", "resolved": "Afgehandeld"}


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def when(moment: datetime | None) -> str:
    return moment.strftime("%d-%m-%Y") if moment is not None else "nog geen"


def _open_count(open_flags: int | None) -> str:
    if open_flags is None:
        return ""
    label = "open signaal" if open_flags == 1 else "open signalen"
    marker = " heeft-open" if open_flags else ""
    return f'<a class="teller{marker}" href="/mentor">{open_flags} {label}</a>'


def page(title: str, body: str, status: int = 200, user: Principal | None = None,
         csrf: str | None = None, open_flags: int | None = None) -> web.Response:
    """A whole portal page; with `user` and `csrf` it has the header (name, the count of
    open flags when given, logout)."""
    header = ""
    if user is not None and csrf is not None:
        header = (
            '<header class="top"><a class="brand" href="/mentor">Loopbaancoach</a>'
            f"{_open_count(open_flags)}"
            + ('<a class="beheer" href="/beheer/cijfers">Cijfers</a>'
               '<a class="beheer" href="/beheer/gesprek">Gesprek</a>'
               '<a class="beheer" href="/beheer/signalen">Signalen</a>'
               '<a class="beheer" href="/beheer/importeren">Importeren</a>'
               '<a class="beheer" href="/beheer/accounts">Accounts</a>'
               '<a class="beheer" href="/beheer/instellingen">Instellingen</a>' if user.school_wide
               else "")
            + f'<span class="who">{e(user.name)}</span>'
            '<form method="post" action="/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}">'
            '<button type="submit">Uitloggen</button></form></header>'
        )
    document = (
        '<!doctype html><html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)} · Loopbaancoach</title>'
        '<link rel="stylesheet" href="/static/portal.css">'
        '<link rel="stylesheet" href="/static/print.css" media="print"></head>'
        f'<body>{header}<main>{body}</main></body></html>'
    )
    return web.Response(text=document, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store"})


def login_form(csrf: str, message: str | None, email: str, target: str | None = None) -> str:
    notice = f'<p class="melding" role="alert">{e(message)}</p>' if message else ""
    back = f'<input type="hidden" name="volgende" value="{e(target)}">' if target else ""
    return (
        '<section class="login"><h1>Inloggen</h1>'
        '<p>Voor mentoren en LOB-coördinatoren.</p>'
        f'{notice}'
        '<form method="post" action="/login">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">{back}'
        '<label for="email">E-mailadres</label>'
        f'<input id="email" name="email" type="email" autocomplete="username" required '
        f'maxlength="320" value="{e(email)}">'
        '<label for="wachtwoord">Wachtwoord</label>'
        '<input id="wachtwoord" name="wachtwoord" type="password" '
        'autocomplete="current-password" required maxlength="1024">'
        '<button type="submit">Inloggen</button></form>'
        '<p class="hulp">Wachtwoord vergeten? Vraag je LOB-coördinator om een nieuw '
        'wachtwoord.</p></section>'
    )


def _chips(row: StudentRow, today: date) -> str:
    return "".join(f'<span class="chip {c.key}">{e(c.label)}</span>'
                   for c in chips(row.facts(), today))


def _class_filter(classes: Sequence[tuple[int, str]], chosen: int | None) -> str:
    if len(classes) < 2:
        return ""
    options = ['<option value="">Alle klassen</option>'] + [
        f'<option value="{i}"{" selected" if i == chosen else ""}>{e(name)}</option>'
        for i, name in classes]
    return ('<form method="get" action="/mentor" class="klasfilter">'
            '<label for="klas">Klas</label>'
            f'<select id="klas" name="klas">{"".join(options)}</select>'
            '<button type="submit">Toon</button></form>')


def students_table(user: Principal, rows: Iterable[StudentRow], today: date,
                   classes: Sequence[tuple[int, str]] = (), chosen: int | None = None) -> str:
    """"Mijn studenten": open flags first (urgent on top), status chips per student."""
    rows = list(rows)
    title = "Mijn studenten" if user.role == "mentor" else "Studenten van je school"
    open_total = sum(r.open_flags for r in rows)
    summary = (f'<p class="telling">{open_total} open '
               f'{"signaal" if open_total == 1 else "signalen"} · {len(rows)} '
               f'{"student" if len(rows) == 1 else "studenten"}</p>')
    head = f"<h1>{title}</h1>{_class_filter(classes, chosen)}"
    if not rows:
        return f"{head}<p>Hier staan nog geen studenten.</p>"
    lines = []
    for r in rows:
        found = chips(r.facts(), today)
        marker = f' class="rij-{found[0].key}"' if found else ""
        lines.append(
            f"<tr{marker}>"
            f'<td><a href="/mentor/studenten/{r.id}">{e(r.display_name)}</a></td>'
            f"<td>{e(r.class_name or '-')}</td>"
            f"<td>{r.open_flags}</td>"
            f"<td>{e(when(r.last_conversation_at))}</td>"
            f'<td class="status">{_chips(r, today)}</td></tr>'
        )
    return (
        f"{head}{summary}"
        '<table class="studenten"><thead><tr><th>Student</th><th>Klas</th>'
        "<th>Open signalen</th><th>Laatste gesprek</th><th>Status</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def _by(names: Mapping[str, str], actor: str | None) -> str:
    return f" door {e(names.get(actor, actor))}" if actor else ""


def _flag_item(flag: Flag, csrf: str, names: Mapping[str, str], error: str | None) -> str:
    category = FLAG_BY_KEY.get(flag.category)
    declined = ('<p class="liever-niet">Liever niet: de student wil hierover liever geen '
                "contact.</p>") if flag.student_declined else ""
    evidence = (f'<p class="bewijs">Woorden: “{e(flag.evidence)}”</p>'
                if flag.evidence else "")
    history = ""
    if flag.acknowledged_at is not None:
        history += (f'<p class="historie">Gezien{_by(names, flag.acknowledged_by)} op '
                    f"{e(when(flag.acknowledged_at))}.</p>")
    if flag.resolved_at is not None:
        history += (f'<p class="historie">Afgehandeld{_by(names, flag.resolved_by)} op '
                    f"{e(when(flag.resolved_at))}.</p>")
    if flag.note:
        history += f'<p class="notitie">Notitie: {e(flag.note)}</p>'
    forms = ""
    hidden = f'<input type="hidden" name="csrf" value="{e(csrf)}">'
    if flag.status == "open":
        forms += (f'<form method="post" action="/mentor/signalen/{flag.id}/gezien" '
                  f'class="gezien">{hidden}<button type="submit">Gezien</button></form>')
    if flag.status in ("open", "acknowledged"):
        notice = f'<p class="melding" role="alert">{e(error)}</p>' if error else ""
        forms += (
            f'<form method="post" action="/mentor/signalen/{flag.id}/afhandelen" '
            f'class="afhandelen">{hidden}{notice}'
            f'<label for="notitie-{flag.id}">Notitie bij het afhandelen (verplicht, '
            f"hoogstens {NOTE_MAX_CHARS} tekens)</label>"
            f'<textarea id="notitie-{flag.id}" name="notitie" rows="3" required '
            f'maxlength="{NOTE_MAX_CHARS}"></textarea>'
            '<button type="submit">Afhandelen</button></form>')
    return (
        f'<li class="signaal {e(flag.severity)}" id="signaal-{flag.id}">'
        f"<strong>{e(SEVERITY_LABELS.get(flag.severity, flag.severity))}</strong> · "
        f"{e(category.title if category else flag.category)} · "
        f"{e(STATUS_LABELS.get(flag.status, flag.status))} · {e(when(flag.created_at))}"
        f"{evidence}{declined}{history}{forms}</li>"
    )


def _quote(text: str | None) -> str:
    return f"“{e(text)}”"


def _conversation(summary: SessionSummary) -> str:
    rows: list[tuple[str, str]] = []
    previous = summary.previous_step
    if previous is not None:
        told = [e(FOLLOWUP_TEXT[previous.status])] if previous.status in FOLLOWUP_TEXT else []
        if previous.text:
            told.append(_quote(previous.text))
        head = f"{_quote(previous.what)}: " if previous.what else ""
        rows.append(("Vorige stap", head + ", ".join(told)))
        if previous.reason:
            rows.append((reason_label(previous.status).capitalize(), _quote(previous.reason)))
    if summary.experience:
        rows.append(("Ervaring", _quote(summary.experience)))
    if summary.went_well:
        rows.append(("Ging goed", _quote(summary.went_well)))
    if summary.headline:
        rows.append(("Naam van het inzicht", _quote(summary.headline)))
    step = summary.next_step
    if step is not None:
        parts = [_quote(step.what)] if step.what else []
        if step.who:
            parts.append(f"hulp: {_quote(step.who)}")
        if step.when_text or step.when_date:
            moment = _quote(step.when_text) if step.when_text else ""
            if step.when_date:
                moment = (f"{moment} ({e(step.when_date.strftime('%d-%m-%Y'))})" if moment
                          else e(step.when_date.strftime("%d-%m-%Y")))
            parts.append(f"wanneer: {moment}")
        rows.append(("Plan", "; ".join(parts)))
        if step.followup_status:
            outcome = e(FOLLOWUP_TEXT.get(step.followup_status, step.followup_status))
            if step.followup_text:
                outcome += f", {_quote(step.followup_text)}"
            rows.append(("Hoe ging het", outcome))
            if step.followup_reason:
                rows.append((reason_label(step.followup_status).capitalize(),
                             _quote(step.followup_reason)))
        else:
            rows.append(("Hoe ging het", "nog niet besproken"))
    details = "".join(f"<dt>{e(name)}</dt><dd>{value}</dd>" for name, value in rows) or (
        "<dt>Inhoud</dt><dd>Nog geen antwoorden.</dd>")
    return (f'<li class="gesprek"><h3>Gesprek van {e(summary.date.strftime("%d-%m-%Y"))} '
            f'<span class="status">({e(summary.status_text)})</span></h3>'
            f"<dl>{details}</dl></li>")


def _competency(section: CompetencySection) -> str:
    if not section.insights:
        items = '<li class="leeg">Nog niets.</li>'
    else:
        items = "".join(
            f'<li>{e(i.date.strftime("%d-%m-%Y"))}: {_quote(i.text)}'
            f'{" <em>(eigen naam voor het inzicht)</em>" if i.is_headline else ""}'
            f'{" <em>(ook)</em>" if not i.main else ""}</li>'
            for i in section.insights)
    return (f'<section class="competentie"><h3>{e(section.label)} '
            f'<span class="naam">({e(section.name)})</span></h3>'
            f'<ul class="inzichten">{items}</ul></section>')


def development_chart(story: StudentStory) -> str:
    """Insights per competency, counted up over the months (the student's development)."""
    if not story.months:
        return "<p>Nog geen inzichten om te tekenen.</p>"
    series = [Series(c.label, cumulative(c.counts)) for c in story.competencies]
    return line_chart("Inzichten per onderwerp, opgeteld per maand",
                      [month_label(m) for m in story.months], series, "aantal inzichten")


def _timeline_item(entry: TimelineEntry) -> str:
    parts = [f'<span class="datum">{e(entry.date.strftime("%d-%m-%Y"))}</span>']
    parts.append(_quote(entry.experience) if entry.experience else
                 f'<span class="hulp">{e(entry.status_text)}</span>')
    if entry.headline:
        parts.append(f"inzicht: {_quote(entry.headline)}")
    step = entry.next_step
    if step is not None and step.what:
        outcome = (f" → {e(FOLLOWUP_TEXT.get(step.followup_status, step.followup_status))}"
                   if step.followup_status else "")
        parts.append(f"plan: {_quote(step.what)}{outcome}")
    return f"<li>{' · '.join(parts)}</li>"


def lob_cv_timeline(story: StudentStory) -> str:
    """The LOB-cv: every conversation as one line, oldest first."""
    if not story.timeline:
        return "<p>Nog geen activiteiten.</p>"
    items = "".join(_timeline_item(t) for t in reversed(story.timeline))
    return f'<ol class="tijdlijn">{items}</ol>'


def going_well(story: StudentStory) -> str:
    """What went well: plans that worked out, what the student did well, their insight names."""
    items: list[str] = []
    for s in story.conversations:
        step = s.next_step
        if step is not None and step.what and step.followup_status in ("gelukt", "deels"):
            items.append(f"Plan {e(FOLLOWUP_TEXT[step.followup_status])}: {_quote(step.what)}")
        if s.went_well:
            items.append(f"Ging goed: {_quote(s.went_well)}")
        if s.headline:
            items.append(f"Eigen inzicht: {_quote(s.headline)}")
    if not items:
        return ""
    shown = "".join(f"<li>{i}</li>" for i in items[:6])
    return f'<section class="gaat-goed"><h2>Wat goed gaat</h2><ul>{shown}</ul></section>'


def _for_the_conversation(student_id: int, csrf: str) -> str:
    """Links for the personal conversation (the printable gesprekskaart, the dossier) and a
    koppelcode for the student's chat."""
    base = f"/mentor/studenten/{student_id}"
    return (
        '<nav class="voor-gesprek" aria-label="Voor het gesprek">'
        f'<a href="{base}/gesprekskaart">Gesprekskaart</a> · Loopbaandossier: '
        f'<a href="{base}/dossier.pdf">PDF</a> · <a href="{base}/dossier.csv">CSV</a> · '
        f'<a href="{base}/dossier.json">JSON</a>'
        f'<form method="post" action="{base}/koppelcode" class="koppelcode">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<button type="submit" class="secundair">Koppelcode maken</button></form></nav>'
    )


def student_page(row: StudentRow, flags: Iterable[Flag], story: StudentStory, csrf: str,
                 names: Mapping[str, str], errors: Mapping[int, str] | None = None) -> str:
    """The student page: the flags to act on (with their forms), then the conversations in
    the student's own words and the insights per competency; every student text escaped."""
    errors = errors or {}
    flags = list(flags)
    current = [f for f in flags if f.status != "resolved"]
    done = [f for f in flags if f.status == "resolved"]
    flag_list = (f'<ul class="signalen">'
                 f'{"".join(_flag_item(f, csrf, names, errors.get(f.id)) for f in current)}'
                 "</ul>") if current else "<p>Geen open signalen.</p>"
    if done:
        flag_list += ('<details class="afgehandeld"><summary>Afgehandelde signalen '
                      f"({len(done)})</summary>"
                      f'<ul class="signalen">'
                      f'{"".join(_flag_item(f, csrf, names, None) for f in done)}</ul>'
                      "</details>")
    conversations = "".join(_conversation(s) for s in story.conversations)
    if not conversations:
        conversations_html = "<p>Nog geen gesprekken.</p>"
    else:
        older = (f'<p class="hulp">En {story.older} eerdere '
                 f'{"gesprek" if story.older == 1 else "gesprekken"}.</p>'
                 if story.older else "")
        conversations_html = f'<ul class="gesprekken">{conversations}</ul>{older}'
    competencies = "".join(_competency(c) for c in story.competencies)
    return (
        '<p><a href="/mentor">← Mijn studenten</a></p>'
        f"<h1>{e(row.display_name)}</h1>"
        f"<p>Klas: {e(row.class_name or '-')} · Laatste gesprek: "
        f"{e(when(row.last_conversation_at))}</p>"
        f"{_for_the_conversation(row.id, csrf)}"
        f"<h2>Signalen</h2>{flag_list}"
        f"{going_well(story)}"
        "<h2>Gesprekken</h2>"
        '<p class="hulp">In de eigen woorden van de student, nieuwste eerst.</p>'
        f"{conversations_html}"
        f"<h2>Ontwikkeling</h2>{development_chart(story)}"
        f"<h2>LOB-cv</h2>{lob_cv_timeline(story)}"
        f"<h2>Inzichten per onderwerp</h2>{competencies}"
    )


def placement_form(row: StudentRow, classes: Sequence[tuple[int, str]],
                   mentors: Sequence[tuple[int, str]], csrf: str, error: str | None = None) -> str:
    """Coordinators: put the student in another class or with another mentor."""
    def select(name: str, label: str, options: Sequence[tuple[int, str]],
               chosen: int | None) -> str:
        items = ['<option value="">(geen)</option>'] + [
            f'<option value="{i}"{" selected" if i == chosen else ""}>{e(n)}</option>'
            for i, n in options]
        return (f'<label for="{name}">{label}</label>'
                f'<select id="{name}" name="{name}">{"".join(items)}</select>')

    notice = f'<p class="melding" role="alert">{e(error)}</p>' if error else ""
    return (
        '<section class="indeling"><h2>Klas en mentor</h2>'
        f'<form method="post" action="/mentor/studenten/{row.id}/indeling" class="klasfilter">'
        f'{notice}<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'{select("klas", "Klas", classes, row.class_id)}'
        f'{select("mentor", "Mentor", mentors, row.mentor_id)}'
        '<button type="submit">Opslaan</button></form></section>'
    )
