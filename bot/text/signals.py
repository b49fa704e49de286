"""Signal detection: which flag categories does a student message raise?

`detect(text)` returns at most one `Signal` per flag category, urgent first. The rules
(lexicons, regex patterns, figurative exceptions, negation cues, typo replacements) are data in
`data/signals/rules.yml`, so that a coordinator can tune them without touching code. The rules
file is re-read when its mtime changes; an invalid edit is reported (in Dutch) and the previous
valid rules stay active.

How a message is matched:
- The text is tokenised twice: by a small regex tokenizer ("surface" view, independent of any
  model) and, when available, by the project's spaCy pipeline ("lemma" view: each token
  replaced by its lemma, so "sloeg"/"slaat" become "slaan"). Both views are normalised the same
  way (lowercase, accents and apostrophes removed, hyphens split, letter runs of 3+ collapsed to
  2, token replacements from the rules) and joined with single spaces.
- Every pattern is tried on both views and only matches whole tokens. A match is mapped back to
  character offsets in the original text, so evidence is always a substring of the message.
- A match is dropped when an exception (per category or the global figurative list) overlaps it,
  or when a negation cue ("niet", "geen", ...) occurs within a few tokens before it in the same
  clause.
- Crisis safety does not depend on the parser: the surface view is always matched, and if the
  spaCy pipeline cannot be loaded detect() logs a warning and works on the surface view alone.

Speed: one spaCy call per message (the lemmatizer's own dependencies only; the parser and NER are
not run), patterns are compiled once per rules version.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.paths import SIGNAL_RULES_FILE
from bot.taxonomy import FLAG_BY_KEY, FLAG_CATEGORIES, SEVERITIES

log = logging.getLogger(__name__)

# Categories raised by other means than message text (a scheduled job raises `afgehaakt`).
NON_TEXT_CATEGORIES: frozenset[str] = frozenset({"afgehaakt"})
TEXT_CATEGORIES: tuple[str, ...] = tuple(
    f.key for f in FLAG_CATEGORIES if f.key not in NON_TEXT_CATEGORIES
)
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_CATEGORY_RANK = {f.key: i for i, f in enumerate(FLAG_CATEGORIES)}

# Pipeline components that lemmatisation never needs (skipped for speed).
_SKIP_COMPONENTS = frozenset({"parser", "ner", "entity_ruler", "textcat", "textcat_multilabel",
                              "senter", "entity_linker", "span_finder", "spancat"})
_MACRO_RE = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_TOKEN_RE = re.compile(r"[^\W_]+(?:['’`´\-][^\W_]+)*|[^\w\s]", re.UNICODE)
_REPEAT_RE = re.compile(r"(.)\1{2,}")
_KERN_GROUP = re.compile(r"\(\?P<kern>")
MIN_MASKED_WORDS = 3  # fewer words left around a figure of speech: the model stays silent
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a"})


# The parse data key under which Rasa's NLU component (bot.rasa_plugins.components) hands every
# signal it found to the action server, so that a message is screened once
# (bot.conversation.intake).
PARSE_DATA_KEY = "signals"


@dataclass(frozen=True)
class Signal:
    """One detected flag category in a message."""

    category: str
    severity: str  # "urgent" | "attention" | "info" (from bot.taxonomy)
    evidence: str  # the words of the message that triggered it, exactly as typed
    span: tuple[int, int] = field(default=(0, 0), compare=False)  # evidence offsets in the text
    # "rules" or "model" (bot.text.signal_model); a crisis the model is unsure about has severity
    # "attention" and unsure=True: the coach asks one check question before the crisis reply.
    source: str = field(default="rules", compare=False)
    unsure: bool = field(default=False, compare=False)

    def as_parse_data(self) -> dict[str, Any]:
        """The form in which Rasa's NLU component hands it to the action server."""
        return {"category": self.category, "severity": self.severity,
                "evidence": self.evidence, "span": list(self.span), "source": self.source,
                "unsure": self.unsure}

    @classmethod
    def from_parse_data(cls, data: Any) -> Signal | None:
        """The Signal of `as_parse_data`; None for anything malformed."""
        try:
            span = data.get("span") or (0, 0)
            signal = cls(str(data["category"]), str(data["severity"]), str(data["evidence"]),
                         (int(span[0]), int(span[1])), str(data.get("source", "rules")),
                         bool(data.get("unsure", False)))
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            return None
        return signal if signal.severity in SEVERITIES else None


class RulesError(ValueError):
    """The rules file is invalid. The message is in Dutch (it is meant for the coordinator)."""


# --------------------------------------------------------------------------- compiled rules


@dataclass(frozen=True)
class _Trigger:
    regex: re.Pattern[str]
    source: str  # the rule as written, for error listings
    negatable: bool


@dataclass(frozen=True)
class _Category:
    key: str
    severity: str
    triggers: tuple[_Trigger, ...]
    exceptions: tuple[re.Pattern[str], ...]
    negation_window: int
    prefilter: re.Pattern[str]  # all triggers in one regex: a cheap "anything at all?" test
    # `geruststelling`: the student says the concern is absent ("ik heb genoeg
    # zelfvertrouwen", "geen zorgen"); then the model may not raise this category either.
    reassurances: tuple[re.Pattern[str], ...] = ()
    # `ook_bij`: raised along with another category's find when the message also matches a
    # pattern (discrimination at the internship is an internship problem too: the school
    # takes it up with the company).
    along: tuple[tuple[str, re.Pattern[str]], ...] = ()


@dataclass(frozen=True)
class Rules:
    """A validated, compiled rules file."""

    path: Path
    mtime_ns: int
    categories: tuple[_Category, ...]  # in output order (severity, then taxonomy order)
    figurative: tuple[re.Pattern[str], ...]
    negation_cues: frozenset[str]
    boundaries: frozenset[str]
    negation_exempt: tuple[re.Pattern[str], ...]
    replacements: dict[str, str]
    # Words after a find where a negation still counts ("geldproblemen hebben we niet", "ik
    # spijbel nooit"); attention categories only: crisis stays recall-first.
    negation_after: int = 0


def _fail(message: str) -> RulesError:
    return RulesError(message)


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(f"{where} moet een lijst zijn (regels die met '- ' beginnen).")
    return value


def _expand_macros(pattern: str, macros: dict[str, str], where: str) -> str:
    def expand(text: str, stack: tuple[str, ...]) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in macros:
                raise _fail(f"{where}: onbekende bouwsteen {{{name}}} in '{pattern}'. "
                            f"Bekende bouwstenen: {', '.join(sorted(macros)) or '(geen)'}.")
            if name in stack:
                raise _fail(f"{where}: bouwsteen {{{name}}} verwijst (via andere bouwstenen) "
                            "naar zichzelf.")
            return "(?:" + expand(macros[name], (*stack, name)) + ")"

        return _MACRO_RE.sub(sub, text)

    return expand(pattern, ())


def _compile(pattern: str, where: str, macros: dict[str, str]) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern.strip():
        raise _fail(f"{where}: een patroon moet een niet-lege tekst zijn (gevonden: {pattern!r}).")
    expanded = _expand_macros(pattern.strip(), macros, where)
    try:
        # Patterns match whole tokens of the space-joined view only.
        return re.compile(r"(?<!\S)(?:" + expanded + r")(?!\S)")
    except re.error as exc:
        raise _fail(f"{where}: ongeldige reguliere expressie '{pattern}': {exc}. "
                    "Controleer haakjes, | en speciale tekens (zet er een \\ voor).") from exc


def _word_to_regex(word: str, where: str) -> str:
    if not isinstance(word, str) or not word.strip():
        raise _fail(f"{where}: een woord moet een niet-lege tekst zijn (gevonden: {word!r}).")
    parts = []
    for part in word.split():
        wildcard = part.endswith("*")
        stem = part.rstrip("*")
        if "*" in stem:
            raise _fail(f"{where}: in '{word}' mag een * alleen aan het eind van een woord.")
        stem = normalize_text(stem)
        if not stem:
            raise _fail(f"{where}: '{word}' bevat een * zonder letters ervoor.")
        parts.append(re.escape(stem).replace(r"\ ", " ") + (r"\w*" if wildcard else ""))
    if not parts:
        raise _fail(f"{where}: '{word}' bevat geen letters.")
    return " ".join(parts)


def _parse_rules(data: Any, path: Path, mtime_ns: int) -> Rules:
    if not isinstance(data, dict):
        raise _fail("Het regelbestand moet een YAML-woordenboek zijn met o.a. 'categorieen:'.")
    known_top = {"versie", "normalisatie", "bouwstenen", "negatie", "figuurlijk", "categorieen"}
    unknown = set(data) - known_top
    if unknown:
        raise _fail(f"Onbekende sleutel(s) bovenaan: {', '.join(sorted(map(str, unknown)))}. "
                    f"Toegestaan: {', '.join(sorted(known_top))}.")

    macros_raw = data.get("bouwstenen") or {}
    if not isinstance(macros_raw, dict):
        raise _fail("'bouwstenen' moet een woordenboek zijn (NAAM: 'regex').")
    macros: dict[str, str] = {}
    for name, value in macros_raw.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise _fail(f"Bouwsteen '{name}': de naam moet uit HOOFDLETTERS bestaan (bv. IK).")
        if not isinstance(value, str):
            raise _fail(f"Bouwsteen '{name}' moet een tekst (regex) zijn.")
        macros[name] = value
    for name in macros:  # validate every macro on its own, for a precise message
        _compile(macros[name], f"bouwsteen {name}", macros)

    norm = data.get("normalisatie") or {}
    if not isinstance(norm, dict):
        raise _fail("'normalisatie' moet een woordenboek zijn.")
    repl_raw = norm.get("vervangingen") or {}
    if not isinstance(repl_raw, dict):
        raise _fail("'normalisatie.vervangingen' moet een woordenboek zijn (fout: goed).")
    replacements: dict[str, str] = {}
    for wrong, right in repl_raw.items():
        if not isinstance(wrong, str) or not isinstance(right, str) or not right.strip():
            raise _fail(f"Vervanging '{wrong}: {right}' is ongeldig: links en rechts moeten "
                        "woorden zijn (zet woorden als 'ja', 'nee', 'on' tussen aanhalingstekens).")
        key = _normalize_token(wrong)
        if key:
            replacements[key] = " ".join(_normalize_token(w) for w in right.split())

    neg = data.get("negatie") or {}
    if not isinstance(neg, dict):
        raise _fail("'negatie' moet een woordenboek zijn.")
    cues = frozenset(_normalize_token(str(w)) for w in _as_list(neg.get("woorden"),
                                                                   "negatie.woorden"))
    boundaries = frozenset(_normalize_token(str(w)) or str(w)
                           for w in _as_list(neg.get("grenzen"), "negatie.grenzen"))
    default_window = neg.get("venster", 3)
    if not isinstance(default_window, int) or isinstance(default_window, bool) \
            or not 0 <= default_window <= 10:
        raise _fail("'negatie.venster' moet een heel getal van 0 tot 10 zijn.")
    after = neg.get("venster_na", 0)
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= 10:
        raise _fail("'negatie.venster_na' moet een heel getal van 0 tot 10 zijn.")
    exempt = tuple(_compile(p, f"negatie.geen_negatie #{i + 1}", macros)
                   for i, p in enumerate(_as_list(neg.get("geen_negatie"),
                                                  "negatie.geen_negatie")))
    figurative = tuple(_compile(p, f"figuurlijk #{i + 1}", macros)
                       for i, p in enumerate(_as_list(data.get("figuurlijk"), "figuurlijk")))

    cats_raw = data.get("categorieen")
    if not isinstance(cats_raw, dict) or not cats_raw:
        raise _fail("'categorieen' ontbreekt of is leeg.")
    categories: list[_Category] = []
    for key, spec in cats_raw.items():
        if key not in FLAG_BY_KEY:
            raise _fail(f"Onbekende categorie '{key}'. Kies uit: {', '.join(TEXT_CATEGORIES)}.")
        if key in NON_TEXT_CATEGORIES:
            raise _fail(f"Categorie '{key}' wordt niet uit tekst herkend (een geplande taak "
                        "maakt die melding); haal hem uit het regelbestand.")
        if not isinstance(spec, dict):
            raise _fail(f"Categorie '{key}' moet een woordenboek zijn (woorden:, patronen:, ...).")
        allowed = {"negatie", "venster", "woorden", "patronen", "uitzonderingen",
                   "geruststelling", "ook_bij"}
        extra = set(spec) - allowed
        if extra:
            raise _fail(f"Categorie '{key}': onbekende sleutel(s) {', '.join(sorted(extra))}. "
                        f"Toegestaan: {', '.join(sorted(allowed))}.")
        negatable = spec.get("negatie", True)
        if not isinstance(negatable, bool):
            raise _fail(f"Categorie '{key}': 'negatie' moet true of false zijn.")
        window = spec.get("venster", default_window)
        if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 10:
            raise _fail(f"Categorie '{key}': 'venster' moet een heel getal van 0 tot 10 zijn.")
        triggers: list[_Trigger] = []
        for i, word in enumerate(_as_list(spec.get("woorden"), f"{key}.woorden")):
            where = f"categorie '{key}', woord #{i + 1}"
            triggers.append(_Trigger(_compile(_word_to_regex(word, where), where, macros),
                                     str(word), negatable))
        for i, item in enumerate(_as_list(spec.get("patronen"), f"{key}.patronen")):
            where = f"categorie '{key}', patroon #{i + 1}"
            item_negatable = negatable
            if isinstance(item, dict):
                if set(item) - {"patroon", "negatie"} or "patroon" not in item:
                    raise _fail(f"{where}: schrijf een patroon als tekst of als "
                                "{patroon: '...', negatie: false}.")
                item_negatable = item.get("negatie", negatable)
                if not isinstance(item_negatable, bool):
                    raise _fail(f"{where}: 'negatie' moet true of false zijn.")
                item = item["patroon"]
            triggers.append(_Trigger(_compile(item, where, macros), str(item), item_negatable))
        if not triggers:
            raise _fail(f"Categorie '{key}' heeft geen woorden en geen patronen.")
        exceptions = tuple(
            _compile(p, f"categorie '{key}', uitzondering #{i + 1}", macros)
            for i, p in enumerate(_as_list(spec.get("uitzonderingen"), f"{key}.uitzonderingen")))
        prefilter = re.compile("|".join(
            _KERN_GROUP.sub("(?:", t.regex.pattern) for t in triggers))
        reassurances = tuple(
            _compile(p, f"categorie '{key}', geruststelling #{i + 1}", macros)
            for i, p in enumerate(_as_list(spec.get("geruststelling"), f"{key}.geruststelling")))
        if reassurances and FLAG_BY_KEY[key].severity == "urgent":
            raise _fail(f"Categorie '{key}': een crisis kan niet weggenomen worden met een "
                        "geruststelling; gebruik 'uitzonderingen' voor een bepaalde zin.")
        along = []
        for i, item in enumerate(_as_list(spec.get("ook_bij"), f"{key}.ook_bij")):
            where = f"categorie '{key}', ook_bij #{i + 1}"
            if (not isinstance(item, dict) or set(item) != {"categorie", "als"}
                    or item["categorie"] not in TEXT_CATEGORIES or item["categorie"] == key):
                raise _fail(f"{where}: schrijf {{categorie: <een andere categorie>, als: "
                            "'<patroon>'}: deze categorie komt er dan bij als die andere "
                            "gevonden is en het bericht ook bij het patroon past.")
            along.append((str(item["categorie"]), _compile(str(item["als"]), where, macros)))
        categories.append(_Category(key, FLAG_BY_KEY[key].severity, tuple(triggers),
                                    exceptions, window, prefilter, reassurances,
                                    tuple(along)))
    categories.sort(key=lambda c: (_SEVERITY_RANK[c.severity], _CATEGORY_RANK[c.key]))
    return Rules(path, mtime_ns, tuple(categories), figurative, cues, boundaries, exempt,
                 replacements, after)


def rules_from_text(text: str, label: str = "regels") -> Rules:
    """Validate and compile rules held as text (a version saved in the portal)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(f"De regels zijn geen geldige YAML: {exc}") from exc
    return _parse_rules(data, Path(label), 0)


# The rules of the school being served (a version saved in the portal), set per request by
# the action server (bot.conversation.live_config) or for an evaluation; None: the detector's own
# file.
ACTIVE_RULES: ContextVar[Rules | None] = ContextVar("signal_rules", default=None)


def load_rules(path: Path | str | None = None) -> Rules:
    """Read, validate and compile a rules file. Raises RulesError (Dutch message)."""
    path = Path(path) if path is not None else SIGNAL_RULES_FILE
    try:
        mtime_ns = path.stat().st_mtime_ns
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"Het regelbestand {path} kan niet gelezen worden: {exc}.") from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise _fail(f"Het regelbestand {path} is geen geldige YAML: {exc}") from exc
    try:
        return _parse_rules(data, path, mtime_ns)
    except RulesError as exc:
        raise _fail(f"Fout in {path.name}: {exc}") from None


# --------------------------------------------------------------------------- normalisation


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def _normalize_token(token: str) -> str:
    """Lowercase, no accents/apostrophes, hyphen -> space, runs of 3+ letters -> 2."""
    t = _strip_accents(token.lower())
    t = re.sub(r"['’`´]", "", t)
    t = t.replace("-", " ")
    if any(c.isalpha() for c in t) and any(c.isdigit() for c in t) and not t[:1].isdigit():
        t = t.translate(_LEET)  # z3lfm00rd -> zelfmoord (not 1x, 20e, 12uur)
    t = _REPEAT_RE.sub(r"\1\1", t)
    return " ".join(t.split())


def normalize_text(text: str) -> str:
    """The normalised form of a whole text (used for rules words and in tests)."""
    return " ".join(filter(None, (_normalize_token(m.group()) for m in
                                  _TOKEN_RE.finditer(text))))


@dataclass
class _View:
    """Tokens of one view, joined by spaces, with a map back to the original text."""

    text: str
    tok_at: list[int]  # view char index -> token index (-1 at separators)
    spans: list[tuple[int, int]]  # token index -> (start, end) in the original text
    forms: list[str]  # token index -> normalised form
    starts: list[int]  # token index -> start in the original text

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        first = self.tok_at[start]
        last = self.tok_at[end - 1]
        return self.spans[first][0], self.spans[last][1]


def _build_view(items: Iterable[tuple[str, int, int]], replacements: dict[str, str]) -> _View:
    parts: list[str] = []
    tok_at: list[int] = []
    spans: list[tuple[int, int]] = []
    for form, start, end in items:
        norm = _normalize_token(form)
        if not norm:
            continue
        norm = " ".join(replacements.get(w, w) for w in norm.split())
        if parts:
            tok_at.append(-1)
        idx = len(spans)
        spans.append((start, end))
        parts.append(norm)
        tok_at.extend([idx] * len(norm))
    return _View(" ".join(parts), tok_at, spans, parts, [s for s, _ in spans])


def _surface_tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def _lemma_tokens(doc: Any) -> list[tuple[str, int, int]]:
    items = []
    for tok in doc:
        if tok.is_space:
            continue
        lemma = tok.lemma_ or tok.text
        if lemma.startswith("-") and lemma.endswith("-") and len(lemma) > 2:  # e.g. -PRON-
            lemma = tok.text
        items.append((lemma, tok.idx, tok.idx + len(tok.text)))
    return items


# --------------------------------------------------------------------------- the detector


class Detector:
    """Detects signals with the rules from one file; reloads the file when it changes."""

    def __init__(self, path: Path | str | None = None, *, nlp: Any = None,
                 use_nlp: bool = True, use_model: bool = False) -> None:
        self.path = Path(path) if path is not None else SIGNAL_RULES_FILE
        self.use_model = use_model
        self.last_error: str | None = None  # Dutch message of the last failed (re)load
        self._lock = threading.Lock()
        self._rules: Rules = load_rules(self.path)  # the first load must succeed
        self._checked_mtime = self._rules.mtime_ns
        self._nlp = nlp
        self._use_nlp = use_nlp and nlp is None
        self._nlp_failed = False
        self._components: list[Any] | None = None

    # -- rules ------------------------------------------------------------------------------

    @property
    def rules(self) -> Rules:
        """The current valid rules (reloaded first when the file changed)."""
        if (active := ACTIVE_RULES.get()) is not None:
            return active
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return self._rules  # file temporarily gone (editor save): keep the rules we have
        if mtime != self._checked_mtime:
            with self._lock:
                if mtime != self._checked_mtime:
                    self._checked_mtime = mtime
                    try:
                        self._rules = load_rules(self.path)
                        self.last_error = None
                        log.info("signals.rules_reloaded path=%s", self.path)
                    except RulesError as exc:
                        self.last_error = str(exc)
                        log.error("signals.rules_invalid: %s (de vorige regels blijven actief)",
                                  exc)
        return self._rules

    # -- spaCy --------------------------------------------------------------------------------

    def _pipeline(self) -> Any:
        if self._nlp is None and self._use_nlp and not self._nlp_failed:
            try:
                from bot.text.nlp import get_nlp

                self._nlp = get_nlp()
            except Exception as exc:  # missing pipeline, broken install: surface forms only
                self._nlp_failed = True
                log.warning("signals.nlp_unavailable: %s -- signalen worden alleen op woordvorm "
                            "herkend (zonder lemma's)", exc)
        return self._nlp

    def _analyse(self, text: str) -> Any:
        """One pass of the pipeline, without the components lemmas do not need."""
        nlp = self._pipeline()
        if nlp is None:
            return None
        try:
            if self._components is None:
                self._components = [proc for name, proc in nlp.pipeline
                                    if name not in _SKIP_COMPONENTS]
            doc = nlp.make_doc(text)
            for proc in self._components:
                doc = proc(doc)
            return doc
        except Exception:
            log.exception("signals.nlp_failed")
            return None

    # -- detection ------------------------------------------------------------------------------

    def detect(self, text: str, doc: Any = None) -> list[Signal]:
        """Signals in `text`: at most one per category, urgent first.

        `doc` may be a spaCy Doc of `text` made by the project's pipeline (e.g. the one Rasa's
        SpacyNLP already made); then no extra spaCy call is needed."""
        if not isinstance(text, str) or not text.strip():
            return []
        signals, vetoed, masked = self.rule_view(text, doc)
        if self.use_model:
            signals = _with_model(text, signals, vetoed, masked)
        return _along(self.rules, text, signals, vetoed)

    def rule_view(self, text: str, doc: Any = None) -> tuple[list[Signal], set[str], str]:
        """What the rules make of `text`: their signals; the categories whose explicit phrase
        they matched but judged figurative, an exception or negated (the model may not
        overrule that); and the text with figurative expressions masked (what the model
        scores, so that "ik lag dood van het lachen" cannot raise a flag on its own)."""
        rules = self.rules
        surface = _build_view(_surface_tokens(text), rules.replacements)
        views = [surface]
        if doc is None or getattr(doc, "text", None) != text:
            doc = self._analyse(text)
        if doc is not None:
            lemma_view = _build_view(_lemma_tokens(doc), rules.replacements)
            if lemma_view.text != surface.text:
                views.append(lemma_view)

        figurative = _spans(rules.figurative, views)
        exempt_tokens = self._exempt_tokens(rules, surface)
        signals: list[Signal] = []
        vetoed: set[str] = set()
        for cat in rules.categories:
            hit = self._match_category(cat, rules, text, views, surface, figurative,
                                       exempt_tokens, vetoed)
            if hit is not None:
                start, end = hit
                signals.append(Signal(cat.key, cat.severity, text[start:end], (start, end)))
            elif any(r.search(view.text) for r in cat.reassurances for view in views):
                vetoed.add(cat.key)
        masked = mask_spans(text, figurative)
        if figurative and len(masked.split()) < MIN_MASKED_WORDS:
            masked = ""  # little left but the figure of speech: nothing for the model
        return signals, vetoed - {s.category for s in signals}, masked

    @staticmethod
    def _exempt_tokens(rules: Rules, surface: _View) -> set[int]:
        """Surface tokens whose negation cue does not count ("niet alleen", ...)."""
        exempt: set[int] = set()
        for regex in rules.negation_exempt:
            for m in regex.finditer(surface.text):
                exempt.update(i for i in surface.tok_at[m.start():m.end()] if i >= 0)
        return exempt

    def _match_category(self, cat: _Category, rules: Rules, text: str, views: list[_View],
                        surface: _View, figurative: list[tuple[int, int]],
                        exempt_tokens: set[int],
                        vetoed: set[str] | None = None) -> tuple[int, int] | None:
        """The best evidence span of `cat`, or None. A trigger that matched but was judged
        figurative, an exception or negated adds the category to `vetoed`: the rules saw the
        explicit phrase and decided, so the model does not overrule them."""
        if not any(cat.prefilter.search(view.text) for view in views):
            return None
        exceptions: list[tuple[int, int]] | None = None
        best: tuple[int, int] | None = None
        for trig in cat.triggers:
            for view in views:
                for m in trig.regex.finditer(view.text):
                    if m.end() <= m.start():
                        continue
                    span = view.original_span(m.start(), m.end())
                    if best is not None and span[0] >= best[0] \
                            and not (span[0] == best[0] and span[1] > best[1]):
                        continue  # we already have an earlier (or longer) piece of evidence
                    if _overlaps(span, figurative):
                        if vetoed is not None:
                            vetoed.add(cat.key)
                        continue
                    if exceptions is None:
                        exceptions = _spans(cat.exceptions, views)
                    if _overlaps(span, exceptions):
                        if vetoed is not None:
                            vetoed.add(cat.key)
                        continue
                    if trig.negatable and cat.negation_window:
                        kern = m.start("kern") if "kern" in trig.regex.groupindex \
                            and m.start("kern") >= 0 else m.start()
                        anchor = view.original_span(kern, m.end())[0]
                        after = rules.negation_after if cat.severity == "attention" else 0
                        if (_negated(anchor, surface, rules, cat.negation_window, exempt_tokens)
                                or _negated(view.original_span(m.start(), m.end())[1],
                                            surface, rules, after, exempt_tokens, after=True)):
                            if vetoed is not None:
                                vetoed.add(cat.key)
                            continue
                    best = span
        return best


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` without the given spans (figurative expressions): what the model scores."""
    if not spans:
        return text
    out, last = [], 0
    for start, end in sorted(spans):
        if start >= last:
            out.append(text[last:start])
            last = end
        else:
            last = max(last, end)
    out.append(text[last:])
    return " ".join("".join(out).split())


# A message this short names a topic ("stage", "mijn ouders") rather than a concern: the
# learned model alone raises no attention flag on it, and on a crisis it asks first (the check
# question) instead of raising the alarm: one or two words ("binnenkort" to "Wanneer ga je dit
# doen?") are too little for the model to be sure. The rules still see every word.
MODEL_ATTENTION_MIN_WORDS = 3


def _with_model(text: str, signals: list[Signal], vetoed: set[str],
                masked: str) -> list[Signal]:
    """Rules ∪ model: the model adds what the rules missed (never removes a rule's find),
    except where the rules matched an explicit phrase and judged it figurative or negated
    (`vetoed`). Figurative expressions are masked before the model scores the text ("ik lag
    dood van het lachen" -> "ik ... "), so they cannot raise a flag on their own.
    Crisis below the alarm threshold but in the unsure band becomes an unsure signal.

    A message that carries one concern is read clause by clause for the others: a second or
    third concern said in passing ("... en thuis willen ze dat ik stop") scores low for the whole
    message, whose other words are about the first. Measured on blind set v22 after its scoring
    (301 of its 552 messages with a concern carry two to four), with a model trained without it:
    discriminatie 0.69 -> 0.80, druk_omgeving 0.75 -> 0.87, uitval 0.68 -> 0.93,
    zelfvertrouwen 0.75 -> 0.91, precision 0.929 -> 0.910, no more false alarms on its
    negatives and no more flags on the conversation sets' 6,742 ordinary answers. Read so for
    every message, the same rule cost 0.03 precision on v21 and about 95 more flags on those
    answers. Not beside a crisis alone: the crisis reply and its urgent flag already bring the
    mentor, and the writers of v23 and v24 labelled such messages crisis only (after their
    scoring: precision 0.893 -> 0.909 and 0.894 -> 0.909 at the same recall; on v22 druk_omgeving
    0.87 -> 0.84, uitval 0.93 -> 0.88)."""
    from bot.text.signal_model import get_model

    model = get_model()
    if model is None:
        return signals
    found = {s.category for s in signals}
    if not masked.strip():
        return signals
    signals = _not_denied(model, masked, signals)
    scores = model.scores(masked)
    added: list[Signal] = []

    def located(category: str, severity: str, unsure: bool = False) -> Signal:
        evidence = model.evidence(masked, category)
        start = text.find(evidence)
        if start < 0:  # masking changed the spacing: point at the whole message
            evidence, start = text.strip()[:200], text.find(text.strip()[:200])
        return Signal(category, severity, evidence, (start, start + len(evidence)),
                      source="model", unsure=unsure)

    short = len(re.findall(r"\w+", masked)) < MODEL_ATTENTION_MIN_WORDS
    for category, score in scores.items():
        if category in found or category in vetoed:
            continue
        severity = FLAG_BY_KEY[category].severity
        if short and severity != "urgent":
            continue  # "stage", "geld": a topic, not yet a concern (the rules still see it)
        if score >= model.thresholds.alarm[category]:
            if (category == "crisis" and not short and model.clause_score(
                    masked, category, score) < model.thresholds.alarm[category]):
                # The crisis reply itself only when one clause carries it; said across
                # clauses, the check question asks first. Held out one writers' set at a
                # time (v12-v14), this kept the crisis reply off 6 of the 8-9 ordinary answers
                # of the conversation sets that got it, at the same crisis recall.
                added.append(located(category, "attention", unsure=True))
                continue
            added.append(located(category, "attention", unsure=True) if short
                         else located(category, severity))
        elif category == "crisis" and _crisis_unsure(model, masked, score):
            added.append(located(category, "attention", unsure=True))
    if any(s.category != "crisis" for s in signals + added) and not short:
        have = found | vetoed | {s.category for s in added}
        for category, best in model.clause_scores(masked).items():
            if (category not in have and FLAG_BY_KEY[category].severity == "attention"
                    and best >= model.thresholds.alarm[category]):
                added.append(located(category, "attention"))
    if not added:
        return signals
    merged = signals + _not_denied(model, masked, added)
    merged.sort(key=lambda s: (s.unsure, _SEVERITY_RANK[s.severity], _CATEGORY_RANK[s.category]))
    return merged


# A clause this sure of a crisis asks the check question even when the message as a whole
# scores low: a crisis said in passing inside an ordinary answer ("wat moet ik invullen bij
# hobby's? ... nu snij ik alleen nog in mezelf"), whose other words pull the whole down. Measured
# on the blind sets v19, v20 and v21 after their scoring, each with a model trained without it:
# 1, 0 and 4 more crises caught (v21: 0.845 -> 0.872), 1-2 more false alarms on their
# negatives, 2-3 more check questions on the 6,742 ordinary answers of the conversation sets.
CRISIS_CLAUSE_ALONE = 0.85
# A whole message this sure of a crisis asks the check question without a clause that is: an
# explicit crisis told across clauses ("ik lag in het ziekenhuis na een poging", "ik verwacht niet
# dat ik 20 word"), each clause too short to carry it. Measured on blind set v22 after its scoring
# with a model trained without it: crisis 0.879 -> 0.929, check questions on the 6,742 ordinary
# answers of the conversation sets 26 -> 56 (0.8 %), 5 more false alarms on its negatives; from
# 0.7: 0.939 at 70 check questions.
CRISIS_WHOLE_ALONE = 0.8


def _crisis_unsure(model: Any, masked: str, score: float) -> bool:
    """Whether a crisis score below the alarm asks the check question: the whole message sure
    enough on its own (CRISIS_WHOLE_ALONE); or in the unsure band and one clause too (not a long
    ordinary answer whose many small words add up to a middling score; waiving this from 0.55
    caught four crises of blind set v12 said across clauses but doubled the check questions on
    the conversation sets' ordinary answers); or one clause sure of it on its own
    (CRISIS_CLAUSE_ALONE)."""
    if score >= CRISIS_WHOLE_ALONE:
        return True
    unsure = model.thresholds.crisis_unsure
    clause = model.clause_score(masked, "crisis", score)
    return clause >= unsure if score >= unsure else clause >= CRISIS_CLAUSE_ALONE


def _not_denied(model: Any, text: str, signals: list[Signal]) -> list[Signal]:
    """Without the attention flags of a message that denies its concern or tells it of
    someone else (bot.text.signal_model's denial gate; a rule's negation window misses "ik heb
    nooit last gehad van discriminatie"). Never a crisis: that stays recall-first."""
    from bot.text.signal_model import DENIAL_THRESHOLD

    if not any(s.severity == "attention" and s.category != "crisis" for s in signals):
        return signals
    if model.denied(text) < DENIAL_THRESHOLD:
        return signals
    return [s for s in signals if s.severity != "attention" or s.category == "crisis"]


def _along(rules: Rules, text: str, signals: list[Signal], vetoed: set[str]) -> list[Signal]:
    """Add the categories that come along with a find (`ook_bij`), on the find's evidence."""
    found = {s.category: s for s in signals if not s.unsure}
    wanted = [(cat, found[other]) for cat in rules.categories if cat.key not in found
              and cat.key not in vetoed for other, _ in cat.along if other in found]
    if not wanted:
        return signals
    normal = normalize_text(text)
    added: dict[str, Signal] = {}
    for cat, source in wanted:
        if cat.key not in added and any(other == source.category and regex.search(normal)
                                        for other, regex in cat.along):
            added[cat.key] = replace(source, category=cat.key,
                                     severity=cat.severity)
    if not added:
        return signals
    merged = signals + list(added.values())
    merged.sort(key=lambda s: (s.unsure, _SEVERITY_RANK[s.severity], _CATEGORY_RANK[s.category]))
    return merged


def _spans(regexes: Sequence[re.Pattern[str]], views: list[_View]) -> list[tuple[int, int]]:
    out = []
    for regex in regexes:
        for view in views:
            out.extend(view.original_span(m.start(), m.end())
                       for m in regex.finditer(view.text) if m.end() > m.start())
    return out


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e in others)


_NO_ANSWER = frozenset(("nee", "neej", "nope", "nah", "neuh", "nooit"))


def _negated(anchor: int, surface: _View, rules: Rules, window: int,
             exempt_tokens: set[int], after: bool = False) -> bool:
    """Is there a negation cue within `window` tokens before `anchor` (or, `after`, from
    `anchor` on), in the same clause?"""
    # Surface token index of the first token starting at/after the anchor.
    idx = bisect.bisect_left(surface.starts, anchor)
    forms = surface.forms
    steps = (range(idx, min(idx + window, len(forms))) if after
             else range(idx - 1, max(idx - 1 - window, -1), -1))
    for i in steps:
        form = forms[i]
        if form in rules.boundaries:
            # "discriminatie? nee, niet bij ons": the student answers their own question no.
            return after and form == "?" and i + 1 < len(forms) and forms[i + 1] in _NO_ANSWER
        if i not in exempt_tokens and any(w in rules.negation_cues for w in form.split()):
            if not after and i < idx - 1 and _in_condition(forms, i):
                continue  # "als ik niet kom slaat hij me": it negates the condition's verb
            return True
    return False


_CONDITIONS = frozenset({"als", "wanneer", "zodra", "tenzij", "indien"})


def _in_condition(forms: list[str], negation: int) -> bool:
    """Does the negation stand in a condition that opens at most three words before it
    ("als ik niet kom")? Then the find after the condition's verb is not negated."""
    return any(forms[j] in _CONDITIONS for j in range(max(0, negation - 3), negation))


# --------------------------------------------------------------------------- module API

_default: Detector | None = None
_default_lock = threading.Lock()


def get_detector() -> Detector:
    """The process-wide detector for data/signals/rules.yml (created on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from bot.config import settings

                cfg = settings()
                _default = Detector(SIGNAL_RULES_FILE, use_nlp=cfg.signals_use_nlp,
                                    use_model=cfg.signals_use_model)
    return _default


def detect(text: str, doc: Any = None) -> list[Signal]:
    """Flag categories raised by a student message: at most one Signal per category, urgent
    first. Works without a server, a Rasa model or (with a warning) the spaCy pipeline."""
    return get_detector().detect(text, doc=doc)
