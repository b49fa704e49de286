"""The conversation script as the fields of a form (the portal's conversation editor), and the
form back into the script: wording, the order of a step's questions, switching questions and
whole steps on or off, adding and removing questions, and whether a step ends with a summary
check. None of it needs retraining: the Rasa model names no question (bot.conversation.form_events).

A text is shown per variant (standaard, vmbo, mbo, and mbo-bol / mbo-bbl when the script has
them), one message per line. Texts written in a shape the form cannot show (a list that mixes
variants per message) are left as they are."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.conversation.script import ALTERNATIVES, KEY_PATTERN, REQUIRED_ROLES, RESERVED_KEYS
from bot.portal import yaml_roundtrip
from bot.taxonomy import LEVELS

BASE_VARIANTS = ("standaard", "vmbo", "mbo")
ALL_VARIANTS = (*BASE_VARIANTS, *(level for level in LEVELS if level not in BASE_VARIANTS))
STEP_NAMES = {"terugkijken": "Stap 1: terugkijken", "reflecteren": "Stap 2: reflecteren",
              "vooruitkijken": "Stap 3: vooruitkijken", "activeren": "Stap 4: activeren"}
CONDITION_NAMES = {
    "vorig_plan": "alleen als de student vorige keer een plan maakte",
    "vorige_ervaring": "alleen als de student al eerder een gesprek had",
    "vorige_stap_gelukt": "alleen als de vorige stap gelukt is",
    "vorige_stap_niet_gelukt": "alleen als de vorige stap niet (helemaal) gelukt is",
    "vorig_inzicht": "alleen als de student vorige keer een inzicht een naam gaf",
    "ervaring_werk": "alleen bij werk, stage, meelopen of een project (niet bij een bezoek)",
    "ervaring_bezoek": "alleen bij een bezoek: bedrijfsbezoek, gastles, open dag, ...",
    "goed_zonder_hoe": "alleen als het antwoord op 'wat deed je goed?' nog niet zegt hoe",
    "leuk_zonder_reden": "alleen als het antwoord op 'wat vond je leuk?' nog geen reden geeft",
    "niveau_onbekend": "alleen als het niveau van de student nergens is ingevuld",
}
PART_NAMES = {"tekst": "Vraag", "uitleg": "Uitleg", "voorbeeld": "Voorbeeld",
              "doorvragen.0": "Doorvraag 1", "doorvragen.1": "Doorvraag 2"}
# A question a coordinator adds: stappen.<step>.nieuw.<part>|standaard. Its key is made from
# its text (the words that carry meaning), unique in the script.
NEW = "nieuw"
NEW_PARTS = ("tekst", "uitleg", "voorbeeld")
REMOVE = "weg"  # stappen.<step>.vragen.<i>.weg = "weg": take the question out
_KEY_SKIP = frozenset((
    "wat", "hoe", "wie", "waar", "wanneer", "waarom", "welke", "welk", "waarmee", "je", "jij",
    "jou", "jouw", "de", "het", "een", "is", "was", "ben", "bent", "heb", "heeft", "had", "hebt",
    "kun", "kan", "kon", "wil", "wilde", "zou", "zal", "er", "daar", "dat", "dit", "die", "toen",
    "en", "of", "in", "op", "bij", "met", "van", "voor", "naar", "over", "aan", "om", "te", "tot"))
# The word lists of `verdieping`: which questions fit the student's answers.
WORD_LISTS = (
    ("verdieping.bezoek", "Woorden voor een bezoek (dan vraagt de coach wat de student zag of "
                          "hoorde, niet wat die zelf deed)"),
    ("verdieping.ervaring", "Woorden waarmee een student in het eerste bericht al een ervaring "
                            "noemt"),
    ("verdieping.hoe", "Woorden die al zeggen hoe (dan geen 'Hoe deed je dat?')"),
    ("verdieping.reden", "Woorden die al een reden geven (dan geen 'Waarom vond je dat?')"),
    ("niveau_herkennen.vmbo", "Woorden waaraan de coach 'vmbo' herkent (als het niveau "
                              "gevraagd wordt)"),
    ("niveau_herkennen.mbo-bbl", "Woorden waaraan de coach 'mbo bbl' herkent"),
    ("niveau_herkennen.mbo-bol", "Woorden waaraan de coach 'mbo bol' herkent"),
)
OTHER_TEXTS = (
    (("teksten", "privacy_eerste_keer"), "Privacy: wat de student bij het eerste gesprek leest"),
    (("teksten", "afronden_met_plan"), "Afronden met het plan: de laatste zin, met {dag} (de dag "
                                       "van het plan) en {wat} (de eerste stap)"),
    (("teksten", "afronden"), "Afronden: het einde van het gesprek als er geen stap of dag is"),
    (("signalen", "crisis"), "Crisis: de tekst met hulpnummers (de nummers moeten blijven)"),
)


@dataclass(frozen=True)
class TextField:
    name: str  # the form's field name (a path: stappen.terugkijken.vragen.1.tekst)
    label: str
    variants: dict[str, str]  # variant -> the messages, one per line
    editable: bool = True
    optional: bool = False  # may be left empty (a probe)
    words: bool = False  # a word list (one word or phrase per line), not a text


@dataclass(frozen=True)
class QuestionFields:
    key: str
    condition: str | None
    enabled: bool
    may_switch: bool
    texts: tuple[TextField, ...]


@dataclass(frozen=True)
class StepFields:
    key: str
    title: str
    intro: TextField
    questions: tuple[QuestionFields, ...]
    summary: tuple[TextField, ...]
    enabled: bool = True
    may_switch: bool = True  # False when a question the conversation needs is in this step
    check: bool = True


def _path(name: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in name.split(".")]


def _get(doc: Any, name: str) -> Any:
    node = doc
    for part in _path(name):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _lines(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def variants_of(value: Any) -> dict[str, str] | None:
    """A text as variant -> lines; None when the form cannot show it. Forms that take turns
    (`afwisselen`) are one field: the forms apart by an empty line, a form's messages one per
    line."""
    if value is None:
        return {}
    if isinstance(value, dict) and set(value) == {ALTERNATIVES}:
        forms = value[ALTERNATIVES] if isinstance(value[ALTERNATIVES], list) else [
            value[ALTERNATIVES]]
        lines = [_lines(form) for form in forms]
        if not forms or any(form is None for form in lines):
            return None  # per-level forms: only in the file
        return {ALTERNATIVES: "\n\n".join("\n".join(form) for form in lines if form)}
    if isinstance(value, str):
        return {"standaard": value}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {"standaard": "\n".join(value)}
    if isinstance(value, dict) and all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
            for v in value.values()):
        return {str(k): v if isinstance(v, str) else "\n".join(v) for k, v in value.items()}
    return None


def value_of(variants: dict[str, str]) -> Any:
    """The text a form's variants make: one line a string, more lines a list, per variant a
    dictionary; "" when everything is empty. Forms that take turns stay `afwisselen` (one form
    left: a plain text)."""
    if ALTERNATIVES in variants:
        blocks = re.split(r"\n\s*\n", variants[ALTERNATIVES].replace("\r\n", "\n"))
        forms = [[line.strip() for line in block.splitlines() if line.strip()]
                 for block in blocks]
        shaped = [form[0] if len(form) == 1 else form for form in forms if form]
        if len(shaped) > 1:
            return {ALTERNATIVES: shaped}
        return shaped[0] if shaped else ""
    lines = {k: [line.strip() for line in v.splitlines() if line.strip()]
             for k, v in variants.items()}
    lines = {k: v for k, v in lines.items() if v}
    if not lines:
        return ""
    shaped = {k: v[0] if len(v) == 1 else v for k, v in lines.items()}
    return shaped["standaard"] if set(shaped) == {"standaard"} else shaped


def _text(doc: Any, name: str, label: str, optional: bool = False) -> TextField:
    variants = variants_of(yaml_roundtrip.plain(_get(doc, name)))
    return TextField(name, label, variants or {}, variants is not None, optional)


def fields(doc: Any) -> tuple[list[StepFields], list[TextField]]:
    """The form's fields of a script document."""
    steps = []
    for step_key, step in doc["stappen"].items():
        where = f"stappen.{step_key}"
        questions = []
        for i, q in enumerate(step["vragen"]):
            qwhere = f"{where}.vragen.{i}"
            texts = tuple(_text(doc, f"{qwhere}.{part}", PART_NAMES[part],
                                optional=part.startswith("doorvragen"))
                          for part in PART_NAMES)
            questions.append(QuestionFields(str(q["key"]), q.get("alleen_bij"),
                                            q.get("aan", True) is not False,
                                            q.get("doel") not in REQUIRED_ROLES, texts))
        summary = [_text(doc, f"{where}.samenvatting.kop", "Samenvatting: kop")]
        summary += [_text(doc, f"{where}.samenvatting.regels.{slot}",
                          f"Samenvatting: regel bij {slot}")
                    for slot in step["samenvatting"]["regels"]]
        summary.append(_text(doc, f"{where}.samenvatting.vraag", "Samenvatting: vraag"))
        steps.append(StepFields(
            str(step_key), STEP_NAMES.get(str(step_key), str(step_key)),
            _text(doc, f"{where}.intro", "Intro van de stap"), tuple(questions), tuple(summary),
            enabled=step.get("aan", True) is not False,
            may_switch=all(q.may_switch for q in questions),
            check=step.get("controle", True) is not False))
    others = [_text(doc, ".".join(path), label) for path, label in OTHER_TEXTS]
    others += [_words(doc, name, label) for name, label in WORD_LISTS
               if isinstance(_get(doc, name), list)]
    return steps, others


def _words(doc: Any, name: str, label: str) -> TextField:
    words = [str(w) for w in yaml_roundtrip.plain(_get(doc, name)) or []]
    return TextField(name, label, {"standaard": "\n".join(words)}, words=True)


def _typed_words(form: Any, field: TextField) -> list[str]:
    typed = str(form.get(f"{field.name}|standaard", "") or "")
    return list(dict.fromkeys(line.strip() for line in typed.splitlines() if line.strip()))


def _set(doc: Any, name: str, value: Any) -> None:
    *parents, last = _path(name)
    node = doc
    for part in parents:
        node = node[part]
    node[last] = value


def _typed(form: Any, field: TextField) -> Any:
    if ALTERNATIVES in field.variants:
        return value_of({ALTERNATIVES: str(form.get(f"{field.name}|{ALTERNATIVES}", "") or "")})
    return value_of({v: str(form.get(f"{field.name}|{v}", "") or "")
                     for v in (*ALL_VARIANTS, *field.variants)})


def _changed_label(name: str, label: str) -> str:
    parts = name.split(".")
    return label.split(":")[0].lower() if parts[0] != "stappen" else (
        f"{label.lower()} ({parts[1]})")


def _by_key(form: Any, doc: Any) -> dict[str, Any]:
    """The form with its question fields numbered as in `doc`. A form shown after a preview
    lists the questions in their new order; each question's hidden `key` field says which
    question a block of fields belongs to."""
    typed = {str(name): form.get(name) for name in form}
    renamed = dict(typed)
    for step_key, step in doc["stappen"].items():
        index = {str(q["key"]): i for i, q in enumerate(step["vragen"])}
        moves = {}
        where = f"stappen.{step_key}.vragen"
        # The form's blocks: one more per added question, one fewer per removed one.
        blocks = [int(m.group(1)) for name in typed
                  if (m := re.fullmatch(re.escape(where) + r"\.(\d+)\.key", name))]
        for j in blocks:
            key = typed.get(f"{where}.{j}.key")
            if key in index and index[key] != j:
                moves[f"{where}.{j}."] = f"{where}.{index[key]}."
        if not moves:
            continue
        for name in [n for n in renamed if n.startswith(f"stappen.{step_key}.vragen.")]:
            del renamed[name]
        for name, value in typed.items():
            prefix = next((p for p in moves if name.startswith(p)), None)
            if prefix is not None:
                renamed[moves[prefix] + name[len(prefix):]] = value
            elif name.startswith(f"stappen.{step_key}.vragen."):
                renamed[name] = value
    return renamed


def _key_for(text: str, taken: set[str]) -> str:
    """A key for a new question from its text: "Wat was je eerste indruk?" ->
    "eerste_indruk"; a number is added when the script has it already."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    words = [w for w in re.findall(r"[a-z]+", folded) if w not in _KEY_SKIP and len(w) > 1]
    base = "_".join(words[:3])[:32].strip("_") or "vraag"
    if not KEY_PATTERN.match(base) or base in RESERVED_KEYS or base.endswith("_check"):
        base = f"vraag_{base}"[:32]
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _added_and_removed(form: dict[str, Any], doc: Any,
                       changes: list[str]) -> tuple[dict[str, Any], set[str]]:
    """Questions added and removed, put into `doc` before the form's texts are applied; the
    form without the fields of removed questions, and the keys added.

    Removed: ticked `weg`, or missing from a form that lists the step's questions (removed on
    the page before a preview). Added: the new-question fields of a step, or a question block
    whose key the version does not have (added before a preview). An added question enters
    `doc` with empty texts and a block of fields, which then fill it in like any question's.
    The questions a conversation needs are never removed."""
    taken = {str(q["key"]) for step in doc["stappen"].values() for q in step["vragen"]}
    required = {str(q["key"]) for step in doc["stappen"].values() for q in step["vragen"]
                if q.get("doel") in REQUIRED_ROLES}
    added: set[str] = set()
    for step_key, step in doc["stappen"].items():
        where = f"stappen.{step_key}.vragen"
        blocks: dict[str, int] = {}
        while f"{where}.{len(blocks)}.key" in form:
            blocks[str(form[f"{where}.{len(blocks)}.key"])] = len(blocks)
        dropped = {j for key, j in blocks.items() if form.get(f"{where}.{j}.{REMOVE}") == REMOVE
                   and key not in required}
        typed = {part: str(form.get(f"stappen.{step_key}.{NEW}.{part}|standaard", "") or "")
                 for part in NEW_PARTS}
        if blocks and typed["tekst"].strip():
            key = _key_for(typed["tekst"], taken | set(blocks))
            j = len(blocks)
            blocks[key] = j
            form.update({f"{where}.{j}.key": key, f"{where}.{j}.aan": "aan",
                         **{f"{where}.{j}.{part}|standaard": text
                            for part, text in typed.items()}})
        if not blocks:
            continue
        original = [str(q["key"]) for q in step["vragen"]]
        for q in list(step["vragen"]):
            key = str(q["key"])
            if key not in required and (key not in blocks or blocks[key] in dropped):
                step["vragen"].remove(q)
                step["samenvatting"]["regels"].pop(key, None)
                changes.append(f"vraag '{key}' weggehaald")
        known = {str(q["key"]) for q in step["vragen"]}
        step_added = False
        for key, j in blocks.items():
            if j not in dropped and key not in known and key not in taken and KEY_PATTERN.match(
                    key):
                step["vragen"].append({"key": key, **{part: "" for part in NEW_PARTS}})
                taken.add(key)
                added.add(key)
                step_added = True
                changes.append(f"vraag '{key}' toegevoegd")
        current = [str(q["key"]) for q in step["vragen"]]
        if step_added or current != original:
            # The questions shift, so the order is settled here from the form's blocks: their
            # chosen places, else where they stand on the page (after a preview: the new
            # order). Needed questions a form left out stay at the end.
            kept = [(key, j) for key, j in blocks.items() if j not in dropped and key in current]
            ordered = [key for key, j in sorted(kept, key=lambda kj: _position(
                form.get(f"{where}.{kj[1]}.plaats"), kj[1]))]
            ordered += [key for key in current if key not in ordered]
            nodes = {str(q["key"]): q for q in step["vragen"]}
            step["vragen"][:] = [nodes[key] for key in ordered]
            before = [key for key in original if key in ordered]
            if [key for key in ordered if key in before] != before:
                changes.append(f"volgorde van de vragen in stap '{step_key}' aangepast")
            form = {name: value for name, value in form.items()
                    if not any(name.startswith(f"{where}.{j}.") for j in dropped)
                    and not re.fullmatch(re.escape(where) + r"\.\d+\.plaats", name)}
    return form, added


def apply(content: str, form: Any) -> tuple[str, list[str]]:
    """The script `content` with the form's values; and what changed, in Dutch."""
    doc = yaml_roundtrip.load(content)
    changes: list[str] = []
    form, added = _added_and_removed({str(name): form.get(name) for name in form}, doc,
                                     changes)
    form = _by_key(form, doc)
    steps, others = fields(doc)
    labelled = [(t, _changed_label(t.name, t.label))
                for t in [t for s in steps for t in (s.intro, *s.summary)] + others]
    labelled += [(t, f"{'tekst' if t.label == 'Vraag' else t.label.lower()} van vraag '{q.key}'")
                 for s in steps for q in s.questions for t in q.texts]
    for field, label in labelled:
        if field.words:
            words = _typed_words(form, field)
            if words != field.variants["standaard"].splitlines():
                _set(doc, field.name, yaml_roundtrip.quoted(words))
                changes.append(f"{_changed_label(field.name, field.label)} aangepast")
            continue
        if not field.editable or field.optional:
            continue
        new = _typed(form, field)
        if new != value_of(field.variants):
            _set(doc, field.name, yaml_roundtrip.quoted(new))
            changes.append(f"{label} aangepast")
    for step in steps:
        for i, question in enumerate(step.questions):
            node = doc["stappen"][step.key]["vragen"][i]
            probes = [f for f in question.texts if f.optional and f.editable]
            if len(probes) == 2 and [_typed(form, f) for f in probes] != [
                    value_of(f.variants) for f in probes]:
                kept = [p for p in (_typed(form, f) for f in probes) if p != ""]
                if kept:
                    node["doorvragen"] = yaml_roundtrip.quoted(kept)
                else:
                    node.pop("doorvragen", None)
                changes.append(f"doorvragen van vraag '{question.key}' aangepast")
            wanted = form.get(f"stappen.{step.key}.vragen.{i}.aan") == "aan"
            if not question.may_switch or wanted == question.enabled:
                continue
            if wanted:
                node.pop("aan", None)  # on is the default
            else:
                node["aan"] = False
            changes.append(f"vraag '{question.key}' {'aangezet' if wanted else 'uitgezet'}")
    for step in steps:
        node = doc["stappen"][step.key]
        _switch(node, "aan", step.enabled,
                not step.may_switch or form.get(f"stappen.{step.key}.aan") == "aan",
                changes, f"stap '{step.key}'")
        _switch(node, "controle", step.check, form.get(f"stappen.{step.key}.controle") == "aan",
                changes, f"samenvatting na stap '{step.key}'")
        order = _order(form, step)
        if order != list(range(len(step.questions))):
            node["vragen"][:] = [node["vragen"][i] for i in order]
            changes.append(f"volgorde van de vragen in stap '{step.key}' aangepast")
    # An added question's texts are part of adding it, not changes of their own.
    changes = [c for c in changes if not any(c.endswith(f"van vraag '{key}' aangepast")
                                             for key in added)]
    return yaml_roundtrip.dump(doc), changes


def _switch(node: Any, name: str, current: bool, wanted: bool, changes: list[str],
            label: str) -> None:
    """Set an on/off part of a step (on is the default, so it is only written when off)."""
    if wanted == current:
        return
    if wanted:
        node.pop(name, None)
    else:
        node[name] = False
    changes.append(f"{label} {'aangezet' if wanted else 'uitgezet'}")


def _order(form: Any, step: StepFields) -> list[int]:
    """The questions' new order from their chosen places (1 = first). A question moved up goes
    before the one now at that place, one moved down after it; a missing or wrong place keeps
    the question where it is."""
    return sorted(range(len(step.questions)), key=lambda i: _position(
        form.get(f"stappen.{step.key}.vragen.{i}.plaats"), i))


def _position(typed: Any, i: int) -> tuple[int, int, int]:
    """Where question `i` goes for a typed place (1 = first; anything else: where it is). A
    question moved up goes before the one now at that place, one moved down after it."""
    text = str(typed or "").strip()
    place = int(text) if text.isdigit() else i + 1
    return place, 1 if place == i + 1 else (0 if place < i + 1 else 2), i
