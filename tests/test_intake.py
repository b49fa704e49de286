"""Every message's intake (bot.conversation.intake): signals plus intent flags, and the reply per
severity."""

import pytest

from bot.conversation import intake
from bot.conversation.script import load


@pytest.fixture(scope="module")
def script():
    return load()


def test_urgent_gets_the_crisis_text_with_numbers(script) -> None:
    found = intake.analyse("ik wil er niet meer zijn", "vertellen")
    assert found.urgent
    text = "\n".join(intake.replies(script, found, None))
    for number in ("0800-0113", "113.nl", "0800-0432", "112"):
        assert number in text


def test_attention_is_acknowledged_once_with_the_decline_option(script) -> None:
    found = intake.analyse("mijn ouders willen dat ik dokter word maar ik wil kapper worden",
                           "vertellen")
    assert [f.category for f in found.attention] == ["druk_omgeving"]
    lines = intake.replies(script, found, "vmbo")
    assert any("liever niet" in line for line in lines)
    assert not any("0800" in line for line in lines)


def test_nothing_to_say_without_signals(script) -> None:
    found = intake.analyse("ik vond het leuk om klanten te helpen", "vertellen")
    assert found.findings == [] and intake.replies(script, found, None) == []


def test_intent_raises_its_flag_when_the_detector_is_silent() -> None:
    found = intake.analyse("kan ik een echt persoon spreken", "mentor_gevraagd")
    assert [(f.category, f.severity) for f in found.findings] == [("mentor_gevraagd",
                                                                   "attention")]
    crisis = intake.analyse("help", "signaal_crisis")
    assert crisis.urgent


@pytest.mark.parametrize("text", ["liever niet", "Liever niet!", "hoeft niet", "laat maar"])
def test_decline(text: str) -> None:
    assert intake.is_decline(text)


@pytest.mark.parametrize("text", ["ik ga liever niet naar die stage", "nee", "ja"])
def test_not_a_decline(text: str) -> None:
    assert not intake.is_decline(text)


def test_asking_for_the_mentor_is_not_offered_a_decline(script) -> None:
    found = intake.analyse("ik wil met mijn mentor praten", "mentor_gevraagd")
    lines = intake.replies(script, found, None)
    assert lines == script.side_track("mentor_gevraagd")
    assert not any("liever niet" in line for line in lines)


def _found(*categories: str) -> intake.Intake:
    return intake.Intake([intake.Finding(c, "attention", "…") for c in categories])


def test_ordinary_pressure_about_a_choice_is_offered_a_talk(script) -> None:
    """Disagreement with parents about a choice is LOB material: the coach offers the mentor
    (or a driegesprek) instead of announcing that the mentor will be asked."""
    found = _found("druk_omgeving")
    text = "mijn ouders willen dat ik dokter word maar ik wil kapper worden"
    assert intake.is_offer(script, found, text)
    lines = intake.replies(script, found, None, offer=True)
    assert lines[-1] == script.signal_reply("aandacht_aanbod")[-1]
    assert not set(script.render(script.raw["signalen"]["aandacht"])) & set(lines)


@pytest.mark.parametrize("text", [
    "mijn vader dreigt me uit huis te zetten als ik kapper word",
    "ik ben bang voor mijn vader als ik dit zeg",
])
def test_serious_pressure_is_still_told_to_the_mentor(script, text) -> None:
    assert not intake.is_offer(script, _found("druk_omgeving"), text)


def test_other_concerns_are_told_not_offered(script) -> None:
    text = "mijn ouders willen dat ik stop en we hebben geen geld"
    assert not intake.is_offer(script, _found("druk_omgeving", "financien"), text)
    assert not intake.is_offer(script, _found("uitval"), "ik denk erover om te stoppen")
    assert not intake.is_offer(script, _found("financien"), "we hebben schulden, ik kan niks")


def test_what_a_course_costs_is_offered_in_its_own_words(script) -> None:
    found = _found("financien")
    assert intake.is_offer(script, found, "de cursus kost misschien te veel geld")
    lines = intake.replies(script, found, None, offer=True)
    assert lines == (script.render(script.raw["signalen"]["aandacht_per_soort"]["financien"])
                     + script.render(script.raw["signalen"]["aanbod_per_soort"]["financien"]))


@pytest.mark.parametrize(("text", "accept", "no"), [
    ("ja graag", True, False), ("Ja!", True, False), ("is goed", True, False),
    ("nee", False, True), ("nee hoor", False, True), ("liever niet", False, True),
    ("ja maar mijn vader wil dat niet", False, False), ("ik weet het niet", False, False),
])
def test_answers_to_the_offer(text, accept, no) -> None:
    assert intake.is_accept(text) is accept
    assert intake.is_no(text) is no


def test_doubt_about_oneself_is_offered_unless_it_is_self_loathing(script) -> None:
    found = _found("zelfvertrouwen")
    assert intake.is_offer(script, found, "ik ben bang dat mijn mail raar klinkt")
    assert not intake.is_offer(script, found, "ik ben gewoon niks waard, ik kan niks")


def test_doubt_about_the_study_is_offered_quitting_is_told(script) -> None:
    found = _found("uitval")
    assert intake.is_offer(script, found, "misschien heb ik de verkeerde opleiding gekozen")
    assert not intake.is_offer(script, found, "ik wil stoppen met school, ik spijbel al weken")


def test_a_question_may_leave_a_category_to_the_rules(script) -> None:
    """At "Wie kan je helpen?" the model alone raises no internship problem for a student who
    names the stage supervisor as help; the rules, and a crisis, still count there. (What the
    model finds is handed in as Rasa's NLU component hands it, so the test does not depend on
    whether this release of the model happens to find it.)"""
    from bot.text.signals import Signal

    rules_only = script.question("hulp_contact").rules_only
    assert rules_only == ("stage_probleem",)
    helper = "chef mark vragen op stage, en mijn praktijk begeleider van school mailen"
    by_model = [Signal("stage_probleem", "attention", "op stage", (15, 23),
                       source="model").as_parse_data()]
    by_rules = [Signal("stage_probleem", "attention", "op stage", (15, 23)).as_parse_data()]
    found = intake.analyse(helper, "vertellen", screened=by_model)
    assert [f.category for f in found.findings] == ["stage_probleem"]
    assert intake.analyse(helper, "vertellen", rules_only, screened=by_model).findings == []
    kept = intake.analyse(helper, "vertellen", rules_only, screened=by_rules)
    assert [f.category for f in kept.findings] == ["stage_probleem"]
    crisis = intake.analyse("mijn stagebegeleider, maar ik wil er niet meer zijn", "vertellen",
                            rules_only)
    assert crisis.urgent
    assert script.question("obstakel").rules_only == ("zelfvertrouwen",)


# --- screened once: the findings of Rasa's NLU component travel with the message ---------

def test_what_rasa_already_found_is_used_instead_of_screening_again() -> None:
    from bot.text.signals import Signal

    text = "mijn ouders willen dat ik dokter word maar ik wil kapper worden"
    # A finding the detector itself would not make for this text: it can only come from
    # the parse data, so seeing it proves the message was not screened a second time.
    handed = [Signal("financien", "attention", "kapper", (54, 60)).as_parse_data()]
    found = intake.analyse(text, "vertellen", screened=handed)
    assert [f.category for f in found.findings] == ["financien"]
    # Nothing found by Rasa: nothing found here either.
    assert intake.analyse(text, "vertellen", screened=[]).findings == []


def test_a_coordinators_rules_version_screens_the_message_again() -> None:
    from bot.text import signals

    text = "mijn ouders willen dat ik dokter word maar ik wil kapper worden"
    rules = signals.get_detector().rules  # a version in use: the school's, not the file's
    token = signals.ACTIVE_RULES.set(rules)
    try:
        found = intake.analyse(text, "vertellen", screened=[])
    finally:
        signals.ACTIVE_RULES.reset(token)
    assert [f.category for f in found.findings] == ["druk_omgeving"]


@pytest.mark.parametrize("handed", [
    [{"category": "crisis"}],  # no severity or evidence
    [{"category": "crisis", "severity": "heel erg", "evidence": "x"}],
    ["crisis"],
    [None],
])
def test_malformed_parse_data_is_screened_again(handed: list) -> None:
    found = intake.analyse("ik wil er niet meer zijn", "vertellen", screened=handed)
    assert found.urgent


@pytest.mark.parametrize(("step", "form_active", "expected"), [
    ("reflecteren", False, intake.GO_ON_WITH_ANSWER),  # the check interrupted the form
    ("terugkijken", True, intake.NOTHING_MORE),  # the form asks its question itself
    (None, False, intake.START_HINT),  # before the first question: say how to begin
    (None, True, intake.START_HINT),
])
def test_what_follows_a_no_to_the_check_question(step: str | None, form_active: bool,
                                                   expected: str) -> None:
    assert intake.after_check_no(step, form_active) == expected
