"""The coordinator's figures for the quality cycle: conversations per week, drop-out per step
and question, plans and how they went, flags per category and the mentors' response time; for
the school and per class, as charts and as CSV. Counts only (bot.storage.figures)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from bot.conversation.script import get_script
from bot.portal import auth, beheer, html, mentor
from bot.portal.charts import Series, bar_chart, line_chart
from bot.storage.audit import audit
from bot.storage.figures import MIN_GROUP, GroupFigures, figures
from bot.storage.models import School
from bot.taxonomy import FLAG_BY_KEY, STEPS

DEFAULT_WEEKS, MAX_WEEKS = 12, 104
SUPPRESSED = f"Minder dan {MIN_GROUP} studenten met een gesprek: cijfers niet getoond."


def _weeks(request: web.Request) -> int:
    value = request.query.get("weken", "")
    return min(int(value), MAX_WEEKS) if value.isdigit() and int(value[:4]) > 0 else DEFAULT_WEEKS


def _load(request: web.Request) -> Any:
    user = beheer._school_user(request)
    weeks = _weeks(request)
    until = datetime.now(timezone.utc)
    since = until - timedelta(weeks=weeks)

    def load(db: Any) -> list[GroupFigures]:
        school = db.get(School, user.school_id)
        audit(db, user.actor, "figures.view", detail={"weeks": weeks})
        return figures(db, user.school_id, since, until, school.name if school else "School")

    return user, weeks, load


def _question_label(key: str) -> str:
    if not key:
        return "voor de eerste vraag"
    try:
        text = get_script().render(get_script().question(key).text)
    except KeyError:
        return key
    first = text[0] if text else key
    return first if len(first) <= 60 else first[:57] + "..."


def _step_label(step: str) -> str:
    return f"stap {STEPS.index(step) + 1}: {step}" if step in STEPS else "voor stap 1"


def _group(group: GroupFigures) -> str:
    head = f"<h2>{html.e(group.name)}</h2>"
    if group.suppressed:
        return f'{head}<p class="hulp">{html.e(SUPPRESSED)}</p>'
    started, completed = sum(group.started), sum(group.completed)
    share = f"{round(100 * completed / started)} %" if started else "-"
    worked = (f"{round(100 * group.plans_worked / group.plans_followed_up)} %"
              if group.plans_followed_up else "-")
    rate = group.fallback_rate
    missed = (f"{group.not_understood} van {group.messages} berichten "
              f"({round(100 * rate)} %)" if rate is not None else "-")
    parts = [
        head,
        f'<p class="telling">{group.students} studenten · {started} gesprekken gestart · '
        f"{completed} afgerond ({share}) · {group.plans} plannen, {group.plans_followed_up} "
        f"nagevraagd, gelukt of deels gelukt: {worked} · niet begrepen door de coach: "
        f"{missed}</p>",
        line_chart("Gesprekken per week", [w[5:] for w in group.weeks],
                   [Series("Gestart", group.started), Series("Afgerond", group.completed)],
                   "aantal"),
        "<h3>Afgehaakt per stap</h3>",
        bar_chart("Afgehaakt per stap", [(_step_label(k), v)
                                          for k, v in group.dropout_step.items()]),
    ]
    if group.dropout_question:
        parts += ["<h3>Afgehaakt na de vraag</h3>",
                  bar_chart("Afgehaakt na de vraag",
                            [(_question_label(k), v) for k, v in
                             sorted(group.dropout_question.items(), key=lambda kv: -kv[1])])]
    flags = [(FLAG_BY_KEY[k].title.split(":")[0], v) for k, v in group.flags.items()]
    parts += ["<h3>Signalen per soort</h3>", bar_chart("Signalen per soort", flags)]
    waits = [(FLAG_BY_KEY[k].title.split(":")[0], v) for k, v in group.response_hours.items()
             if v is not None]
    if waits:
        parts += ["<h3>Tijd tot de eerste reactie van de mentor (mediaan)</h3>",
                  bar_chart("Tijd tot de eerste reactie (mediaan, uren)", waits, " uur")]
    return f'<section class="groep">{"".join(parts)}</section>'


async def figures_page(request: web.Request) -> web.Response:
    user, weeks, load = _load(request)
    groups = await auth.in_db(load)
    options = "".join(f'<option value="{n}"{" selected" if n == weeks else ""}>'
                      f"{n} weken</option>" for n in (4, 12, 26, 52))
    body = (
        '<p><a href="/mentor">← Studenten</a></p><h1>Cijfers voor de kwaliteitscyclus</h1>'
        '<form method="get" action="/beheer/cijfers" class="klasfilter">'
        f'<label for="weken">Periode</label><select id="weken" name="weken">{options}</select>'
        '<button type="submit">Toon</button></form>'
        f'<p class="hulp">Alleen aantallen, nooit wat studenten schreven. Groepen met minder dan '
        f"{MIN_GROUP} studenten worden niet getoond. "
        f'<a href="/beheer/cijfers.csv?weken={weeks}">Download als CSV</a></p>'
        + "".join(_group(g) for g in groups))
    return await mentor.render(request, user, "Cijfers", body)


def csv_rows(groups: list[GroupFigures]) -> list[list[object]]:
    """One row per group and figure: groep, onderdeel, sleutel, waarde."""
    rows: list[list[object]] = [["groep", "onderdeel", "sleutel", "waarde"]]
    for g in groups:
        if g.suppressed:
            rows.append([g.name, "niet getoond", f"minder dan {MIN_GROUP} studenten", ""])
            continue
        rows.append([g.name, "studenten", "", g.students])
        rows += [[g.name, "gestart", w, n] for w, n in zip(g.weeks, g.started, strict=True)]
        rows += [[g.name, "afgerond", w, n] for w, n in zip(g.weeks, g.completed, strict=True)]
        rows += [[g.name, "afgehaakt_stap", k or "begin", n] for k, n in g.dropout_step.items()]
        rows += [[g.name, "afgehaakt_vraag", k or "begin", n]
                 for k, n in g.dropout_question.items()]
        rows += [[g.name, "plannen", "gemaakt", g.plans],
                 [g.name, "plannen", "nagevraagd", g.plans_followed_up],
                 [g.name, "plannen", "gelukt_of_deels", g.plans_worked]]
        rows += [[g.name, "berichten", "totaal", g.messages],
                 [g.name, "berichten", "niet_begrepen", g.not_understood]]
        rows += [[g.name, "signalen", k, n] for k, n in g.flags.items()]
        rows += [[g.name, "reactietijd_uren_mediaan", k, "" if v is None else v]
                 for k, v in g.response_hours.items()]
    return rows


async def figures_csv(request: web.Request) -> web.Response:
    _, weeks, load = _load(request)
    groups = await auth.in_db(load)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    # Class names are the school's own; still, never let a cell start a formula.
    writer.writerows([[f"'{c}" if isinstance(c, str) and c and c[0] in "=+-@" else c
                       for c in row]
                      for row in csv_rows(groups)])
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="cijfers-{weeks}-weken.csv"',
                                 "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/beheer/cijfers", figures_page)
    app.router.add_get("/beheer/cijfers.csv", figures_csv)
