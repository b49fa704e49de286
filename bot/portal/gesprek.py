"""The conversation editor (/beheer/gesprek): the wording of the four steps, their questions
(per level, with follow-up questions, explanation and example), switching optional questions
on or off, the summaries, the closing, the privacy text and the crisis text, as a form.
Checked by bot.conversation.script's validator before saving; a preview shows a step as a student of
a chosen level reads it; every save is a version (bot.portal.versies) that the running
assistant uses within seconds (bot.conversation.live_config)."""

from __future__ import annotations

from typing import Any

import yaml
from aiohttp import web

from bot.conversation import coaching
from bot.conversation import script as script_mod
from bot.conversation.script import ALTERNATIVES
from bot.paths import SCRIPT_FILE
from bot.portal import auth, beheer, html, mentor, script_form, versies
from bot.portal.script_form import (
    ALL_VARIANTS,
    BASE_VARIANTS,
    QuestionFields,
    StepFields,
    TextField,
)
from bot.storage import config_versions as versions
from bot.taxonomy import LEVELS, STEPS

VARIANT_LABELS = {"standaard": "standaard", "vmbo": "vmbo", "mbo": "mbo",
                  "mbo-bol": "alleen mbo-bol", "mbo-bbl": "alleen mbo-bbl",
                  ALTERNATIVES: "afwisselend"}
SAMPLE = "…"  # what a student's own words look like in the preview


def _check(used: str | None, content: str) -> list[str]:
    try:
        raw = yaml.safe_load(content)
    except yaml.YAMLError:
        return ["Deze versie is geen geldig script meer."]
    return script_mod.validate(raw)


EDITOR = versies.Editor(versions.SCRIPT, "/beheer/gesprek", "Gesprek", SCRIPT_FILE, _check)


# --- the form ----------------------------------------------------------------------------


def _textarea(field: TextField, variant: str, value: str) -> str:
    ident = html.e(f"{field.name}|{variant}".replace(".", "-").replace("|", "--"))
    rows = max(2, min(12, value.count("\n") + 2))
    return (f'<label for="{ident}">{html.e(field.label.split(": ")[-1])} '
            f"({html.e(VARIANT_LABELS.get(variant, variant))})</label>"
            f'<textarea id="{ident}" name="{html.e(field.name)}|{html.e(variant)}" '
            f'rows="{rows}" maxlength="4000">{html.e(value)}</textarea>')


def _text_field(field: TextField) -> str:
    if not field.editable:
        return (f'<p class="hulp">{html.e(field.label)}: deze tekst kan alleen in het bestand '
                "worden aangepast.</p>")
    if ALTERNATIVES in field.variants:
        return ('<p class="hulp">Afwisselend: de coach neemt steeds een andere vorm. Zet een '
                "lege regel tussen twee vormen; binnen een vorm is elke regel een bericht.</p>"
                + _textarea(field, ALTERNATIVES, field.variants[ALTERNATIVES]))
    if field.words:  # one list for every level
        return ('<p class="hulp">Eén woord of zin per regel.</p>'
                + _textarea(field, "standaard", field.variants.get("standaard", "")))
    others = [v for v in ALL_VARIANTS if v != "standaard" and (
        v in BASE_VARIANTS or v in field.variants)]
    filled = any(field.variants.get(v) for v in others)
    return (_textarea(field, "standaard", field.variants.get("standaard", ""))
            + f'<details class="niveaus"{" open" if filled else ""}><summary>Andere tekst '
            "voor vmbo of mbo</summary>"
            '<p class="hulp">Leeg laten: dan krijgt iedereen de standaardtekst.</p>'
            + "".join(_textarea(field, v, field.variants.get(v, "")) for v in others)
            + "</details>")


def _first_line(field: TextField) -> str:
    text = (field.variants.get("standaard") or next(iter(field.variants.values()), "")
            ).split("\n")[0]
    return text if len(text) <= 80 else text[:77] + "..."


def _place(step: str, index: int, count: int, key: str) -> str:
    ident = html.e(f"plaats-{step}-{key}")
    options = "".join(f'<option value="{n}"{" selected" if n == index + 1 else ""}>{n}</option>'
                      for n in range(1, count + 1))
    return (f'<label for="{ident}">Plaats in deze stap</label> <select id="{ident}" '
            f'name="stappen.{html.e(step)}.vragen.{index}.plaats">{options}</select>')


def _step_switches(s: StepFields) -> str:
    name = f"stappen.{s.key}.aan"
    if s.may_switch:
        on = (f'<label class="schakel"><input type="checkbox" name="{html.e(name)}" value="aan"'
              f'{" checked" if s.enabled else ""}> Deze stap gebruiken</label>')
    else:
        on = ('<p class="hulp">Deze stap is nodig voor het gesprek en staat altijd aan.</p>')
    check = (f'<label class="schakel"><input type="checkbox" '
             f'name="stappen.{html.e(s.key)}.controle" value="aan"'
             f'{" checked" if s.check else ""}> Na deze stap een samenvatting geven en vragen '
             "of die klopt</label>")
    return f'<div class="schakels">{on}{check}</div>'


def _question(step: str, index: int, q: QuestionFields, count: int) -> str:
    name = f"stappen.{step}.vragen.{index}.aan"
    state = "aan" if q.enabled else "uit"
    condition = (f'<p class="hulp">Deze vraag komt '
                 f"{html.e(script_form.CONDITION_NAMES[q.condition])}.</p>"
                 if q.condition in script_form.CONDITION_NAMES else "")
    remove = f"stappen.{step}.vragen.{index}.{script_form.REMOVE}"
    switch = (f'<label class="schakel"><input type="checkbox" name="{html.e(name)}" value="aan"'
              f'{" checked" if q.enabled else ""}> Deze vraag stellen</label>'
              f'<label class="schakel"><input type="checkbox" name="{html.e(remove)}" '
              f'value="{script_form.REMOVE}"> Deze vraag weghalen (bij opslaan)</label>'
              if q.may_switch
              else f'<input type="hidden" name="{html.e(name)}" value="aan">'
              '<p class="hulp">Deze vraag is nodig voor het gesprek en staat altijd aan.</p>')
    texts = "".join(f"<fieldset><legend>{html.e(t.label)}</legend>{_text_field(t)}</fieldset>"
                    for t in q.texts)
    return (f'<details class="vraag" id="vraag-{html.e(q.key)}"><summary>'
            f"<code>{html.e(q.key)}</code> ({state}): {html.e(_first_line(q.texts[0]))}"
            f'</summary><input type="hidden" name="stappen.{html.e(step)}.vragen.{index}.key" '
            f'value="{html.e(q.key)}">{condition}{switch}{_place(step, index, count, q.key)}'
            f"{texts}</details>")


NEW_LABELS = {"tekst": "Vraag", "uitleg": "Uitleg (als de student het niet weet)",
              "voorbeeld": "Voorbeeld van een antwoord"}


def _new_question(step: str) -> str:
    """Empty fields for a question added at the end of the step (its place can be changed
    after a preview or a save)."""
    parts = "".join(
        f'<label for="nieuw-{html.e(step)}-{part}">{html.e(NEW_LABELS[part])}</label>'
        f'<textarea id="nieuw-{html.e(step)}-{part}" rows="2" maxlength="4000" '
        f'name="stappen.{html.e(step)}.{script_form.NEW}.{part}|standaard"></textarea>'
        for part in script_form.NEW_PARTS)
    return (f'<details class="vraag nieuw" id="nieuw-{html.e(step)}"><summary>Een vraag '
            "toevoegen aan deze stap</summary><p class=\"hulp\">De nieuwe vraag komt achteraan "
            "in de stap. Vul alle drie de velden in; na een voorbeeld of opslaan kun je de "
            f"plaats kiezen.</p>{parts}</details>")


def _form(content: str, basis: int, csrf: str, step: str, level: str) -> str:
    steps, others = script_form.fields(script_form.yaml_roundtrip.load(content))
    parts = []
    for s in steps:
        questions = "".join(_question(s.key, i, q, len(s.questions))
                            for i, q in enumerate(s.questions))
        summary = "".join(f"<fieldset><legend>{html.e(t.label)}</legend>{_text_field(t)}"
                          "</fieldset>" for t in s.summary)
        parts.append(
            f'<section class="stap" id="stap-{html.e(s.key)}"><h2>{html.e(s.title)}'
            f'{"" if s.enabled else " (staat uit)"}</h2>{_step_switches(s)}'
            f"<fieldset><legend>Intro van de stap</legend>{_text_field(s.intro)}</fieldset>"
            f'<h3>Vragen</h3>{questions}{_new_question(s.key)}'
            f'<details class="vraag" id="samenvatting-{s.key}">'
            f"<summary>Samenvatting van deze stap</summary>{summary}</details></section>")
    rest = "".join(f'<details class="vraag" id="tekst-{html.e(t.name.split(".")[-1])}">'
                   f"<summary>{html.e(t.label)}</summary>{_text_field(t)}</details>"
                   for t in others)
    step_options = "".join(f'<option value="{k}"{" selected" if k == step else ""}>'
                           f"{html.e(script_form.STEP_NAMES[k])}</option>" for k in STEPS)
    level_options = "".join(f'<option value="{k}"{" selected" if k == level else ""}>{k}'
                            "</option>" for k in LEVELS)
    return (
        f'<form method="post" action="{EDITOR.base}" class="editor">'
        f'<input type="hidden" name="csrf" value="{html.e(csrf)}">'
        f'<input type="hidden" name="basis" value="{basis}">'
        f'{"".join(parts)}<section class="stap" id="andere-teksten"><h2>Andere teksten</h2>'
        f"{rest}</section>"
        '<section class="knoppen"><h2>Bekijken en opslaan</h2>'
        '<label for="voorbeeld-stap">Voorbeeld van stap</label>'
        f'<select id="voorbeeld-stap" name="stap">{step_options}</select>'
        '<label for="voorbeeld-niveau">voor een student met niveau</label>'
        f'<select id="voorbeeld-niveau" name="niveau">{level_options}</select>'
        '<div class="knoppen"><button type="submit" name="actie" value="voorbeeld" '
        'class="secundair">Voorbeeld bekijken</button> '
        '<button type="submit" name="actie" value="opslaan">Opslaan</button></div>'
        "</section></form>")


# --- the preview -------------------------------------------------------------------------


def preview_html(script: script_mod.Script, step_key: str, level: str) -> str:
    """A step as a student of `level` reads it: every question it may ask, with what follows
    on a vague answer and on "weet ik niet", then the summary."""
    step = script.steps[step_key]
    title = (f'<section class="voorbeeld" id="voorbeeld"><h2>Voorbeeld: '
             f"{html.e(script_form.STEP_NAMES[step_key])}, niveau {html.e(level)}</h2>")
    if not step.enabled:
        return (f'{title}<p class="hulp">Deze stap staat uit: de coach slaat hem over en gaat '
                "meteen door met de volgende stap.</p></section>")
    slots = {q.key: SAMPLE for s in script.steps.values() for q in s.questions}
    context = {c: SAMPLE for c in script_mod.CONDITIONS}
    intro = script.render(step.intro, level)
    blocks = ['<div class="voorbeeld-vraag"><h3>Begin van de stap</h3>'
              + "".join(f'<p class="bericht">{html.e(line)}</p>' for line in intro) + "</div>"]
    for q in step.questions:
        if not q.enabled:
            continue

        def say(state: coaching.State, key: str = q.key) -> list[str]:
            return coaching.ask_messages(script, step, key, state, slots, level,
                                         context=context)

        parts = [("", say(coaching.State()))]
        parts += [(f"Doorvraag {n}", say(coaching.State(coaching.Mode.PROBE, n)))
                  for n in range(1, len(q.probes) + 1)]
        parts.append(("Bij 'weet ik niet'", say(coaching.State(coaching.Mode.EXPLAIN, 0, 2))))
        note = (f' <span class="hulp">({html.e(script_form.CONDITION_NAMES[q.only_if])})</span>'
                if q.only_if in script_form.CONDITION_NAMES else "")
        bubbles = "".join(
            (f'<p class="wanneer">{html.e(label)}:</p>' if label else "")
            + "".join(f'<p class="bericht">{html.e(line)}</p>' for line in lines)
            for label, lines in parts)
        blocks.append(f'<div class="voorbeeld-vraag"><h3><code>{html.e(q.key)}</code>{note}'
                      f"</h3>{bubbles}</div>")
    if step.check:
        summary = coaching.ask_messages(script, step, step.check_slot(), coaching.State(),
                                        slots, level, context=context)
        blocks.append('<div class="voorbeeld-vraag"><h3>Samenvatting</h3>'
                      + "".join(f'<p class="bericht">{html.e(line)}</p>' for line in summary)
                      + "</div>")
    return (f'{title}<p class="hulp">Zo leest een student deze stap. {SAMPLE} staat voor de '
            f"woorden van de student.</p>{''.join(blocks)}</section>")


# --- pages -------------------------------------------------------------------------------


def _choice(value: Any, allowed: tuple[str, ...], default: str) -> str:
    return value if isinstance(value, str) and value in allowed else default


async def _page(request: web.Request, user: Any, content: str | None, basis: int,
                notice: str = "", preview: str = "", status: int = 200,
                step: str = STEPS[0], level: str = LEVELS[0]) -> web.Response:
    rows = await auth.in_db(lambda db: versions.history(db, EDITOR.kind, user.school_id))
    shown = content if content is not None else versies.file_content(EDITOR)
    csrf = auth.csrf_token(request)
    body = ('<p><a href="/mentor">← Studenten</a></p><h1>Gesprek aanpassen</h1>'
            '<p class="hulp">Hier pas je de teksten van het gesprek aan. Open een vraag om de '
            "tekst te veranderen. Elke keer dat je opslaat, komt er een nieuwe versie bij. De "
            "coach gebruikt die binnen een paar seconden. Een gesprek dat al bezig is, gaat "
            "verder met de versie waarmee het begon. Je kunt ook de volgorde van de vragen "
            "in een stap veranderen, vragen en een hele stap aan- of uitzetten, en kiezen na "
            "welke stappen de coach een samenvatting geeft, en vragen toevoegen of weghalen. "
            "Daarvoor hoeft niemand de coach opnieuw te trainen.</p>"
            f"{notice}{preview}{_form(shown, basis, csrf, step, level)}"
            f"{versies.history_html(EDITOR, rows, csrf)}")
    return await mentor.render(request, user, "Gesprek aanpassen", body, status)


async def editor_page(request: web.Request) -> web.Response:
    user = beheer._school_user(request)
    used, basis = await auth.in_db(lambda db: versies.current(db, EDITOR, user.school_id))
    notice = versies.saved_notice(request.query, "deze versie")
    return await _page(request, user, used, basis, notice)


async def editor_post(request: web.Request) -> web.StreamResponse:
    user = beheer._school_user(request)
    form = await auth.check_csrf(request)
    used, basis = await auth.in_db(lambda db: versies.current(db, EDITOR, user.school_id))
    base = used if used is not None else versies.file_content(EDITOR)
    content, changes = script_form.apply(base, form)
    errors = _check(used, content)
    step = _choice(form.get("stap"), STEPS, STEPS[0])
    level = _choice(form.get("niveau"), LEVELS, LEVELS[0])
    typed_basis = form.get("basis", "")
    if errors:
        items = "".join(f"<li>{html.e(e)}</li>" for e in errors)
        notice = ('<section class="melding" role="alert"><h2>Nog niet opgeslagen</h2>'
                  f"<p>Verbeter eerst deze punten:</p><ul>{items}</ul></section>")
        return await _page(request, user, content, basis, notice, status=400, step=step,
                           level=level)
    if form.get("actie") == "voorbeeld":
        preview = preview_html(script_mod.parse(yaml.safe_load(content)), step, level)
        notice = ('<p class="hulp" role="status">Dit is een voorbeeld: je wijzigingen zijn nog '
                  "niet opgeslagen.</p>" if changes else "")
        return await _page(request, user, content, basis, notice, preview, step=step,
                           level=level)
    if not changes:
        notice = '<p class="gelukt" role="status">Er is niets veranderd.</p>'
        return await _page(request, user, content, basis, notice, step=step, level=level)
    summary = "; ".join(changes).capitalize() + "."
    number = await auth.in_db(lambda db: versies.save_version(
        db, EDITOR, user, int(typed_basis) if str(typed_basis).isdigit() else -1, content,
        summary))
    if number is None:
        notice = ('<section class="melding" role="alert"><p>Iemand anders heeft intussen een '
                  "nieuwe versie opgeslagen. Je wijzigingen staan hieronder nog; kijk ze na en "
                  "sla opnieuw op.</p></section>")
        return await _page(request, user, content, basis, notice, status=409)
    return auth.redirect(f"{EDITOR.base}?opgeslagen={number}")


def setup(app: web.Application) -> None:
    app.router.add_get(EDITOR.base, editor_page)
    app.router.add_post(EDITOR.base, editor_post)
    versies.setup(app, EDITOR)
