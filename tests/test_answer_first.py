"""Inside a conversation the question asked decides what a message means
(bot.conversation.answer_first): interruptions stand only when the whole message says so. Phrases
come from the script."""

from __future__ import annotations

import copy

import pytest

from bot.conversation import answer_first
from bot.conversation.answer_first import ANSWER_INTENT, is_explicit, meaning
from bot.conversation.script import get_script, parse, validate

SCRIPT = get_script()


@pytest.mark.parametrize(("intent", "answer"), [
    # Answers to the step's questions that contain side-intent words ("verder", "stoppen",
    # "later", "weg", "vergeten", "wissen"), each as the classifier might misread them.
    ("pauzeren", "morgen"),
    ("pauzeren", "later"),
    ("pauzeren", "na school"),
    ("pauzeren", "ik wil later verder met de opleiding"),
    ("pauzeren", "ik wil stoppen met mijn bijbaan want het is te zwaar"),
    ("pauzeren", "ik ga verder met de opleiding tot kok"),
    ("pauzeren", "stoppen met twijfelen en gewoon bellen"),
    ("pauzeren", "ik moest weg van de afdeling omdat het te druk was"),
    ("afscheid", "tot later blijven werken vond ik zwaar"),
    ("afscheid", "de klanten zeiden altijd doei en bedankt, dat vond ik leuk"),
    ("afscheid", "ik ga weg bij de kapper"),
    ("gegevens_verwijderen", "ik was het vergeten"),
    ("gegevens_verwijderen", "ik moest het whiteboard wissen en de tafels schoonmaken"),
    ("gegevens_verwijderen", "ik wil alles vergeten van die stage"),
    ("gegevens_verwijderen", "verwijder"),  # a deletion is never decided on a guess
    ("gegevens_verwijderen", "weg ermee"),
])
def test_answers_with_side_intent_words_stay_answers(intent: str, answer: str) -> None:
    assert meaning(intent, answer, asking=True, script=SCRIPT) == ANSWER_INTENT


@pytest.mark.parametrize(("intent", "message", "expected"), [
    ("pauzeren", "pauze", "pauzeren"),
    ("pauzeren", "Ik moet nu even weg, later verder!", "pauzeren"),
    ("pauzeren", "sorry ik heb nu echt geen tijd", "pauzeren"),
    ("pauzeren", "STOP", "pauzeren"),
    ("afscheid", "doei!!", "afscheid"),
    ("afscheid", "oké tot later", "afscheid"),
    ("afscheid", "ik moet weg", "pauzeren"),  # explicit, though of the other kind
    ("gegevens_verwijderen", "verwijder al mijn gegevens aub", "gegevens_verwijderen"),
    ("gegevens_verwijderen", "Wis alles.", "gegevens_verwijderen"),
    ("gegevens_verwijderen", "ik wil dat je alles wist", "gegevens_verwijderen"),
])
def test_explicit_interruptions_stand(intent: str, message: str, expected: str) -> None:
    assert meaning(intent, message, asking=True, script=SCRIPT) == expected


def test_outside_a_question_and_for_other_intents_nothing_changes() -> None:
    assert meaning("pauzeren", "morgen", asking=False, script=SCRIPT) == "pauzeren"
    assert meaning("bot_vraag", "ben jij een robot", asking=True, script=SCRIPT) == "bot_vraag"
    assert meaning("signaal_crisis", "morgen", asking=True, script=SCRIPT) == "signaal_crisis"
    assert meaning(None, "morgen", asking=True, script=SCRIPT) is None
    assert is_explicit("bot_vraag", "wat dan ook", SCRIPT)
    assert not is_explicit("pauzeren", "", SCRIPT) and not is_explicit("pauzeren", "...", SCRIPT)


def test_a_coordinator_adds_a_phrase_in_the_script() -> None:
    raw = copy.deepcopy(SCRIPT.raw)
    assert meaning("pauzeren", "ik ga naar de training", True, SCRIPT) == ANSWER_INTENT
    raw["onderbrekingen"]["pauzeren"].append("ik ga naar de training")
    changed = parse(raw)
    assert meaning("pauzeren", "ik ga naar de training", True, changed) == "pauzeren"


def test_the_script_validator_names_a_broken_section_in_dutch() -> None:
    raw = copy.deepcopy(SCRIPT.raw)
    raw["onderbrekingen"]["pauzeren"] = []
    raw["onderbrekingen"]["koffie"] = ["pauze"]
    errors = validate(raw)
    assert "onderbrekingen.pauzeren: geef een lijst met zinnen of woorden." in errors
    assert any(e.startswith("onderbrekingen.koffie: onbekend") for e in errors)
    del raw["onderbrekingen"]
    assert "Het onderdeel 'onderbrekingen' ontbreekt." in validate(raw)


def test_a_question_can_take_an_interruption_phrase_as_its_answer() -> None:
    """"geen tijd" pauses a conversation, except where it answers the question asked
    ("Waar kun je tegenaan lopen?"): the question's `ook_antwoord` in the script."""
    phrase = SCRIPT.question("obstakel").also_answers[0]
    assert is_explicit("pauzeren", phrase, SCRIPT)
    assert meaning("pauzeren", phrase, True, SCRIPT, "obstakel") == ANSWER_INTENT
    assert meaning("pauzeren", f"{phrase.upper()}!", True, SCRIPT, "obstakel") == ANSWER_INTENT
    assert meaning("pauzeren", phrase, True, SCRIPT, "rol") == "pauzeren"
    assert meaning("pauzeren", "stop", True, SCRIPT, "obstakel") == "pauzeren"
    assert meaning("pauzeren", phrase, True, SCRIPT, "bestaat_niet") == "pauzeren"


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("nlu_fallback", "Ja prima, laten we beginnen.", "bevestigen"),
    ("nlu_fallback", "oké, starten maar", "bevestigen"),
    ("start_gesprek", "we kunnen wel beginnen", "bevestigen"),
    ("nlu_fallback", "nee liever later", "nlu_fallback"),
    ("nlu_fallback", "ja maar eigenlijk niet nu", "nlu_fallback"),
    ("nlu_fallback", "ja wat moet ik doen?", "nlu_fallback"),
    ("signaal_crisis", "ja ik wil niet meer leven", "signaal_crisis"),
    ("gegevens_verwijderen", "ja wis alles", "gegevens_verwijderen"),
    ("ontkennen", "nee", "ontkennen"),
    ("afscheid", "ja kom", "bevestigen"),
    ("afscheid", "ja doei", "afscheid"),
    ("pauzeren", "ja maar later", "pauzeren"),
    ("pauzeren", "Ja, dat is goed. Ik moet wel om vier uur weg want ik moet oppassen.",
     "bevestigen"),  # the first sentence answers; the rest is news
    ("pauzeren", "Ja. Maar nu even niet.", "pauzeren"),
    ("gegevens_verwijderen", "ja, wij beginnen", "bevestigen"),  # nothing of deleting in it
])
def test_the_offer_decides_what_a_yes_is(intent: str, text: str, expected: str) -> None:
    assert answer_first.meaning_at_offer(intent, text) == expected


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("nlu_fallback", "Hallo! Mijn docent zei dat ik hier moest beginnen haha", "begroeten"),
    ("nlu_fallback", "goedemiddag, ik kom voor de opdracht", "begroeten"),
    ("nlu_fallback", "wat is dit", "nlu_fallback"),
    ("bevestigen", "ewa", "begroeten"),
    ("start_gesprek", "hoi ik wil een gesprek", "start_gesprek"),
    ("signaal_crisis", "hoi ik wil dood", "signaal_crisis"),
    ("mentor_gevraagd", "hooi ik moet dit doen van mentor", "begroeten"),
    ("mentor_gevraagd", "hoi ik wil met mijn mentor praten", "mentor_gevraagd"),
    ("nlu_fallback", "hallooo mijn docent stuurt me", "begroeten"),
    ("privacy_vraag", "Hallo. Mijn mentor zegt ik moet dit chat doen", "begroeten"),
    ("privacy_vraag", "hoi, wat bewaar je van mij?", "privacy_vraag"),
    ("bot_vraag", "hoi ben jij een robot", "bot_vraag"),
])
def test_a_first_message_with_a_greeting_is_a_greeting(intent: str, text: str,
                                                       expected: str) -> None:
    assert answer_first.meaning_of_first_message(intent, text, get_script()) == expected


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("nlu_fallback", "wollah ik heb die beroepentest gedaan en nu moet ik hier praten ofzo",
     "begroeten"),  # names an experience: the offer takes it from here
    ("vertellen", "ik heb vorige week een meeloopdag gehad bij de politie", "begroeten"),
    ("nlu_fallback", "wat is dit", "nlu_fallback"),  # no experience, no greeting
    ("signaal_crisis", "ik wil dood na mijn stage", "signaal_crisis"),  # never changed
    ("gegevens_verwijderen", "verwijder alles van mijn stage", "gegevens_verwijderen"),
    ("mentor_gevraagd", "wollah ik moet dit doen van mn mentor", "begroeten"),  # set9
    ("mentor_gevraagd", "ik moet van mijn mentor met haar praten", "mentor_gevraagd"),
    ("mentor_gevraagd", "ik wil mijn mentor spreken", "mentor_gevraagd"),
])
def test_a_first_message_that_names_an_experience_opens_the_talk(intent: str, text: str,
                                                                 expected: str) -> None:
    assert answer_first.meaning_of_first_message(intent, text, get_script()) == expected


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("afscheid", "yo ff snel want ik heb pauze", "begroeten"),  # set9: time, not a goodbye
    ("pauzeren", "hoi ik doe dit in mijn pauze", "begroeten"),
    ("pauzeren", "hoi ik heb nu geen tijd, straks in de pauze", "pauzeren"),  # not now
    ("pauzeren", "kunnen we pauze nemen", "pauzeren"),
    ("afscheid", "doei", "afscheid"),
])
def test_a_first_message_that_says_the_student_has_a_break_opens_the_talk(
        intent: str, text: str, expected: str) -> None:
    """Before a conversation there is nothing to pause: "ik heb pauze" says there is time."""
    assert answer_first.meaning_of_first_message(intent, text, get_script()) == expected
