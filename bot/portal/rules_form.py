"""The flag rules (data/signals/rules.yml) as a form for the portal: per category its phrases
(`woorden`) and exceptions (`uitzonderingen`), one per line; and what a change does on the
project's evaluation sets (eval.yml and dev.yml; never the frozen blind sets) before it is
saved. A change that lowers crisis recall is refused."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from bot.paths import SIGNAL_RULES_FILE
from bot.portal import yaml_roundtrip
from bot.taxonomy import FLAG_BY_KEY
from bot.text import signals
from bot.text.signals_eval import DEV_FILE, EVAL_FILE, Report, evaluate, load_examples

PARTS = {"woorden": "Woorden en zinnen", "uitzonderingen": "Uitzonderingen"}
MAX_LINES = 500
MAX_LINE = 2000  # a bound against abuse; the shipped exceptions hold regexes of ~300 characters


@dataclass(frozen=True)
class CategoryFields:
    key: str
    label: str
    severity: str
    values: dict[str, list[str]]  # part -> lines
    patterns: int  # regular expressions kept in the file (not edited here)


def fields(content: str) -> list[CategoryFields]:
    doc = yaml_roundtrip.load(content)
    out = []
    for key, spec in (doc.get("categorieen") or {}).items():
        flag = FLAG_BY_KEY.get(str(key))
        values = {part: [str(v) for v in (spec.get(part) or []) if isinstance(v, str)]
                  for part in PARTS}
        out.append(CategoryFields(str(key), flag.title if flag else str(key),
                                  flag.severity if flag else "", values,
                                  len(spec.get("patronen") or [])))
    return out


def _lines(text: str, key: str, part: str, bounded: bool = True) -> list[str]:
    """The non-empty lines of a text area, without duplicates. Raises signals.RulesError
    (Dutch, naming the line) past MAX_LINES lines or for a line longer than MAX_LINE:
    refused, never cut, so a coordinator's rule is never saved other than as typed."""
    flag = FLAG_BY_KEY.get(key)
    where = f"Bij “{flag.title if flag else key}” ({PARTS[part].lower()})"
    seen: list[str] = []
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        count += 1
        if bounded and count > MAX_LINES:
            raise signals.RulesError(
                f"{where}, regel {number}: er mogen hoogstens {MAX_LINES} regels in dit vak "
                "staan. Haal regels weg; lege regels tellen niet mee.")
        if bounded and len(line) > MAX_LINE:
            raise signals.RulesError(
                f"{where}, regel {number}: deze regel is {len(line)} tekens lang, het "
                f"maximum is {MAX_LINE} tekens. Maak de regel korter of verdeel hem over "
                "meer regels.")
        if line not in seen:
            seen.append(line)
    return seen


def apply(content: str, form: Any, *, bounded: bool = True) -> tuple[str, list[str]]:
    """The rules `content` with the form's phrases and exceptions; and what changed, in
    Dutch. Lists are changed in place, so comments in the file stay where they were.
    Raises signals.RulesError (Dutch) for too many or too long lines; `bounded=False` only
    to show a refused form back as typed (the request size still bounds it)."""
    doc = yaml_roundtrip.load(content)
    changes = []
    for key, spec in (doc.get("categorieen") or {}).items():
        for part in PARTS:
            name = f"{key}.{part}"
            if name not in form:
                continue
            new = _lines(str(form.get(name) or ""), str(key), part, bounded)
            old = [str(v) for v in (spec.get(part) or [])]
            added = [v for v in new if v not in old]
            removed = [v for v in old if v not in new]
            if not added and not removed:
                continue
            if part not in spec or spec[part] is None:
                spec[part] = []
            seq = spec[part]
            for i in reversed(range(len(seq))):
                if str(seq[i]) in removed:
                    del seq[i]
            seq.extend(added)
            what = ", ".join(x for x in (f"{len(added)} erbij" if added else "",
                                         f"{len(removed)} weg" if removed else "") if x)
            changes.append(f"{key}: {PARTS[part].lower()} {what}")
    return yaml_roundtrip.dump(doc), changes


# --- what a change does on the evaluation sets --------------------------------------------


@dataclass(frozen=True)
class Changed:
    text: str
    set_name: str
    started: frozenset[str]  # categories the message raises after the change, not before
    stopped: frozenset[str]
    expected: frozenset[str]


@dataclass
class Impact:
    before: dict[str, Report]  # per set name
    after: dict[str, Report]
    changed: list[Changed] = field(default_factory=list)

    def crisis_lower(self) -> list[tuple[str, float, float]]:
        """(set, before, after) for every set where crisis recall goes down."""
        return [(name, self.before[name].crisis_recall, self.after[name].crisis_recall)
                for name in self.before
                if self.after[name].crisis_recall < self.before[name].crisis_recall]


SETS = (("eval.yml", EVAL_FILE), ("dev.yml", DEV_FILE))
_results_lock = threading.Lock()
_results: OrderedDict[str, dict[str, list[Any]]] = OrderedDict()  # content -> text -> signals
MAX_CACHED = 4  # the rules in use and the last few changes checked


def _detect_all(rules: signals.Rules | None, texts: list[str]) -> dict[str, list[Any]]:
    """Signals per text with these rules (None: the rules file); the learned model and the
    Dutch pipeline are the running detector's own."""
    detector = signals.get_detector()
    token = signals.ACTIVE_RULES.set(rules)
    try:
        return {text: detector.detect(text) for text in dict.fromkeys(texts)}
    finally:
        signals.ACTIVE_RULES.reset(token)


def _cached(key: str, rules: signals.Rules | None, texts: list[str]) -> dict[str, list[Any]]:
    """Signals per text for the rules of `key` (a check and then its save: one run)."""
    with _results_lock:
        if key in _results:
            _results.move_to_end(key)
            return _results[key]
    found = _detect_all(rules, texts)
    with _results_lock:
        _results[key] = found
        while len(_results) > MAX_CACHED:
            _results.popitem(last=False)
    return found


def impact(old_content: str | None, new_content: str) -> Impact:
    """Run the detector with the rules in use (`old_content`; None: the file) and with the
    changed rules over both evaluation sets. Slow (seconds): run it off the event loop.
    Raises signals.RulesError (Dutch) when the new rules are invalid."""
    new_rules = signals.rules_from_text(new_content, "nieuwe regels")
    old_rules = signals.rules_from_text(old_content, "huidige regels") if old_content else None
    examples = {name: load_examples(path) for name, path in SETS}
    texts = [ex.text for exs in examples.values() for ex in exs]
    before = _cached(old_content or f"file:{SIGNAL_RULES_FILE.stat().st_mtime_ns}", old_rules,
                     texts)
    after = _cached(new_content, new_rules, texts)
    result = Impact({}, {})
    for name, exs in examples.items():
        result.before[name] = evaluate(exs, lambda t: before.get(t, []))
        result.after[name] = evaluate(exs, lambda t: after.get(t, []))
        for ex in exs:
            was = frozenset(s.category for s in before[ex.text])
            now = frozenset(s.category for s in after[ex.text])
            if was != now:
                result.changed.append(Changed(ex.text, name, now - was, was - now, ex.expected))
    return result
