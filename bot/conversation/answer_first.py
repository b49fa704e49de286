"""Inside a conversation, the question asked decides what a message means.

The intent classifier sees a message without its question: "morgen", the answer to "Wanneer ga
je dit doen?", reads as `pauzeren`. So while a step is asking, a side request that would end or
leave the conversation (pause, goodbye, delete my data) stands only when the whole message is
one of the script's explicit phrases (`onderbrekingen` in data/script/gesprek.yml); anything
else is the answer to the question. Deleting data is never decided on a guess. Pure: the
Rasa hook (bot.rasa_plugins.answer_first) passes in what it knows."""

from __future__ import annotations

import re
import unicodedata

from bot.conversation.coaching import experience_in_opening, is_greeting, names_its_request
from bot.conversation.script import INTERRUPTIONS, Script

ANSWER_INTENT = "vertellen"
_PARTS = re.compile(r"\s*(?:[,.;!?]+|\ben\b|\bmaar\b)\s*")
_NOT_WORD = re.compile(r"[^\w\s]+")


def _plain(text: str) -> str:
    """Lower case, accents and punctuation off, single spaces ("Oké!!" -> "oke")."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_NOT_WORD.sub(" ", text).split())


def _phrases(script: Script, intent: str, filler: frozenset[str]) -> frozenset[str]:
    return frozenset(_without(_plain(p), filler) for p in script.interruption_phrases(intent))


def _without(text: str, filler: frozenset[str]) -> str:
    return " ".join(w for w in text.split() if w not in filler)


def is_explicit(intent: str, text: str, script: Script) -> bool:
    """True when every part of the message is one of the script's phrases for `intent`
    (small filler words aside): "ik moet nu weg, later verder" is a pause; "ik wil later
    verder met de opleiding" is not."""
    if intent not in INTERRUPTIONS:
        return True  # not an interruption: nothing to decide here
    filler = frozenset(_plain(w) for w in script.interruption_filler)
    phrases = _phrases(script, intent, filler)
    parts = [_without(_plain(p), filler) for p in _PARTS.split(text.lower())]
    parts = [p for p in parts if p]
    return bool(parts) and all(p in phrases for p in parts)


def meaning(intent: str | None, text: str, asking: bool, script: Script,
            question_key: str | None = None) -> str | None:
    """The intent the conversation should act on: `intent`, unless a step is `asking` a
    question and `intent` is an interruption the message does not state explicitly, or the
    question takes the whole message as one of its answers (`ook_antwoord`); then the
    message is an answer (ANSWER_INTENT)."""
    if not asking or intent not in INTERRUPTIONS:
        return intent
    if _answers(script, question_key, text):
        return ANSWER_INTENT
    # The classifier's interruption first, then the others ("ik moet weg" read as goodbye
    # is still a pause).
    for candidate in (intent, *(i for i in INTERRUPTIONS if i != intent)):
        if is_explicit(candidate, text, script):
            return candidate
    return ANSWER_INTENT


def _answers(script: Script, question_key: str | None, text: str) -> bool:
    if (question := script.find_question(question_key)) is None:
        return False
    filler = frozenset(_plain(w) for w in script.interruption_filler)
    said = _without(_plain(text), filler)
    return any(said == _without(_plain(a), filler) for a in question.also_answers)


# --- the offer and the first message ------------------------------------------------------
# "Ja, prima, we kunnen beginnen." to "Zullen we beginnen?" and "Hallo! Mijn mentor zei dat ik
# dit moest doen" as a first message were not understood (nlu_fallback): the classifier has
# few long forms of yes and of a greeting. The question asked decides here too.
_YES_START = frozenset(("ja", "jaa", "jaaa", "jep", "jup", "yes", "yess", "ok", "oke", "okay",
                        "okee", "prima", "goed", "top", "zeker", "tuurlijk", "natuurlijk",
                        "sure", "jazeker", "graag", "doe", "let's", "lets", "kom"))
_START_WORDS = frozenset(("beginnen", "begin", "starten", "start", "gaan", "los"))
_NOT_NOW = frozenset(("nee", "niet", "geen", "later", "straks", "morgen", "nope", "nah",
                      "eigenlijk", "liever", "doei", "bye", "houdoe", "weg", "stop", "pauze"))
# Intents a yes to the offer may come in as; a crisis, a deletion or a clear no never change.
_UNSURE_AT_OFFER = frozenset(("nlu_fallback", "start_gesprek", "hervatten", "vertellen",
                              "begroeten", "bedanken", "weet_niet", "afscheid", "pauzeren"))
# A first message that starts with a greeting is one, unless the classifier heard a request.
_UNSURE_FIRST = frozenset(("nlu_fallback", "bevestigen", "ontkennen", "bedanken", "weet_niet",
                           "vertellen"))
# A deletion request says so; without one of these words it is not one.
_DELETE_WORDS = frozenset(("wis", "wissen", "gewist", "verwijder", "verwijderen", "verwijderd",
                           "delete", "deleten", "gegevens", "data", "vergeet", "vergeten",
                           "weg", "weghalen", "alles"))
OFFER_YES = "bevestigen"
GREETING = "begroeten"


def meaning_at_offer(intent: str | None, text: str) -> str | None:
    """After "Zullen we beginnen?": a message that starts with yes or says to begin, with no
    "nee", "niet" or "later" in it and no question, is a yes."""
    if intent == "gegevens_verwijderen" and not _DELETE_WORDS & set(_plain(text).split()):
        intent = "nlu_fallback"  # "ja, wij beginnen" read as deletion: nothing of deleting
    if intent not in _UNSURE_AT_OFFER and intent is not None:
        return intent
    # "Ja, dat is goed. Ik moet wel om vier uur weg": the first sentence answers the offer,
    # what follows is news; a later sentence that begins with "maar" takes the yes back.
    first, *rest = [p for p in re.split(r"[.!]+", text) if p.strip()] or [""]
    words = _plain(first).split()
    if any(_plain(r).split()[:1] == ["maar"] for r in rest):
        return intent
    if not words or "?" in text or _NOT_NOW & set(words):
        return intent
    if words[0] in _YES_START or _START_WORDS & set(words):
        return OFFER_YES
    return intent


# A wish to talk to the mentor names the talking; "ik moet dit doen van mijn mentor" does not.
_TALK_WISH = frozenset(("praten", "praat", "spreken", "spreek", "bel", "bellen", "contact",
                        "afspraak", "hulp", "help", "helpen", "langs"))
# "ik moet dit doen van mn mentor": the mentor sent the student (an obligation "van" someone).
_SENT = frozenset(("moet", "moest", "moeten", "moeste"))


# "yo ff snel want ik heb pauze" (set9) was read as a goodbye: before a conversation there is
# nothing to pause, and a student who says they have a break now has time for it.
_ON_BREAK = re.compile(r"\b(heb|hebben|hebt|is|nu|in|tijdens)\s+"
                       r"((de|mijn|mn|me|ff|even|nu|net|een)\s+)*pauze\b")
_BREAK_READ_AS = frozenset(("pauzeren", "afscheid", "nlu_fallback"))
_NOT_NOW_BUT_BREAK = _NOT_NOW - {"pauze"}  # "pauze" is the break itself there


def meaning_of_first_message(intent: str | None, text: str, script: Script) -> str | None:
    """Outside a conversation, a message the classifier did not understand that starts with a
    greeting is a greeting (the coach answers with its offer); so is one that names the
    mentor only as who sent the student ("hooi ik moet dit doen van mentor"), and one that
    names an experience ("wollah ik heb die beroepentest gedaan en nu moet ik hier praten"):
    the offer then takes the experience from it."""
    plain = _plain(text)
    words = plain.split()
    if intent in _UNSURE_FIRST and experience_in_opening(script, text) is not None:
        return GREETING
    if intent in _BREAK_READ_AS and _ON_BREAK.search(plain) and not _NOT_NOW_BUT_BREAK & set(words):
        return GREETING
    greeted = bool(words) and is_greeting(words[0])
    # The mentor named without a wish to talk: after a greeting, or as who sent the student
    # ("wollah ik moet dit doen van mn mentor", set9), the opening of the talk.
    sent = bool(_SENT & set(words)) and "van" in words
    if (intent == "mentor_gevraagd" and not _TALK_WISH & set(words)
            and (greeted or sent)):
        return GREETING
    if not greeted:
        return intent
    if intent in _UNSURE_FIRST:
        return GREETING
    # "Hallo. Mijn mentor zegt ik moet dit chat doen" read as a privacy question: a side
    # request after a greeting says so in its own words (bot.conversation.coaching's request words).
    if not names_its_request(intent, text):
        return GREETING
    return intent
