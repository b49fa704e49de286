"""The script's structure parts that a school may change without retraining: the order of a
step's questions, a step switched off, a step without summary check; and what validation
refuses (a needed step or question off, a question before the answer it uses)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from bot.conversation import coaching
from bot.conversation.script import REQUIRED_ROLES, get_script, parse, validate
from bot.paths import SCRIPT_FILE

RAW = yaml.safe_load(SCRIPT_FILE.read_text(encoding="utf-8"))


def _raw() -> dict[str, Any]:
    return copy.deepcopy(RAW)


def _question(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return next(q for s in raw["stappen"].values() for q in s["vragen"] if q["key"] == key)


def test_a_step_switched_off_asks_nothing_and_one_without_check_ends_at_its_last_question(
) -> None:
    raw = _raw()
    raw["stappen"]["reflecteren"]["aan"] = False
    raw["stappen"]["vooruitkijken"]["controle"] = False
    assert validate(raw) == []
    script = parse(raw)
    assert coaching.required_slots(script, "reflecteren", {}) == []
    ahead = coaching.required_slots(script, "vooruitkijken", {})
    assert ahead == [q.key for q in script.steps["vooruitkijken"].questions if q.enabled]
    plan = coaching.required_slots(script, "activeren", {})
    assert plan[-1] == script.steps["activeren"].check_slot()


def test_questions_are_asked_in_the_order_of_the_script() -> None:
    raw = _raw()
    questions = raw["stappen"]["activeren"]["vragen"]
    questions.reverse()
    assert validate(raw) == []
    asked = coaching.required_slots(parse(raw), "activeren", {})
    assert asked[:-1] == [q["key"] for q in questions if q.get("aan", True)]


@pytest.mark.parametrize("step", ["terugkijken", "activeren"])  # experience; the plan
def test_a_step_with_a_needed_question_cannot_be_switched_off(step: str) -> None:
    raw = _raw()
    raw["stappen"][step]["aan"] = False
    errors = validate(raw)
    assert len(errors) == 1 and f"stappen.{step}.aan" in errors[0]
    assert "nodig voor het gesprek" in errors[0]


@pytest.mark.parametrize("key", sorted(get_script().key_of(role) for role in REQUIRED_ROLES))
def test_a_needed_question_cannot_be_switched_off(key: str) -> None:
    raw = _raw()
    _question(raw, key)["aan"] = False
    errors = validate(raw)
    assert len(errors) == 1 and key in errors[0] and "kan niet uit" in errors[0]


def test_wrong_step_parts_get_dutch_errors() -> None:
    raw = _raw()
    raw["stappen"]["reflecteren"]["aan"] = "nee"
    raw["stappen"]["reflecteren"]["controle"] = 0
    raw["stappen"]["reflecteren"]["volgorde"] = [1, 2]
    errors = "\n".join(validate(raw))
    assert "stappen.reflecteren.aan: moet true of false zijn" in errors
    assert "stappen.reflecteren.controle: moet true of false zijn" in errors
    assert "onbekend onderdeel 'volgorde'" in errors


def test_a_question_may_only_use_answers_given_before_it() -> None:
    raw = _raw()
    _question(raw, "rol")["tekst"] = "Wat deed je bij {verwachting}?"  # asked after rol
    errors = validate(raw)
    assert errors == ["stappen.terugkijken.rol: deze vraag gebruikt {verwachting}, maar de "
                      "vraag 'verwachting' komt pas later."]
    _question(raw, "rol")["tekst"] = "Wat deed je bij {ervaring}?"  # asked before rol
    assert validate(raw) == []


def test_the_experience_stays_the_first_question_of_its_step() -> None:
    raw = _raw()
    questions = raw["stappen"]["terugkijken"]["vragen"]
    keys = [q["key"] for q in questions]
    i, j = keys.index("ervaring"), keys.index("rol")
    questions[i], questions[j] = questions[j], questions[i]
    errors = validate(raw)
    assert len(errors) == 1 and "'ervaring' moet de eerste vraag" in errors[0]


def test_every_condition_has_a_name_in_the_editor() -> None:
    """The coordinator's editor explains each `alleen_bij` in words (a KeyError otherwise)."""
    from bot.conversation.script import CONDITIONS
    from bot.portal.script_form import CONDITION_NAMES

    assert set(CONDITION_NAMES) == set(CONDITIONS)


@pytest.mark.parametrize("value", [0, -1, "twee", True, 99])
def test_a_later_question_needs_a_sensible_number_of_earlier_conversations(value) -> None:
    raw = _raw()
    ervaring = next(q for q in raw["stappen"]["terugkijken"]["vragen"] if q["key"] == "ervaring")
    ervaring["later_vanaf"] = value
    assert any("later_vanaf" in e for e in validate(raw)), value


def test_the_first_privacy_lines_say_how_to_stop_reminders() -> None:
    """Issue 15: the privacy text a student reads at the first conversation says that
    reminders can be switched off, in the words that do it; the reminder says it too."""
    script = parse(_raw())
    privacy = " ".join(script.text("privacy_eerste_keer"))
    assert "'stop met herinneringen'" in privacy and "wissen" in privacy
    assert "'stop met herinneringen'" in " ".join(script.text("herinnering_verder", ervaring="x"))


@pytest.mark.parametrize("value", [["crisis"], ["onbekend"], "stage_probleem"])
def test_rules_only_names_attention_categories(value: Any) -> None:
    raw = _raw()
    hulp = next(q for q in raw["stappen"]["activeren"]["vragen"] if q["key"] == "hulp_contact")
    hulp["alleen_regels"] = value
    assert any("alleen_regels" in e for e in validate(raw)), value


def _vmbo_texts(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every text a vmbo student reads: a `vmbo` variant where there is one, else the text."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _vmbo_texts(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        if isinstance(value.get("vmbo"), str):
            return [(f"{path}.vmbo", value["vmbo"])]
        return [t for k, v in value.items() if k not in ("mbo", "mbo-bol", "mbo-bbl")
                for t in _vmbo_texts(v, f"{path}.{k}")]
    return []


def test_a_vmbo_student_reads_plain_dutch() -> None:
    """Issue 16: no "bpv", no passive "wat werd er van je verwacht", no sentence of more than
    twenty words in anything a vmbo student reads (texts, questions, probes, side tracks,
    signal replies)."""
    raw = _raw()
    texts = [t for part in ("teksten", "stappen", "zijsporen", "signalen")
             for t in _vmbo_texts(raw[part], part)
             if not any(f".{k}" in t[0] for k in ("woorden", "ook_antwoord", "aanbod_niet_bij",
                                                     "alleen_regels", "aanbieden", "alleen_bij",
                                                     ".key"))]
    assert len(texts) > 200
    for path, text in texts:
        low = text.lower()
        assert "bpv" not in low, path
        assert not re.search(r"\bwerd(en)? er\b", low), path
        for sentence in re.split(r"[.!?]\s", text):
            assert len(re.findall(r"\w+", sentence)) <= 20, (path, sentence)
