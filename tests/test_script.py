"""The conversation script (data/script/gesprek.yml): valid, rendered per level, and edits
take effect without retraining while invalid edits are refused with Dutch errors."""

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from bot.conversation import script as script_mod
from bot.conversation.script import ScriptError, get_script, load, validate
from bot.paths import ROOT, SCRIPT_FILE


def test_shipped_script_is_valid() -> None:
    raw = yaml.safe_load(SCRIPT_FILE.read_text(encoding="utf-8"))
    assert validate(raw) == []


def test_levels_get_their_own_variant() -> None:
    s = load()
    vmbo = s.text("aanbod_nieuw", "vmbo")
    mbo = s.text("aanbod_nieuw", "mbo-bbl")
    assert vmbo != mbo
    assert "meeloopdag" in vmbo[0]
    assert "stage" in mbo[0]


def test_student_words_are_quoted_back_and_shortened() -> None:
    s = load()
    long_text = "ik " + "heel " * 200 + "lang"
    lines = s.render("Je zei: “{ervaring}”", None, ervaring=long_text)
    assert len(lines[0]) < 300
    assert lines[0].startswith("Je zei: “ik heel")


def test_the_domain_and_the_rules_name_no_question() -> None:
    """The script is the one place of the questions: the Rasa model knows one form with one
    slot for the reply, so a question added or removed needs no retraining."""
    s = load()
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    structure = ((ROOT / "domain.yml").read_text(encoding="utf-8")
                 + (ROOT / "data" / "core" / "rules.yml").read_text(encoding="utf-8"))
    keys = {q.key for step in s.steps.values() for q in step.questions}
    keys |= {step.check_slot() for step in s.steps.values()}
    assert list(domain["forms"]) == ["gesprek_form"]
    assert domain["forms"]["gesprek_form"]["required_slots"] == ["antwoord"]
    for key in keys:
        assert not re.search(rf"\b{key}\b", structure), key


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "gesprek.yml"
    shutil.copy(SCRIPT_FILE, target)
    return target


def test_invalid_script_gives_dutch_errors(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    del raw["teksten"]["pauze"]
    raw["stappen"]["reflecteren"]["vragen"][1]["tekst"] = "Wat deed je goed bij {onbekend}?"
    raw["signalen"]["crisis"] = ["Bel iemand."]
    errors = validate(raw)
    text = "\n".join(errors)
    assert "pauze" in text
    assert "onbekend" in text
    assert "0800-0113" in text or "113" in text
    with pytest.raises(ScriptError):
        path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
        load(path)


def test_a_new_question_needs_only_a_plain_key() -> None:
    raw = yaml.safe_load(SCRIPT_FILE.read_text(encoding="utf-8"))
    new = {"tekst": "Nieuw?", "uitleg": "Uitleg", "voorbeeld": "Voorbeeld"}
    raw["stappen"]["vooruitkijken"]["vragen"].append({"key": "nieuwe_vraag", **new})
    assert validate(raw) == []  # no slot in the domain, no retraining
    for bad in ("Nieuwe Vraag", "x", "vooruitkijken_check", "niveau", "vorig_plan", "level"):
        raw["stappen"]["vooruitkijken"]["vragen"][-1] = {"key": bad, **new}
        assert any(f".{bad}: een key is een naam" in e for e in validate(raw)), bad


def test_wording_change_takes_effect_and_bad_edit_keeps_last_good(tmp_path: Path,
                                                                  monkeypatch) -> None:
    path = _copy(tmp_path)
    monkeypatch.setattr(script_mod, "_cache", script_mod._Cache())
    assert get_script(path).text("pauze")[0].startswith("Prima")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["teksten"]["pauze"] = ["Even pauze dan!"]
    time.sleep(0.01)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    script_mod._cache._checked = 0  # skip the 2-second re-check interval
    assert get_script(path).text("pauze") == ["Even pauze dan!"]
    path.write_text("teksten: [kapot", encoding="utf-8")
    script_mod._cache._checked = 0
    assert get_script(path).text("pauze") == ["Even pauze dan!"]


def test_validate_command(tmp_path: Path, capsys) -> None:
    assert script_mod.validate_main([]) == 0
    broken = tmp_path / "kapot.yml"
    broken.write_text("versie: 1\n", encoding="utf-8")
    assert script_mod.validate_main([str(broken)]) == 1
    assert "fout" in capsys.readouterr().err


def test_echoed_student_text_is_neutralised_for_markdown_and_html_channels() -> None:
    from bot.conversation.script import neutralise

    echoed = neutralise("<img src=x onerror=alert(1)> **vet** [klik](https://evil.nl) `x` # kop")
    for markup in ("<", ">", "**", "[", "](", "`", "https://", "# "):
        assert markup not in echoed
    assert "vet" in echoed and "klik" in echoed and "evil.nl" in echoed  # still readable
    assert neutralise("ik hielp bij de kapper, echt leuk!") == "ik hielp bij de kapper, echt leuk!"


def test_a_students_words_in_key_words_or_second_person() -> None:
    s = load()
    answer = "ik noem het: ik werk graag met mijn handen"
    assert s.render("Jij: {x:kern}.", None, x=answer) == ["Jij: je werkt graag met je handen."]
    assert s.render("{x:jij}", None, x="Ik app mn tante") == ["Je appt je tante"]
    assert s.render("{x}", None, x=answer) == [answer]
    assert s.render("Leeg: {x:kern}", None) == ["Leeg:"]
    cut = s.render("Sterk: {x:kern}.", None, x="ik " + "heel erg veel geholpen en " * 5)[0]
    assert cut.endswith("…") and not cut.endswith("….")
    # The short form is neutralised like the whole answer.
    assert s.render("{x:kern}", None, x="ik deed <b>alles</b> zelf") == [
        "je deed ‹b›alles‹/b› zelf"]


def test_forms_take_turns_and_render_shows_the_first() -> None:
    s = load()
    value = {"afwisselen": ["Een.", ["Twee.", "Drie."], {"standaard": "Vier.", "vmbo": "4!"}]}
    assert s.render(value) == ["Een."]
    assert [s.pick(value, None, n) for n in range(4)] == [
        ["Een."], ["Twee.", "Drie."], ["Vier."], ["Een."]]
    assert s.pick(value, "vmbo", 2) == ["4!"]
    assert s.forms(value) == [["Een."], ["Twee.", "Drie."], ["Vier."]]
    assert s.forms("Alleen.") == [["Alleen."]]
    # A form with a line already said gives way to the next one; all said: form `choice`.
    assert s.pick(value, None, 0, said={"Een."}) == ["Twee.", "Drie."]
    assert s.pick(value, None, 1, said={"Drie."}) == ["Vier."]
    assert s.pick(value, None, 0, said={"Een.", "Twee.", "Vier."}) == ["Een."]
    assert s.pick(value, None, 0, said={"Een.", "Twee.", "Vier."}, or_nothing=True) == []


def test_every_recurring_text_has_forms_that_differ() -> None:
    s = load()
    for key in script_mod.ALTERNATING_TEXTS:
        forms = s.forms(s.raw["teksten"][key])
        assert len(forms) == len({tuple(f) for f in forms}), key
    asks = [s.render(step.summary_question)[-1] for step in s.steps.values()]
    assert len(set(asks)) == len(asks)  # "Klopt dat?" is not said the same way twice


def test_forms_and_alternatives_are_validated_in_dutch() -> None:
    raw = yaml.safe_load(SCRIPT_FILE.read_text(encoding="utf-8"))
    raw["teksten"]["terug_naar_vraag"] = {"afwisselen": ["Goed, {ervaring:kort}"]}
    raw["teksten"]["pauze"] = {"afwisselen": ["Pauze!", "Even pauze!"]}
    raw["teksten"]["al_bezig"] = {"afwisselen": []}
    raw["stappen"]["terugkijken"]["samenvatting"]["regels"]["rol"] = "• {rol:groot}"
    errors = validate(raw)
    assert any("terug_naar_vraag.afwisselen[1]" in e and "{ervaring:kort}" in e
               and "{ervaring:kern}" in e for e in errors)
    assert any(e.startswith("teksten.pauze:") and "afwisselen" in e for e in errors)
    assert any(e.startswith("teksten.al_bezig:") and "lijst" in e for e in errors)
    assert any("regels.rol" in e and "{rol:groot}" in e for e in errors)
    assert len(errors) == 4


def test_texts_read_in_every_conversation_have_three_forms_or_more() -> None:
    """Issue 16: the texts a student reads in every conversation (step intros, summaries, the
    closing, the welcome back, praise) come in three or four forms."""
    s = load()
    recurring = [s.raw["teksten"][key] for key in ("afronden", "aanbod_terug")]
    for step in s.steps.values():
        recurring += [step.intro, step.summary_head]
        recurring += [step.intro_later] if step.intro_later else []
        recurring += [step.summary_question] if step.check else []
        recurring += [q.reaction for q in step.questions if q.reaction is not None]
    for value in recurring:
        forms = s.forms(value, None, antwoord="x", vorige_ervaring="y")
        assert 3 <= len(forms) <= 4 and len({tuple(f) for f in forms}) == len(forms), value


def test_alternating_forms_stand_where_the_coach_moves_them_on() -> None:
    raw = yaml.safe_load(SCRIPT_FILE.read_text(encoding="utf-8"))
    raw["stappen"]["reflecteren"]["intro"] = {"afwisselen": ["Nu jij.", "En jij?"]}
    raw["stappen"]["reflecteren"]["samenvatting"]["vraag"] = {"afwisselen": ["Klopt?", "Goed?"]}
    assert validate(raw) == []
    raw["stappen"]["reflecteren"]["vragen"][0]["tekst"] = {"afwisselen": ["Een?", "Twee?"]}
    (error,) = validate(raw)
    assert error.startswith("stappen.reflecteren.") and "intro en de samenvatting" in error


def test_a_side_track_said_again_takes_another_form() -> None:
    """"bedankt" twice in one conversation: the second thanks gets a form not read yet."""
    s = load()
    first = s.side_track("bedanken")
    second = s.side_track("bedanken", said=first)
    assert second and second != first
    assert s.side_track("bedanken", said=first + second) not in (first, second)
    assert s.side_track("bot_vraag", said=s.side_track("bot_vraag"))  # one form: said again
