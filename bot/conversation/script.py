"""The conversation script: every text a student reads, loaded from data/script/gesprek.yml.

Coordinators edit that file; `validate()` checks it with Dutch messages, and `get_script()`
reloads it when it changes on disk, so wording changes need no retraining and no restart.
A broken edit never breaks the running bot: the last valid version stays in use.
"""

from __future__ import annotations

import logging
import re
import string
import sys
import threading
import time
from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.conversation import echo
from bot.paths import SCRIPT_FILE
from bot.taxonomy import COMPETENCY_KEYS, FLAG_BY_KEY, FLAG_CATEGORIES, LEVELS, STEPS

log = logging.getLogger(__name__)

VARIANT_KEYS = {"standaard", "vmbo", "mbo", *LEVELS}
# Texts the code asks for by name.
REQUIRED_TEXTS = (
    "aanbod_nieuw", "aanbod_terug", "aanbod_gepauzeerd", "privacy_eerste_keer",
    "hervatten", "hervatten_niets", "terug_naar_vraag", "al_bezig", "weet_niet_aanbod",
    "overgeslagen", "verder_zonder_druk", "correctie_vraag", "correctie_ontvangen",
    "samenvatting_goed", "vorige_stap_gelukt", "vorige_stap_niet_gelukt", "vorige_stap_anders",
    "afronden", "afscheid_buiten_gesprek", "pauze", "afscheid_tijdens_gesprek", "fallback",
    "opslaan_mislukt", "overzicht_kop", "overzicht_regel", "overzicht_leeg", "verwijderen_vraag",
    "verwijderen_gedaan", "verwijderen_niet", "verder_gaan_hint", "even_geduld", "te_lang",
    "koppelen_gelukt", "koppelen_al", "koppelen_onbekend", "koppelen_ander", "koppelen_te_vaak",
    "checkin_begin", "herinneringen_uit", "herinneringen_aan", "herinnering_verder",
    "herinnering_verder_kort", "nieuwe_stap_nee", "aanbod_gepauzeerd_over", "hervatten_over",
    "ervaring_uit_opening", "afronden_plan", "start_hint",
)
# Intents that get a side-track answer and then return to the question.
# Side requests that end or leave the conversation: inside it they stand only when explicit.
INTERRUPTIONS = ("pauzeren", "afscheid", "gegevens_verwijderen")
SIDE_TRACK_INTENTS = (
    "bot_vraag", "privacy_vraag", "mentor_gevraagd", "uitleg_gevraagd", "frustratie",
    "buiten_bereik", "bedanken", "begroeten", "bevestigen", "ontkennen", "weet_niet",
    "vertellen", "start_gesprek", "hervatten",
)
# Conditions under which an optional question is asked (`alleen_bij`): an earlier plan,
# conversation or named insight, how the earlier plan went
# (bot.conversation.coaching.followup_context), and what this conversation's answers hold
# (bot.conversation.coaching.answer_context).
CONDITIONS = ("vorig_plan", "vorige_ervaring", "vorig_inzicht", "vorige_stap_gelukt",
              "vorige_stap_niet_gelukt", "ervaring_werk", "ervaring_bezoek", "goed_zonder_hoe",
              "leuk_zonder_reden", "niveau_onbekend")
# What a question's `tekst_als` may depend on: what the coach knows from last time.
TEXT_CONDITIONS = ("vorig_plan", "vorige_ervaring", "vorig_inzicht")
# Conditions of the questions that may come before the experience of this conversation: the
# student's level when nobody set it, and the follow-up on the previous plan.
BEFORE_EXPERIENCE = frozenset({"niveau_onbekend", "vorig_plan", "vorige_stap_gelukt",
                               "vorige_stap_niet_gelukt"})
# Word lists of `verdieping`: what makes an experience a visit, what names an experience in a
# first message, and what already says how or why.
DEEPENING_LISTS = ("bezoek", "ervaring", "hoe", "reden")
EXTRA_FIELDS = {"antwoord", "label", "tekst", "max_tekens", "wat", "dag", *CONDITIONS}
# Texts the code uses when a school's script has them, and checks like the required ones.
OPTIONAL_TEXTS = ("afronden_met_plan",)
# What a question is for, where the code needs to know (`doel`); each at most once in a
# script. Insights, summaries, plans and follow-ups find their question by its `doel`, never by
# its key, so a school may rename, reword or add questions around them.
class Role:
    """The roles (`doel`) a script question can have: what its answer is for. Code names a
    role only through these; which question has it, the script says."""

    LEVEL = "niveau"
    FOLLOWUP = "vorige_stap"
    HELPED = "hielp"
    HINDERED = "lastig"
    NEW_STEP = "nieuwe_stap"
    EXPERIENCE = "ervaring"
    TASK = "taak"
    WENT_WELL = "sterk"
    LIKED = "leuk"
    INSIGHT = "inzicht"
    WISH = "wens"
    NEEDS = "nodig"
    PLAN_WHAT = "plan_wat"
    PLAN_WHO = "plan_wie"
    PLAN_OBSTACLE = "plan_obstakel"
    PLAN_SOLUTION = "plan_oplossing"
    PLAN_WHEN = "plan_wanneer"


ROLES: dict[str, str] = {
    Role.LEVEL: "het niveau van de student (vmbo of mbo)",
    Role.FOLLOWUP: "hoe de stap van vorige keer ging",
    Role.HELPED: "wat hielp bij de stap van vorige keer",
    Role.HINDERED: "wat in de weg zat bij de stap van vorige keer",
    Role.NEW_STEP: "een nieuwe kleine stap na de stap van vorige keer",
    Role.EXPERIENCE: "de ervaring waar het gesprek over gaat",
    Role.TASK: "wat de student deed",
    Role.WENT_WELL: "wat de student goed deed",
    Role.LIKED: "wat de student leuk vond",
    Role.INSIGHT: "de naam die de student aan het inzicht geeft",
    Role.WISH: "wat de student wil uitproberen",
    Role.NEEDS: "wat de student nodig heeft om te kiezen",
    Role.PLAN_WHAT: "het plan: wat de student gaat doen",
    Role.PLAN_WHO: "het plan: wie helpt",
    Role.PLAN_OBSTACLE: "het plan: waar de student tegenaan kan lopen",
    Role.PLAN_SOLUTION: "het plan: hoe de student dat oplost",
    Role.PLAN_WHEN: "het plan: wanneer",
}
# Questions a conversation cannot do without: the experience it is about and the plan (what,
# with whom, when). They cannot be switched off or removed, nor can the step that holds them.
REQUIRED_ROLES = frozenset({Role.EXPERIENCE, Role.PLAN_WHAT, Role.PLAN_WHO, Role.PLAN_WHEN})
STEP_PARTS = frozenset({"intro", "intro_later", "vragen", "samenvatting", "aan", "controle"})
MAX_INSERT = 240  # characters of a student's words quoted back


class ScriptError(ValueError):
    """The script file is not valid; `errors` are Dutch, one per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors



# A placeholder in a script text stands for any words of the student (Script.form_patterns).
_HOLE = "\u2063"


def _plain_holes(value: Any) -> Any:
    """The text with every {name:form} as a plain {name}: a form of the student's words is
    still any words."""
    if isinstance(value, str):
        return re.sub(r"\{(\w+):\w+\}", r"{\1}", value)
    if isinstance(value, list):
        return [_plain_holes(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_holes(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Question:
    key: str
    step: str
    text: Any
    explanation: Any
    example: Any
    probes: tuple[Any, ...] = ()
    short_ok: bool = False
    needs_date: bool = False
    only_if: str | None = None
    enabled: bool = True
    reaction: Any = None
    # Whole messages that answer this question although they are also an interruption phrase
    # ("geen tijd" to "Waar kun je tegenaan lopen?"), from `ook_antwoord`.
    also_answers: tuple[str, ...] = ()
    # Attention categories that only the rules raise at this question, not the learnt model
    # (`alleen_regels`): "chef Mark vragen op stage" answers "Wie kan je helpen?".
    rules_only: tuple[str, ...] = ()
    # `tekst_later`: the question for a student with at least `later_vanaf` earlier
    # conversations ("Wat heb je sinds vorige keer meegemaakt?": an open start).
    later_text: Any = None
    # `tekst_als`: another text when something from last time is known ("Vorige keer ontdekte
    # je dit: ..."), by condition (TEXT_CONDITIONS); the first that holds is used.
    texts_if: tuple[tuple[str, Any], ...] = ()
    later_from: int = 2
    role: str | None = None  # `doel`: what the answer is for (ROLES)
    competency: str | None = None  # `competentie`: where an answer is an insight, if anywhere
    # `ook_intent`: intents that answer this question rather than leave it ("mijn mentor" to
    # "Wie kan je helpen?" is no wish to talk to the mentor now).
    answer_intents: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.role in REQUIRED_ROLES


@dataclass(frozen=True)
class Step:
    key: str
    intro: Any
    questions: tuple[Question, ...]
    summary_head: Any
    summary_lines: dict[str, Any]
    summary_question: Any
    enabled: bool = True  # `aan: false`: the conversation skips this step
    check: bool = True  # `controle: false`: no summary with "Klopt dat?" after this step
    intro_later: Any = None  # `intro_later`: the intro once the student had a conversation

    def check_slot(self) -> str:
        return f"{self.key}_check"


@dataclass
class Script:
    raw: dict[str, Any]
    steps: dict[str, Step] = field(default_factory=dict)

    # --- lookups -----------------------------------------------------------------------
    def question(self, key: str) -> Question:
        if (found := self.find_question(key)) is None:
            raise KeyError(key)
        return found

    def find_question(self, key: str | None) -> Question | None:
        """The question `key`, or None (no key, a step's check slot, a key not in the script)."""
        for step in self.steps.values():
            for q in step.questions:
                if q.key == key:
                    return q
        return None

    def key_of(self, role: str) -> str | None:
        """The key of the question with `doel: role`, or None when the script has none."""
        return next((q.key for step in self.steps.values() for q in step.questions
                     if q.role == role), None)

    def step_of_slot(self, slot: str) -> Step | None:
        for step in self.steps.values():
            if slot == step.check_slot() or any(q.key == slot for q in step.questions):
                return step
        return None

    def variant(self, level: str | None) -> str:
        level = level or self.raw["standaard_niveau"]
        return self.raw["niveaus"].get(level, "standaard")

    @property
    def vague_words(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self.raw["vaag"]["woorden"])

    @property
    def filler_words(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self.raw["vaag"].get("vulwoorden", []))

    def level_words(self) -> dict[str, tuple[str, ...]]:
        """`niveau_herkennen`: per level the words that name it in a student's answer to the
        level question, in the script's order (the first level that matches counts)."""
        lists = self.raw.get("niveau_herkennen") or {}
        return {level: tuple(w.lower() for w in lists[level]) for level in lists}

    def deepening_words(self, kind: str) -> tuple[str, ...]:
        """A `verdieping` word list (DEEPENING_LISTS); empty when the script has none."""
        return tuple(w.lower() for w in (self.raw.get("verdieping") or {}).get(kind) or [])

    @property
    def vague_min_words(self) -> int:
        return int(self.raw["vaag"]["min_woorden"])

    def interruption_phrases(self, intent: str) -> list[str]:
        """The whole messages that, inside a conversation, really mean `intent` (pauzeren,
        afscheid, gegevens_verwijderen); see bot.conversation.answer_first."""
        return list(self.raw["onderbrekingen"].get(intent) or [])

    @property
    def interruption_filler(self) -> list[str]:
        return list(self.raw["onderbrekingen"].get("opvulling") or [])

    # --- rendering ---------------------------------------------------------------------
    def render(self, value: Any, level: str | None = None, **context: Any) -> list[str]:
        """Resolve a text value for a level into messages, filling in {names} (and
        {name:kern}, {name:jij}: see FORMS). A text with `afwisselen` gives its first form;
        `pick` chooses another."""
        return self._render(value, level, 0, context)

    def pick(self, value: Any, level: str | None, choice: int, *,
             said: Collection[str] = (), or_nothing: bool = False,
             **context: Any) -> list[str]:
        """Like `render`, with form number `choice` (counted round) of every `afwisselen` in
        the text, so the coach need not say the same line twice in a conversation. `said`:
        the lines the coach already said in this conversation; a form with one of them gives
        way to the next form that has none. When every form was said: nothing if `or_nothing`
        (an acknowledgement or hint the student has read often enough), else form `choice`."""
        if said:
            count = _form_count(value, level or self.raw["standaard_niveau"],
                                self.variant(level))
            for n in range(count):
                lines = self._render(value, level, choice + n, context)
                if not any(line in said for line in lines):
                    return lines
            if or_nothing:
                return []
        return self._render(value, level, choice, context)

    def pick_text(self, key: str, level: str | None, choice: int, *,
                  said: Collection[str] = (), or_nothing: bool = False,
                  **context: Any) -> list[str]:
        """`pick` for the text `key` under `teksten`."""
        return self.pick(self.raw["teksten"][key], level, choice, said=said,
                         or_nothing=or_nothing, **context)

    def forms(self, value: Any, level: str | None = None, **context: Any) -> list[list[str]]:
        """Every form a text can take (one when it has no `afwisselen`), each rendered."""
        count = _form_count(value, level or self.raw["standaard_niveau"], self.variant(level))
        return [self._render(value, level, n, context) for n in range(count)]

    def _render(self, value: Any, level: str | None, choice: int,
                context: dict[str, Any]) -> list[str]:
        lines = _resolve(value, level or self.raw["standaard_niveau"], self.variant(level),
                         choice)
        ctx = _Context({k: _Words(v) for k, v in context.items()})
        # "{x:kern}." after key words that were cut short ("…") ends in "…", not "….".
        return [line.format_map(ctx).strip().replace("….", "…") for line in lines
                if line.strip()]

    def form_patterns(self, value: Any, level: str | None = None) -> list[list[re.Pattern[str]]]:
        """Per form of the text (`afwisselen`), a pattern per message in which every
        placeholder ({name}, {name:kern}) stands for any words of the student; use with
        `fullmatch`. This is how readers of a conversation (the demo, the rubric) recognise
        what the coach said without repeating the script's wording."""
        value = _plain_holes(value)
        names = set(re.findall(r"\{(\w+)\}", repr(value)))
        return [[re.compile(".*?".join(re.escape(part) for part in line.split(_HOLE)), re.S)
                 for line in lines]
                for lines in self.forms(value, level, **{name: _HOLE for name in names})]

    def text_forms(self, key: str, level: str | None = None, **context: Any) -> list[list[str]]:
        """`forms` of the text `key` under `teksten`."""
        return self.forms(self.raw["teksten"][key], level, **context)

    def text(self, key: str, level: str | None = None, **context: Any) -> list[str]:
        return self.render(self.raw["teksten"][key], level, **context)

    def side_track(self, intent: str, level: str | None = None, *,
                   said: Collection[str] = ()) -> list[str]:
        """The reply to a side track; a form the student has not read yet in this
        conversation (`said`) when it has `afwisselen` ("bedankt" twice)."""
        return self.pick(self.raw["zijsporen"].get(intent, ""), level, 0, said=said)

    def signal_reply(self, key: str, level: str | None = None) -> list[str]:
        return self.render(self.raw["signalen"][key], level)

    @property
    def offered_categories(self) -> frozenset[str]:
        """Attention categories where the coach offers the mentor instead of announcing."""
        return frozenset(self.raw["signalen"].get("aanbieden") or [])

    @property
    def offer_exceptions(self) -> tuple[str, ...]:
        """Words that make a concern serious: then the mentor is told, not offered."""
        return tuple(w.lower() for w in self.raw["signalen"].get("aanbod_niet_bij") or [])

    def attention_reply(self, category: str, level: str | None = None,
                        again: bool = False, offer: bool = False) -> list[str]:
        """The acknowledgement of a concern; `again`: not the first one in this conversation
        (the short `aandacht_opnieuw` instead of the whole `aandacht` explanation)."""
        specific = self.raw["signalen"].get("aandacht_per_soort", {}).get(category)
        if offer:  # a talk offered, not announced (`aanbieden`); per kind where written
            offered = self.raw["signalen"].get("aanbod_per_soort", {}).get(category)
            return self.render(specific or "", level) + self.render(
                offered or self.raw["signalen"]["aandacht_aanbod"], level)
        general = self.raw["signalen"].get("aandacht_opnieuw") if again else None
        return self.render(specific or "", level) + self.render(
            general or self.raw["signalen"]["aandacht"], level
        )


class _Context(dict):
    def __missing__(self, key: str) -> str:  # an unknown or empty name renders as nothing
        return _Words("")


# How a student's words may be shown in a text: {ervaring} as typed, {ervaring:kern} as short
# key words in the second person ("ik noem het mensen helpen" -> "mensen helpen", "mijn tante"
# -> "je tante"), {ervaring:jij} whole but in the second person. See bot.conversation.echo.
FORMS = {"kern": echo.kern, "jij": echo.second_person}
# Where a text may have `afwisselen` (forms the coach takes turns with): texts the coach
# itself chooses a form of (bot.conversation.coaching), a question's `reactie`, and the texts a
# student reads in every conversation (step intros, summaries, the closing, the offer to a returning
# student). Inside a conversation the forms take turns; from one conversation to the next the coach
# moves on one form, so a returning student does not read last time's form at the same place.
ALTERNATIVES = "afwisselen"
ALTERNATING_TEXTS = ("samenvatting_goed", "verder_zonder_druk", "terug_naar_vraag",
                     "al_bezig", "weet_niet_aanbod", "overgeslagen", "correctie_ontvangen",
                     "afronden", "afronden_met_plan", "aanbod_terug")
ALTERNATING_PARTS = (".reactie", ".intro", ".intro_later", ".samenvatting.kop",
                     ".samenvatting.vraag")


class _Words(str):
    """A student's words in a text: quoted safely; `format_spec` picks a form (FORMS)."""

    raw: str

    def __new__(cls, value: Any) -> _Words:
        raw = " ".join(str(value if value is not None else "").split())
        words = super().__new__(cls, _quote(raw))
        words.raw = raw
        return words

    def __format__(self, spec: str) -> str:
        if spec in FORMS:
            return _quote(FORMS[spec](self.raw))
        return super().__format__(spec)


# Student text echoed in a reply must not become markup in channels that render Markdown
# or HTML (Teams, Mattermost, Rocket.Chat): look-alike characters read the same in every
# channel, including the plain-text web chat, and a link stops being a link.
_NEUTRAL = str.maketrans({"<": "‹", ">": "›", "*": "∗", "_": "＿", "`": "ˋ", "[": "［",
                          "]": "］", "|": "∣", "~": "∼", "#": "＃", "\\": "∖"})


def neutralise(text: str) -> str:
    """`text` without Markdown/HTML meaning (and without clickable links)."""
    return text.translate(_NEUTRAL).replace("://", "：//")


def _quote(value: Any) -> str:
    text = neutralise(" ".join(str(value if value is not None else "").split()))
    return text if len(text) <= MAX_INSERT else text[: MAX_INSERT - 1].rstrip() + "…"


def _resolve(value: Any, level: str, variant: str, choice: int = 0) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [line for item in value for line in _resolve(item, level, variant, choice)]
    if isinstance(value, dict):
        if ALTERNATIVES in value:
            forms = value[ALTERNATIVES]
            forms = forms if isinstance(forms, list) and forms else [forms]
            return _resolve(forms[choice % len(forms)], level, variant, choice)
        for key in (level, variant, "standaard"):
            if key in value:
                return _resolve(value[key], level, variant, choice)
        return []
    return [str(value)]


def _form_count(value: Any, level: str, variant: str) -> int:
    """How many forms `_resolve` takes turns with (the longest `afwisselen` list)."""
    if isinstance(value, list):
        return max([_form_count(item, level, variant) for item in value] or [1])
    if isinstance(value, dict) and ALTERNATIVES in value:
        forms = value[ALTERNATIVES] if isinstance(value[ALTERNATIVES], list) else [
            value[ALTERNATIVES]]
        return max([len(forms), *(_form_count(f, level, variant) for f in forms)])
    if isinstance(value, dict):
        for key in (level, variant, "standaard"):
            if key in value:
                return _form_count(value[key], level, variant)
    return 1


# --- validation --------------------------------------------------------------------------


def _fields(value: Any) -> set[str]:
    names: set[str] = set()
    for line in _all_strings(value):
        try:
            names |= {f for _, f, _, _ in string.Formatter().parse(line) if f}
        except ValueError:
            names.add("{")  # unbalanced brace; reported as an unknown name
    return names


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _all_strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _all_strings(item)]
    return []


def _check_forms(value: Any, where: str, allowed: set[str], errors: list[str]) -> bool:
    """Checks `afwisselen` and {name:vorm}; True when `value` is an `afwisselen` text (its
    forms are checked here)."""
    alternating = isinstance(value, dict) and ALTERNATIVES in value
    for line in [] if alternating else _all_strings(value):
        try:
            specs = {(f, spec) for _, f, spec, _ in string.Formatter().parse(line) if f}
        except ValueError:
            continue  # reported as an unknown name
        for name, spec in sorted(specs):
            if spec and spec not in FORMS:
                errors.append(f"{where}: {{{name}:{spec}}} kan niet. Schrijf {{{name}}}, "
                              + " of ".join(f"{{{name}:{form}}}" for form in FORMS) + ".")
    if not alternating:
        return False
    key = where.removeprefix("teksten.")
    if not (where.endswith(ALTERNATING_PARTS) or key in ALTERNATING_TEXTS
            or where.startswith("zijsporen.")):
        errors.append(f"{where}: '{ALTERNATIVES}' kan alleen bij een reactie, de intro en de "
                      "samenvatting van een stap, een zijspoor, en bij de teksten "
                      f"{', '.join(ALTERNATING_TEXTS)}.")
    forms = value[ALTERNATIVES]
    if set(value) != {ALTERNATIVES} or not isinstance(forms, list) or not forms:
        errors.append(f"{where}: onder '{ALTERNATIVES}' hoort een lijst met teksten, en verder "
                      "niets.")
        return True
    for n, form in enumerate(forms, 1):
        _check_text(form, f"{where}.{ALTERNATIVES}[{n}]", allowed, errors)
    return True


def _check_text(value: Any, where: str, allowed: set[str], errors: list[str]) -> None:
    if value is None or (isinstance(value, str | list)
                         and not any(line.strip() for line in _all_strings(value))):
        errors.append(f"{where}: de tekst ontbreekt of is leeg.")
        return
    if _check_forms(value, where, allowed, errors):
        return
    if isinstance(value, dict) and not set(value) <= VARIANT_KEYS:
        wrong = ", ".join(sorted(set(value) - VARIANT_KEYS))
        errors.append(
            f"{where}: onbekende variant '{wrong}'. Gebruik: {', '.join(sorted(VARIANT_KEYS))}."
        )
    if isinstance(value, dict) and "standaard" not in value and not (
        {"vmbo", "mbo"} <= set(value) or set(LEVELS) <= set(value)
    ):
        errors.append(f"{where}: geef een 'standaard'-tekst, of een tekst voor vmbo én mbo.")
    if not isinstance(value, str | list | dict):
        errors.append(f"{where}: een tekst moet een regel of een lijst van regels zijn.")
    for name in sorted(_fields(value) - allowed):
        errors.append(f"{where}: de naam {{{name}}} bestaat hier niet.")


# A question's key names its answer in the conversation's state and in the script's
# placeholders ({ervaring}): a plain name, not one the conversation itself uses.
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# (Also the parameter names of Script.render / pick / text, through which answers are passed.)
RESERVED_KEYS = frozenset({*CONDITIONS, "niveau", "eerdere_gesprekken", "vorige_stap_status",
                           "label", "tekst", "antwoord", "max_tekens", "key", "level",
                           "value", "choice", "said", "or_nothing"})


def _word_list(value: Any) -> bool:
    """A list of words or phrases, none empty (the script's word lists)."""
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def validate(raw: Any) -> list[str]:
    """All problems in a script, in Dutch. An empty list means the script is valid."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        return ["Het script moet beginnen met sleutels zoals 'teksten:' en 'stappen:'."]
    for key in ("versie", "niveaus", "standaard_niveau", "vaag", "teksten", "zijsporen",
                "onderbrekingen", "signalen", "stappen"):
        if key not in raw:
            errors.append(f"Het onderdeel '{key}' ontbreekt.")
    if errors:
        return errors

    niveaus = raw["niveaus"]
    if not isinstance(niveaus, dict) or set(niveaus) != set(LEVELS):
        errors.append(f"niveaus: noem precies deze niveaus: {', '.join(LEVELS)}.")
    if raw["standaard_niveau"] not in LEVELS:
        errors.append(f"standaard_niveau: kies uit {', '.join(LEVELS)}.")
    vaag = raw["vaag"]
    if not isinstance(vaag, dict) or not isinstance(vaag.get("min_woorden"), int) or not (
        isinstance(vaag.get("woorden"), list) and all(isinstance(w, str) for w in vaag["woorden"])
    ):
        errors.append("vaag: geef 'min_woorden' (een getal) en 'woorden' (een lijst woorden).")

    verdieping = raw.get("verdieping", {})
    if not isinstance(verdieping, dict):
        errors.append("verdieping: geef lijsten met woorden (bezoek, ervaring, hoe, reden).")
    else:
        for key, value in verdieping.items():
            if key not in DEEPENING_LISTS:
                errors.append(f"verdieping.{key}: onbekend; kies uit "
                              f"{', '.join(DEEPENING_LISTS)}.")
            elif not _word_list(value):
                errors.append(f"verdieping.{key}: geef een lijst met woorden.")

    herkennen = raw.get("niveau_herkennen", {})
    if not isinstance(herkennen, dict):
        errors.append(f"niveau_herkennen: geef per niveau ({', '.join(LEVELS)}) een lijst "
                      "met woorden.")
    else:
        for key, value in herkennen.items():
            if key not in LEVELS:
                errors.append(f"niveau_herkennen.{key}: onbekend; kies uit {', '.join(LEVELS)}.")
            elif not _word_list(value):
                errors.append(f"niveau_herkennen.{key}: geef een lijst met woorden.")

    question_keys = [
        q.get("key") for s in (raw["stappen"] or {}).values() if isinstance(s, dict)
        for q in (s.get("vragen") or []) if isinstance(q, dict)
    ]
    slot_fields = {k for k in question_keys if isinstance(k, str)}
    allowed = slot_fields | EXTRA_FIELDS

    teksten = raw["teksten"] if isinstance(raw["teksten"], dict) else {}
    for key in REQUIRED_TEXTS:
        if key not in teksten:
            errors.append(f"teksten.{key}: deze tekst ontbreekt.")
        else:
            _check_text(teksten[key], f"teksten.{key}", allowed, errors)
    for key in OPTIONAL_TEXTS:
        if key in teksten:
            _check_text(teksten[key], f"teksten.{key}", allowed, errors)
    zijsporen = raw["zijsporen"] if isinstance(raw["zijsporen"], dict) else {}
    for intent in SIDE_TRACK_INTENTS:
        if intent not in zijsporen:
            errors.append(f"zijsporen.{intent}: deze tekst ontbreekt.")
        else:
            _check_text(zijsporen[intent], f"zijsporen.{intent}", set(), errors)

    onderbrekingen = raw["onderbrekingen"] if isinstance(raw["onderbrekingen"], dict) else {}
    for key in ("opvulling", *INTERRUPTIONS):
        value = onderbrekingen.get(key)
        if not (value and _word_list(value)):
            errors.append(f"onderbrekingen.{key}: geef een lijst met zinnen of woorden.")
    for key in onderbrekingen:
        if key not in ("opvulling", *INTERRUPTIONS):
            errors.append(f"onderbrekingen.{key}: onbekend; kies uit "
                          f"{', '.join(('opvulling', *INTERRUPTIONS))}.")

    signalen = raw["signalen"] if isinstance(raw["signalen"], dict) else {}
    for key in ("aanbieden", "aanbod_niet_bij"):
        if not _word_list(signalen.get(key, [])):
            errors.append(f"signalen.{key}: geef een lijst.")
    offered = signalen.get("aanbieden") or []
    for category in offered if _word_list(offered) else []:
        flag = FLAG_BY_KEY.get(category) if isinstance(category, str) else None
        if flag is None or flag.severity != "attention" or category == "mentor_gevraagd":
            errors.append(f"signalen.aanbieden: '{category}' kan niet; kies soorten met "
                          "aandacht (zoals druk_omgeving).")
    if signalen.get("aanbieden"):
        for key in ("aandacht_aanbod", "aanbod_aangenomen"):
            if key not in signalen:
                errors.append(f"signalen.{key}: deze tekst ontbreekt (nodig bij 'aanbieden').")
            else:
                _check_text(signalen[key], f"signalen.{key}", set(), errors)
    for key in ("crisis", "aandacht", "liever_niet", "crisis_check", "crisis_check_nee"):
        if key not in signalen:
            errors.append(f"signalen.{key}: deze tekst ontbreekt.")
        else:
            _check_text(signalen[key], f"signalen.{key}", set(), errors)
    crisis_text = " ".join(_all_strings(signalen.get("crisis")))
    for number in ("0800-0113", "113.nl", "0800-0432", "112"):
        if number not in crisis_text:
            errors.append(f"signalen.crisis: het nummer {number} moet in deze tekst staan.")
    for category, value in (signalen.get("aanbod_per_soort") or {}).items():
        if category not in offered:
            errors.append(f"signalen.aanbod_per_soort.{category}: deze soort staat niet bij "
                          "'aanbieden'.")
        else:
            _check_text(value, f"signalen.aanbod_per_soort.{category}", set(), errors)
    for category, value in (signalen.get("aandacht_per_soort") or {}).items():
        flag = FLAG_BY_KEY.get(category)
        if flag is None or flag.severity != "attention":
            errors.append(f"signalen.aandacht_per_soort.{category}: onbekende soort signaal.")
        else:
            _check_text(value, f"signalen.aandacht_per_soort.{category}", set(), errors)

    stappen = raw["stappen"]
    if not isinstance(stappen, dict) or list(stappen) != list(STEPS):
        errors.append(f"stappen: noem de stappen in deze volgorde: {', '.join(STEPS)}.")
        return errors
    seen: set[str] = set()
    roles_seen: dict[str, str] = {}
    for step_key, step in stappen.items():
        where = f"stappen.{step_key}"
        if not isinstance(step, dict):
            errors.append(f"{where}: moet 'intro', 'vragen' en 'samenvatting' hebben.")
            continue
        _check_text(step.get("intro"), f"{where}.intro", allowed, errors)
        if step.get("intro_later") not in (None, ""):
            _check_text(step.get("intro_later"), f"{where}.intro_later", allowed, errors)
        for name in sorted(set(step) - STEP_PARTS):
            errors.append(f"{where}: onbekend onderdeel '{name}'.")
        for flag_name in ("aan", "controle"):
            if flag_name in step and not isinstance(step[flag_name], bool):
                errors.append(f"{where}.{flag_name}: moet true of false zijn.")
        vragen = step.get("vragen")
        needed = sorted(q["key"] for q in vragen or [] if isinstance(q, dict)
                        and q.get("doel") in REQUIRED_ROLES) if isinstance(vragen, list) else []
        if step.get("aan") is False and needed:
            errors.append(f"{where}.aan: deze stap kan niet uit, want de vraag "
                          f"'{needed[0]}' is nodig voor het gesprek.")
        if not isinstance(vragen, list) or not vragen:
            errors.append(f"{where}.vragen: geef minstens één vraag.")
            vragen = []
        for i, q in enumerate(vragen, 1):
            qwhere = f"{where}.vragen[{i}]"
            if not isinstance(q, dict) or not isinstance(q.get("key"), str):
                errors.append(f"{qwhere}: elke vraag heeft een 'key' en een 'tekst'.")
                continue
            key = q["key"]
            qwhere = f"{where}.{key}"
            if not KEY_PATTERN.match(key) or key.endswith("_check") or key in RESERVED_KEYS:
                errors.append(f"{qwhere}: een key is een naam van 2 tot 40 kleine letters, "
                              "cijfers of _ (zoals 'eerste_indruk'), eindigt niet op '_check' "
                              "en is geen naam die het gesprek zelf gebruikt.")
            if key in seen:
                errors.append(f"{qwhere}: deze key komt twee keer voor.")
            seen.add(key)
            unknown = set(q) - {"key", "tekst", "uitleg", "voorbeeld", "doorvragen", "kort_mag",
                                "datum", "alleen_bij", "aan", "reactie", "ook_antwoord",
                                "tekst_later", "later_vanaf", "alleen_regels", "tekst_als",
                                "doel", "competentie", "ook_intent"}
            role = q.get("doel")
            if role is not None and role not in ROLES:
                errors.append(f"{qwhere}.doel: kies uit {', '.join(ROLES)}.")
            elif role is not None and role in roles_seen:
                errors.append(f"{qwhere}.doel: '{role}' hoort bij één vraag, en staat ook bij "
                              f"'{roles_seen[role]}'.")
            elif role is not None:
                roles_seen[role] = key
            if "competentie" in q and q["competentie"] not in COMPETENCY_KEYS:
                errors.append(f"{qwhere}.competentie: kies uit {', '.join(COMPETENCY_KEYS)}.")
            answer_intents = q.get("ook_intent", [])
            if not isinstance(answer_intents, list) or not all(
                    isinstance(i, str) and i in SIDE_TRACK_INTENTS for i in answer_intents):
                errors.append(f"{qwhere}.ook_intent: een lijst met intents uit "
                              f"{', '.join(SIDE_TRACK_INTENTS)}.")
            texts_if = q.get("tekst_als", {})
            if not isinstance(texts_if, dict) or set(texts_if) - set(TEXT_CONDITIONS):
                errors.append(f"{qwhere}.tekst_als: per voorwaarde een tekst; voorwaarden: "
                              f"{', '.join(TEXT_CONDITIONS)}.")
            else:
                for condition, text in texts_if.items():
                    _check_text(text, f"{qwhere}.tekst_als.{condition}", allowed, errors)
            if "tekst_later" in q:
                _check_text(q["tekst_later"], f"{qwhere}.tekst_later", allowed, errors)
            if "later_vanaf" in q and not (isinstance(q["later_vanaf"], int)
                                           and not isinstance(q["later_vanaf"], bool)
                                           and 1 <= q["later_vanaf"] <= 20):
                errors.append(f"{qwhere}.later_vanaf: een getal van 1 tot 20 (het aantal "
                              "eerdere gesprekken).")
            for name in sorted(unknown):
                errors.append(f"{qwhere}: onbekend onderdeel '{name}'.")
            for part in ("tekst", "uitleg", "voorbeeld"):
                _check_text(q.get(part), f"{qwhere}.{part}", allowed, errors)
            probes = q.get("doorvragen", [])
            if not isinstance(probes, list) or len(probes) > 2:
                errors.append(f"{qwhere}.doorvragen: een lijst van hoogstens twee doorvragen.")
            else:
                for j, probe in enumerate(probes, 1):
                    _check_text(probe, f"{qwhere}.doorvragen[{j}]", allowed, errors)
            if "reactie" in q:
                _check_text(q["reactie"], f"{qwhere}.reactie", allowed, errors)
            for flag_name in ("kort_mag", "datum", "aan"):
                if flag_name in q and not isinstance(q[flag_name], bool):
                    errors.append(f"{qwhere}.{flag_name}: moet true of false zijn.")
            if q.get("aan") is False and q.get("doel") in REQUIRED_ROLES:
                errors.append(f"{qwhere}.aan: deze vraag is nodig voor het gesprek en kan niet "
                              "uit.")
            also = q.get("ook_antwoord", [])
            if not isinstance(also, list) or not all(isinstance(a, str) and a.strip()
                                                     for a in also):
                errors.append(f"{qwhere}.ook_antwoord: een lijst van zinnen.")
            rules_only = q.get("alleen_regels", [])
            attention = sorted(f.key for f in FLAG_CATEGORIES if f.severity == "attention")
            if not isinstance(rules_only, list) or not all(c in attention for c in rules_only):
                errors.append(f"{qwhere}.alleen_regels: een lijst met signalen uit "
                              f"{', '.join(attention)} (een crisis telt altijd).")
            if "alleen_bij" in q and q["alleen_bij"] not in CONDITIONS:
                errors.append(f"{qwhere}.alleen_bij: kies uit {', '.join(CONDITIONS)}.")
        summary = step.get("samenvatting")
        if not isinstance(summary, dict) or not isinstance(summary.get("regels"), dict):
            errors.append(f"{where}.samenvatting: geef 'kop', 'regels' en 'vraag'.")
            continue
        _check_text(summary.get("kop"), f"{where}.samenvatting.kop", allowed, errors)
        _check_text(summary.get("vraag"), f"{where}.samenvatting.vraag", allowed, errors)
        for slot, line in summary["regels"].items():
            if slot not in slot_fields:
                errors.append(f"{where}.samenvatting.regels.{slot}: er is geen vraag '{slot}'.")
            _check_text(line, f"{where}.samenvatting.regels.{slot}", allowed, errors)
    for role in sorted(REQUIRED_ROLES - set(roles_seen)):
        errors.append(f"stappen: geen vraag met doel '{role}' ({ROLES[role]}); die is nodig "
                      "voor het gesprek.")
    return errors + _order_errors(stappen, slot_fields)


def _order_errors(stappen: dict, slot_fields: set[str]) -> list[str]:
    """A question may only use the answers of questions asked before it, and the experience
    comes before the other questions about it."""
    errors: list[str] = []
    asked: set[str] = set()
    for step_key, step in stappen.items():
        vragen = [q for q in step.get("vragen") or [] if isinstance(q, dict)] if isinstance(
            step, dict) and isinstance(step.get("vragen"), list) else []
        plain = [q for q in vragen if q.get("alleen_bij") not in BEFORE_EXPERIENCE]
        experience = [q.get("key") for q in plain if q.get("doel") == Role.EXPERIENCE]
        if experience and plain[0].get("doel") != Role.EXPERIENCE:
            errors.append(f"stappen.{step_key}: de vraag '{experience[0]}' moet de eerste "
                          "vraag van de stap zijn; de andere vragen gaan over die ervaring.")
        for q in vragen:
            parts = [q.get(p) for p in ("tekst", "uitleg", "voorbeeld", "reactie")]
            parts += q.get("doorvragen") or [] if isinstance(q.get("doorvragen"), list) else []
            for name in sorted(_fields(parts) & (slot_fields - asked - {q.get("key")})):
                errors.append(f"stappen.{step_key}.{q.get('key')}: deze vraag gebruikt "
                              f"{{{name}}}, maar de vraag '{name}' komt pas later.")
            asked.add(q.get("key"))
    return errors


def parse(raw: Any) -> Script:
    errors = validate(raw)
    if errors:
        raise ScriptError(errors)
    script = Script(raw=raw)
    for step_key, step in raw["stappen"].items():
        questions = tuple(
            Question(
                key=q["key"], step=step_key, text=q["tekst"], explanation=q["uitleg"],
                example=q["voorbeeld"], probes=tuple(q.get("doorvragen", [])),
                short_ok=q.get("kort_mag", False), needs_date=q.get("datum", False),
                only_if=q.get("alleen_bij"), enabled=q.get("aan", True), reaction=q.get("reactie"),
                also_answers=tuple(q.get("ook_antwoord", [])),
                rules_only=tuple(q.get("alleen_regels", [])),
                later_text=q.get("tekst_later"), later_from=q.get("later_vanaf", 2),
                texts_if=tuple((q.get("tekst_als") or {}).items()),
                role=q.get("doel"), competency=q.get("competentie"),
                answer_intents=tuple(q.get("ook_intent", [])),
            )
            for q in step["vragen"]
        )
        summary = step["samenvatting"]
        script.steps[step_key] = Step(
            key=step_key, intro=step["intro"], questions=questions,
            summary_head=summary["kop"], summary_lines=summary["regels"],
            summary_question=summary["vraag"], enabled=step.get("aan", True),
            check=step.get("controle", True), intro_later=step.get("intro_later"),
        )
    return script


def load(path: Path = SCRIPT_FILE) -> Script:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (regel {mark.line + 1})" if mark else ""
        raise ScriptError([f"{path.name}: dit is geen geldige YAML{where}: {exc}"]) from exc
    except OSError as exc:
        raise ScriptError(
            [f"{path}: het bestand kan niet worden gelezen ({exc.strerror})."]
        ) from exc
    return parse(raw)


class _Cache:
    """The script in use, reloaded when its file changes (checked at most every 2 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: Script | None = None
        self._path: Path | None = None
        self._mtime = 0.0
        self._checked = 0.0

    def get(self, path: Path = SCRIPT_FILE) -> Script:
        now = time.monotonic()
        with self._lock:
            if self._script is not None and path == self._path and now - self._checked < 2:
                return self._script
            self._checked = now
            mtime = path.stat().st_mtime
            if self._script is not None and path == self._path and mtime == self._mtime:
                return self._script
            try:
                script = load(path)
            except ScriptError as exc:
                if self._script is None or path != self._path:
                    raise
                log.error("script.reload_failed", extra={"errors": exc.errors})
                return self._script
            self._script, self._path, self._mtime = script, path, mtime
            log.info("script.loaded", extra={"path": str(path)})
            return script


_cache = _Cache()
# The script of the conversation being served (a version saved in the portal), set per
# request by the action server (bot.conversation.live_config); None: the file.
ACTIVE: ContextVar[Script | None] = ContextVar("script", default=None)


def get_script(path: Path | None = None) -> Script:
    if path is None and (active := ACTIVE.get()) is not None:
        return active
    return _cache.get(path or SCRIPT_FILE)


def validate_main(argv: list[str]) -> int:
    """`bot script validate [FILE]`."""
    path = Path(argv[0]) if argv else SCRIPT_FILE
    try:
        load(path)
    except ScriptError as exc:
        print(f"Het script {path} heeft {len(exc.errors)} fout(en):", file=sys.stderr)
        for error in exc.errors:
            print(f"  - {error}", file=sys.stderr)
        return 1
    print(f"Het script {path} is in orde.")
    return 0
