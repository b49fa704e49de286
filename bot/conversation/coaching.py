"""Coaching behaviour inside a step, independent of Rasa: what to do with a student's reply
to a question (accept, probe, explain, skip, take a side track) and what to say when asking.

The Rasa form actions in `actions/` only translate between slots and these functions."""

from __future__ import annotations

import re
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.conversation.dates import parse_when
from bot.conversation.script import Question, Role, Script, Step
from bot.conversation.spelling import typo_of

SKIPPED = "(overgeslagen)"  # slot value of a question the student chose to skip
CONFIRMED = "ja"
SIDE_TRACK_MIN_CONFIDENCE = 0.6  # below this a reply counts as an answer, not a side track
# Intents inside a form that are answered and then lead back to the same question.
SIDE_TRACKS = ("bot_vraag", "privacy_vraag", "mentor_gevraagd", "frustratie", "buiten_bereik",
               "bedanken", "overzicht_gevraagd")
ALREADY_BUSY = ("begroeten", "start_gesprek", "hervatten")
# Roles (`doel` in the script) the coaching logic acts on; which question has them, and which
# intents answer a question (`ook_intent`), the script says.
# The follow-up dialogue about the previous plan (asked at a check-in or a new conversation):
# how it went, then what helped or got in the way, then maybe a new small step.
REASONS = (Role.HELPED, Role.HINDERED)
FOLLOWUP_REASON, FOLLOWUP_NEXT_STEP = "reason", "next_step"
# The level question (Role.LEVEL) is asked once when neither the student, the class nor the
# school has a level: its answer is the student's level, not something they discovered.
EARLIER_SLOT = "eerdere_gesprekken"  # how many conversations the student finished before
# Conditions (`alleen_bij`) that hold once the student said how it went.
WENT_WELL, WENT_BADLY = "vorige_stap_gelukt", "vorige_stap_niet_gelukt"

_WORD = re.compile(r"[a-z0-9à-ÿ']+")


# Modes of the next question (slot `vraag_modus`), read by the ask action.
class Mode:
    ASK = None
    PROBE = "doorvragen"
    EXPLAIN = "uitleg"
    BACK = "terug"
    BUSY = "al_bezig"
    CORRECT = "correctie"


@dataclass(frozen=True)
class Reply:
    text: str
    intent: str | None
    confidence: float = 1.0


@dataclass(frozen=True)
class State:
    mode: str | None = None
    probes: int = 0
    dont_know: int = 0


@dataclass
class Outcome:
    """What a reply leads to. `value` None means: ask the same question again (in `state.mode`)."""

    value: str | None
    state: State
    say: list[str] = field(default_factory=list)
    store_as: str | None = None  # answer kind to store the reply as, None: not an answer
    side_track: str | None = None  # intent whose side-track answer the action must give
    followup_status: str | None = None  # for the previous plan's follow-up question
    followup_part: str | None = None  # FOLLOWUP_REASON or FOLLOWUP_NEXT_STEP
    when: date | None = None


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_vague(text: str, script: Script) -> bool:
    """Vague: nothing concrete remains once vague and filler words are removed, or too short."""
    tokens = words(text)
    if len(tokens) < script.vague_min_words:
        return True
    rest = " " + " ".join(tokens) + " "
    for phrase in sorted(script.vague_words, key=len, reverse=True):
        rest = rest.replace(f" {phrase} ", " ")
    return all(t in script.filler_words for t in rest.split())


def intent_is_answer(script: Script, question_key: str | None, intent: str | None) -> bool:
    """Whether `intent` answers the question (`ook_intent`) instead of leaving it."""
    question = script.find_question(question_key)
    return question is not None and intent in question.answer_intents


def _side_track(reply: Reply, state: State) -> Outcome | None:
    if reply.confidence < SIDE_TRACK_MIN_CONFIDENCE or not stands_inside_a_question(reply):
        return None
    if reply.intent in SIDE_TRACKS:
        return Outcome(None, State(Mode.BACK, state.probes, state.dont_know),
                       side_track=reply.intent)
    if reply.intent in ALREADY_BUSY:
        return Outcome(None, State(Mode.BUSY, state.probes, state.dont_know))
    return None


# --- the question asked decides ------------------------------------------------------------
# The intent classifier sees a message without the question it answers: "er verzorgd uitzien en
# klanten koffie aanbieden" reads as a privacy question, "praten met een ondernemer over hoe je
# begint" as a wish to start a conversation. Inside a question, a side intent stands only when
# the message has its form: a question or short request, a greeting, a plain "don't know".
_QUESTION_START = frozenset((
    "wat", "wie", "waarom", "hoe", "hoezo", "waar", "wanneer", "welke", "welk", "kan", "kun",
    "kunt", "mag", "mogen", "wil", "wilt", "ben", "bent", "is", "zijn", "heb", "hebt", "doe",
    "doet", "ga", "gaat", "moet", "moeten", "weet", "vertel", "zeg", "leg", "help"))
_WH_WORDS = frozenset(("wat", "wie", "waarom", "hoe", "hoezo", "waar", "wanneer", "welke",
                       "welk"))
# The subject right after the question word: an indirect question, the answer's own words
# ("wat het kost", "welke cijfers je nodig hebt", "hoe je solliciteert").
_SUBJECTS = frozenset(("ik", "k", "je", "jij", "u", "we", "wij", "ze", "zij", "hij", "het",
                       "de", "een", "mijn", "mn", "m'n", "jullie", "iemand", "mensen", "er"))
# After a verb that opens a question, a pronoun or article ("kan ik ...", "ben jij ...",
# "vertel een mop", "leg uit"); "kan iets moois maken" is the answer "(ik) kan ...".
_AFTER_QUESTION_VERB = _SUBJECTS | frozenset(("dit", "dat", "me", "mij", "uit", "eens",
                                              "even", "nog", "jou", "hier"))


def _direct_question(tokens: list[str]) -> bool:
    """A question or request in its own form, not an answer that begins like one."""
    if len(tokens) == 1:
        return True
    if tokens[0] in _WH_WORDS:
        after = tokens[2] if tokens[0] in ("welke", "welk") and len(tokens) > 2 else tokens[1]
        return after not in _SUBJECTS
    return tokens[1] in _AFTER_QUESTION_VERB


# How students greet (also bot.conversation.answer_first: a first message that starts with one).
GREETINGS = frozenset(("hoi", "hallo", "hey", "hee", "hi", "hai", "hoii", "hoiii", "yo",
                       "goedemorgen", "goedemiddag", "goedenavond", "heey", "heyy", "hello",
                       "hallootjes", "ewa", "salam", "salaam", "moi"))


def _collapsed(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


_GREETINGS_COLLAPSED = frozenset(_collapsed(g) for g in GREETINGS)


def is_greeting(word: str) -> bool:
    """"hoi", and the same with letters doubled ("hooi", "hallooo", "heyyy")."""
    return word in GREETINGS or _collapsed(word) in _GREETINGS_COLLAPSED


_START_WORDS = frozenset(("gesprek", "beginnen", "begin", "starten", "start", "opnieuw",
                          "verder", "nieuw", "hervatten"))
_CLAUSE_START = frozenset(("dat", "om", "omdat", "want", "als", "zodat", "doordat", "door"))
_DONT_KNOW_WORDS = frozenset(("weet", "niet", "geen", "idee", "echt", "eigenlijk", "meer", "veel",
                              "even", "flauw", "benul", "clue", "weetikveel", "geenidee", "nope",
                              "snap", "snappen", "begrijp", "bedoel", "bedoelt", "vraag", "zeker",
                              "zeggen", "antwoorden", "moet", "moest"))
# "ik bakte broodjes", "we sorteerden post": the student tells what they did - an answer, even
# when short. A side request that starts with "ik" is about now ("ik vind dit stom", "ik haat
# deze app", "ik wil weten wat je bewaart"): these verbs keep it a request.
_STORY_SUBJECTS = frozenset(("ik", "k", "we", "wij"))
_NOW_VERBS = frozenset(("vind", "snap", "begrijp", "haat", "word", "heb", "ben", "wil", "weet",
                        "hoef", "kan", "denk", "vraag", "zie", "mag", "moet", "ga", "wou",
                        "wilde", "zou", "snapte", "begreep"))
SHORT_REQUEST_WORDS = 4  # "ben jij een robot", "dit is saai": short enough to be a request
SHORT_FEELING_WORDS = 6  # "ik vind dit echt heel stom"
SHORT_START_WORDS = 5


# A short message without a question form stands as a side request only with a word of that
# request: "meedoen en serieus blijven" is an answer even when read as a privacy question.
_REQUEST_WORDS = {
    "bot_vraag": frozenset(("bot", "robot", "chatbot", "ai", "mens", "computer", "echt", "jij",
                            "je", "ben", "bent", "programma")),
    # "gwn elke vraag lezen", "info zoeken": answers. Not a question in form: only the
    # words of privacy itself make it a request.
    "privacy_vraag": frozenset(("gegevens", "privacy", "bewaar", "bewaart", "bewaren",
                                "opslaan", "verwijder", "verwijderen", "data", "geheim",
                                "anoniem", "wissen", "wis")),
    "overzicht_gevraagd": frozenset(("ontdekt", "overzicht", "geleerd", "inzichten", "inzicht",
                                     "lijstje")),
    # "ik kan goed uitleggen", "honden uitlaten", "vroeg vragen": answers, not "wat bedoel je".
    "uitleg_gevraagd": frozenset(("bedoel", "bedoelt", "bedoeling", "snap", "snapte", "begrijp",
                                  "uitleg", "leg", "voorbeeld", "voorbeeldje", "huh", "hè")),
    "bedanken": frozenset(("dank", "dankje", "dankjewel", "bedankt", "thanks", "thx", "merci",
                           "tnx", "dankuwel", "top")),
    # "huiswerk" to "Waar kun je tegenaan lopen?" is the answer.
    "buiten_bereik": frozenset(("maak", "vertel", "schrijf", "geef", "zeg", "reken", "mop",
                                "grap")),
    # Frustration says how the student feels about this ("dit is saai", "ik haat deze app");
    # "vragen gesteld aan boer" names no feeling.
    "frustratie": frozenset(("saai", "stom", "stomme", "kut", "irritant", "boeit", "wtf",
                             "ugh", "pfff", "nutteloos", "waardeloos", "onzin", "bullshit",
                             "bs", "kappen", "haat", "traag", "dom", "slechtste", "gek",
                             "nergens", "hieraan", "alweer", "luistert", "herhaalt",
                             "zinloos", "vervelend", "suf")),
}
# "overzicht houden": an answer; a request for the overview is about the student or asks to
# be shown ("mijn overzicht", "laat zien wat ik ontdekt heb").
_OVERVIEW_ASKS = frozenset(("mijn", "me", "mij", "ik", "jij", "je", "laat", "zien", "toon",
                            "geef", "graag", "pls", "please"))


# Words before a question that do not change it ("en wat heb ik ontdekt?", "oké maar wie ben
# jij?"), and verbs that make it reported speech ("dan vraag ik: kan je langzaam praten?").
_LEAD_WORDS = frozenset(("en", "maar", "dus", "oh", "o", "oke", "oké", "ok", "okay", "trouwens",
                         "eh", "euh", "he", "nou", "btw", "ff", "oja", "hmm"))
_SPEECH_VERBS = frozenset(("vraag", "vragen", "vroeg", "zeg", "zeggen", "zei", "roep", "riep",
                           "denk", "dacht", "schrijf", "app", "appen", "stuur", "bel"))
_CLAUSE_END = re.compile(r"[.!;:,]")


def _asked_clause(text: str) -> list[str] | None:
    """The words of the clause the first question mark closes, lead words off; None when that
    question is reported speech (after a colon, or after a verb of saying or asking)."""
    head = text[:text.index("?")]
    ends = list(_CLAUSE_END.finditer(head))
    last = ends[-1] if ends else None
    clause = words(head[last.end():] if last else head)
    before = words(head[:last.start()]) if last else []
    if last and (last.group() == ":" or _SPEECH_VERBS & set(before[-3:])):
        return None
    while clause and clause[0] in _LEAD_WORDS:
        clause = clause[1:]
    if len(clause) > 1 and clause[0] in _SPEECH_VERBS and clause[1] in ("ik", "k"):
        return None  # "vraag ik hem of hij tijd heeft?"
    return clause


def names_its_request(intent: str | None, text: str) -> bool:
    """Whether a message holds a word of the side request `intent` ("privacy", "bewaar",
    "robot"); True for a request that has no words of its own here."""
    vocabulary = _REQUEST_WORDS.get(intent or "")
    return vocabulary is None or any(_in_vocabulary(t, vocabulary) for t in words(text))


def _in_vocabulary(word: str, vocabulary: frozenset[str]) -> bool:
    """The word, or a typo of it (bot.conversation.spelling)."""
    return typo_of(word, vocabulary) is not None


def _is_request(text: str, tokens: list[str], short: int = SHORT_REQUEST_WORDS,
                intent: str | None = None) -> bool:
    vocabulary = _REQUEST_WORDS.get(intent or "")
    if "?" in text:
        asked = _asked_clause(text)
        if asked and asked[0] in _QUESTION_START and _direct_question(asked):
            return True
        # "zorgzaam?", "cnc leren?": words of the answer, said with doubt; "dan vraag ik: kan
        # je langzaam praten?": a question the student tells about. Neither asks the coach.
        return asked is not None and len(tokens) <= short and names_its_request(intent, text)
    if tokens[0] in _QUESTION_START and _direct_question(tokens):
        return True
    if len(tokens) > short:
        return False
    if vocabulary is None:
        return True
    if len(tokens) == 1:
        # "bedankt", "saai", "huh" (or a typo of one) ask; "rechtvaardig" or
        # "overzichtshouder" to "Welke naam geef je dit inzicht?" is the answer.
        return _in_vocabulary(tokens[0], vocabulary)
    if intent == "overzicht_gevraagd" and not _OVERVIEW_ASKS & set(tokens):
        return False
    return bool(vocabulary & set(tokens))


# A wish to talk to a person names one ("mentor", "iemand", "praten"); "ja allebei met mensen
# mooi maken" read as a mentor request is the answer to the question.
_PERSON_WORDS = frozenset(("mentor", "mentoren", "docent", "docente", "leraar", "lerares", "juf",
                           "meester", "iemand", "persoon", "mens", "praten", "praat", "bellen",
                           "hulp", "help", "helpen", "slb", "slber", "begeleider", "decaan",
                           "coach", "vertrouwenspersoon", "zorgcoordinator"))
# "spreken" is not among them: a request to speak someone names them ("kan ik iemand spreken",
# "ik wil de decaan spreken"), while "dan spreek ik een bericht in" answers the question.
_PERSON_STEMS = ("mentor", "docent", "leraar", "begeleid", "loopbaanbegeleid", "vertrouwens",
                 "zorgco", "gesprek")
_EMBEDDED = frozenset(("of", "hoe", "wat", "waar", "wie", "wanneer", "waarom", "welke"))
_CLAUSE_SUBJECTS = frozenset(("ik", "k", "ze", "zij", "hij", "we", "wij", "het", "dat", "mijn"))
_ABOUT_THE_QUESTION = frozenset(("bedoel", "bedoelt", "vraag", "vragen", "snap", "moet", "zeggen",
                                 "antwoorden", "antwoord"))


def _says_only_dont_know(tokens: list[str]) -> bool:
    """'weet ik niet', 'geen idee', 'wat bedoel je?': nothing else of substance (words of four
    letters or more) besides not knowing. "ik weet niet of ik dat wel kan" says something: a
    doubt about the student's own situation (an embedded clause not about the question)."""
    for i, token in enumerate(tokens[:-1]):
        if (token in _EMBEDDED and tokens[i + 1] in _CLAUSE_SUBJECTS
                and not _ABOUT_THE_QUESTION & set(tokens[i + 1:])):
            return False
    return all(len(t) < 4 or t in _DONT_KNOW_WORDS for t in tokens)


def _answers_too(reply: Reply) -> bool:
    """A mentor request that is also a full answer: a statement, not a question, of more words
    than a request takes ("ik wil mijn mentor spreken" is a request only)."""
    tokens = words(reply.text)
    return ("?" not in reply.text and len(tokens) > SHORT_FEELING_WORDS
            and not (tokens[0] in _STORY_SUBJECTS and tokens[1] in _NOW_VERBS)
            and tokens[0] not in _QUESTION_START)


def _tells_a_story(tokens: list[str]) -> bool:
    """'ik bakte broodjes', 'we sorteerden post': what the student did, not a request now."""
    return len(tokens) >= 2 and tokens[0] in _STORY_SUBJECTS and tokens[1] not in _NOW_VERBS


def stands_inside_a_question(reply: Reply) -> bool:
    """Whether a side intent stands while a question is open (else the message is the answer).
    The student's mentor request stands whenever it names a person or talking: a person is
    never refused on a guess."""
    tokens = words(reply.text)
    if not tokens:
        return True
    if reply.intent == "mentor_gevraagd":  # any mention of a person is enough: never refused
        return bool(_PERSON_WORDS & set(tokens)) or any(t.startswith(_PERSON_STEMS)
                                                       for t in tokens)
    if reply.intent == "begroeten":
        return len(tokens) <= SHORT_REQUEST_WORDS and any(is_greeting(t) for t in tokens)
    if reply.intent in ("start_gesprek", "hervatten"):
        # "dat ik anderen verder help", "ik help mensen verder": a clause or a story, not a
        # request to start or go on.
        telling = tokens[0] in _CLAUSE_START or _tells_a_story(tokens)
        return (not telling and len(tokens) <= SHORT_START_WORDS
                and bool(_START_WORDS & set(tokens)))
    if reply.intent in ("weet_niet", "uitleg_gevraagd"):
        return _says_only_dont_know(tokens) or (
            reply.intent == "uitleg_gevraagd" and _is_request(reply.text, tokens,
                                                              intent=reply.intent))
    if reply.intent in SIDE_TRACKS and "?" not in reply.text and _tells_a_story(tokens):
        return False  # the student tells what they did or saw
    if reply.intent == "frustratie":
        return _is_request(reply.text, tokens, SHORT_FEELING_WORDS, reply.intent)
    return _is_request(reply.text, tokens, intent=reply.intent)


def handle_answer(script: Script, question: Question, reply: Reply, state: State,
                  level: str | None = None, today: date | None = None,
                  progress: int | None = None, said: Collection[str] = (),
                  repeated: bool = False) -> Outcome:
    """Decide what a reply to `question` leads to. `progress`: how far the conversation is
    (see `progress`); it chooses the form of recurring texts, so that questions asked one after
    the other never get the same form (without it: the question's place in the script).
    `said`: what the coach already said in this conversation; a recurring text takes a form
    the student has not read yet. `repeated`: the student sent their previous message again.
    """
    turn = _ordinal(script, question) if progress is None else progress
    if question.role == Role.FOLLOWUP:
        return _handle_followup(script, reply, level)
    if question.role == Role.NEW_STEP and _is_no(reply):
        return Outcome(reply.text.strip(), State(), script.text("nieuwe_stap_nee", level),
                       store_as="answer")
    if question.role == Role.LEVEL and (told := level_in_answer(script, reply.text)):
        return Outcome(told, State())  # "vmbo" answers, whatever the classifier thinks
    if reply.intent in question.answer_intents:
        reply = Reply(reply.text, "vertellen", reply.confidence)
    also = None
    # Sent again right after the coach went on a side track: the student meant it as the
    # answer (the side reply once more would repeat itself word for word).
    insists = repeated and state.mode == Mode.BACK
    if not insists and (outcome := _side_track(reply, state)):
        if not (outcome.side_track == "mentor_gevraagd" and _answers_too(reply)):
            return outcome
        # "meneer visser vragen of hij met ons drieën wil praten": the mentor hears it, and
        # the answer counts (the student is not asked the same question again).
        also, reply = outcome.side_track, Reply(reply.text, "vertellen", reply.confidence)
    fresh = State()
    if reply.intent in ("uitleg_gevraagd", "weet_niet") and not stands_inside_a_question(reply):
        reply = Reply(reply.text, "vertellen", reply.confidence)  # an answer after all
    if reply.intent == "uitleg_gevraagd" and reply.confidence >= SIDE_TRACK_MIN_CONFIDENCE:
        return Outcome(None, State(Mode.EXPLAIN, state.probes, state.dont_know))
    skip = _is_skip(reply.text)
    if reply.intent == "weet_niet" or skip:
        # "overslaan" says so: skipped at once. "weet ik niet" gets one explanation first.
        if state.dont_know >= 1 or skip:
            return Outcome(SKIPPED, fresh, _pick_text(script, "overgeslagen", level, turn, said),
                           store_as="skip")
        return Outcome(None, State(Mode.EXPLAIN, state.probes, state.dont_know + 1),
                       store_as="probe")
    if question.role == Role.LEVEL:  # no level in the answer: ask once more, then go on
        if state.probes < len(question.probes):
            return Outcome(None, State(Mode.PROBE, state.probes + 1, state.dont_know))
        return Outcome(SKIPPED, fresh, _pick_text(script, "verder_zonder_druk", level, turn,
                                                  said))
    when = parse_when(reply.text, today) if question.needs_date else None
    unclear = (question.needs_date and when is None) or (
        not question.short_ok and not question.needs_date and is_vague(reply.text, script)
    )
    if unclear and state.probes < len(question.probes):
        return Outcome(None, State(Mode.PROBE, state.probes + 1, state.dont_know),
                       store_as="probe")
    # Texts that may come more than once take turns with their forms (`afwisselen`), by the
    # question's place in the script: questions next to each other never get the same form.
    say = _pick_text(script, "verder_zonder_druk", level, turn, said) if unclear else []
    if not unclear and question.reaction:  # praise naming the student's own words
        say = script.pick(question.reaction, level, turn, said=said, or_nothing=True,
                          antwoord=reply.text)
    part = None
    if question.role in REASONS:
        part = FOLLOWUP_REASON
    elif question.role == Role.NEW_STEP and not unclear:
        part, when = FOLLOWUP_NEXT_STEP, parse_when(reply.text, today)
    return Outcome(reply.text.strip(), fresh, say, store_as="answer", when=when,
                   followup_part=part, side_track=also)


def followup_context(status: str | None) -> dict[str, bool]:
    """The conditions the follow-up's later questions depend on, from how it went."""
    return {WENT_WELL: status == "gelukt", WENT_BADLY: status in ("deels", "niet_gelukt")}


def level_in_answer(script: Script, text: str) -> str | None:
    """The level a student names ("vmbo kader", "mbo niveau 2", "bbl"), by the script's
    `niveau_herkennen` words; None when the answer names none."""
    return next((level for level, phrases in script.level_words().items()
                 if has_words(text, phrases)), None)


def has_words(text: str, phrases: tuple[str, ...], prefix: bool = False) -> bool:
    """Whether `text` holds one of `phrases` as whole words (`prefix`: a phrase may also begin
    a longer word, "dreig" in "dreigde")."""
    padded = " " + " ".join(words(text)) + " "
    end = "" if prefix else " "
    return any(f" {' '.join(words(p))}{end}" in padded for p in phrases if words(p))


def _answered(value: object, script: Script) -> bool:
    """A real answer: given, not skipped, and not one the coach already had to let go as vague
    (a student who struggled gets no extra question on top)."""
    return isinstance(value, str) and value != SKIPPED and not is_vague(value, script)


def answer_context(script: Script, slots: dict) -> dict[str, bool]:
    """The conditions (`alleen_bij`) that follow from this conversation's answers so far: the
    kind of experience (a visit is about what the student saw and heard, work about what they
    did and what was expected), and whether an answer still lacks the how or the why."""
    experience = slots.get(script.key_of(Role.EXPERIENCE) or "")
    visit = isinstance(experience, str) and experience != SKIPPED and has_words(
        experience, script.deepening_words("bezoek"))
    went_well = slots.get(script.key_of(Role.WENT_WELL) or "")
    liked = slots.get(script.key_of(Role.LIKED) or "")
    return {
        "ervaring_bezoek": visit,
        "ervaring_werk": not visit,
        "goed_zonder_hoe": _answered(went_well, script) and not has_words(
            str(went_well), script.deepening_words("hoe")),
        "leuk_zonder_reden": _answered(liked, script) and not has_words(
            str(liked), script.deepening_words("reden")),
    }


# Greetings and lead-ins around an experience named in a first message ("hoi! ik wil iets
# vertellen over mijn stage bij de jumbo" -> "mijn stage bij de jumbo").
_OPENING_GREETING = re.compile(
    r"^\W*(?:(?:hoi+|hallo+|hey+|hee+|hi|hai|yo+|ey+|goede(?:morgen|middag|avond)|dag|"
    r"coach|loopbaancoach)\b\W*)+", re.IGNORECASE)
_OPENING_LEAD = re.compile(
    r"^(?:ik\s+)?(?:wil|zou|mag|kan|kunnen)\s+(?:ik\s+|we\s+|wij\s+)?(?:graag\s+|even\s+|ff\s+)?"
    r"(?:iets\s+|het\s+|wat\s+)?(?:willen\s+)?"
    r"(?:vertellen|hebben|praten|het\s+hebben|kletsen)\s+over\s+", re.IGNORECASE)
_OPENING_TRAIL = re.compile(
    r"[,.;!?]*\s*(?:kan|mag|kunnen|mogen)\s+(?:ik|we|wij)\s+(?:daar|hier)(?:over)?\b.*$",
    re.IGNORECASE)
OPENING_MIN_WORDS = 2  # "mijn stage": enough to talk about


def experience_in_opening(script: Script, text: str | None) -> str | None:
    """The experience a student names in a first message, without greeting or lead-in; None
    when the message names none (a plain "hoi", or "ik wil een gesprek")."""
    if not text or not has_words(text, script.deepening_words("ervaring")
                                + script.deepening_words("bezoek")):
        return None
    rest = _OPENING_GREETING.sub("", text.strip())
    rest = _OPENING_LEAD.sub("", rest)
    rest = _OPENING_TRAIL.sub("", rest).strip(" ,.;:!?")
    if len(words(rest)) < OPENING_MIN_WORDS or len(rest) > 400:
        return None
    return rest


def handle_check(script: Script, reply: Reply, state: State, level: str | None = None,
                 said: Collection[str] = ()) -> Outcome:
    """The student's reply to a step summary ("Klopt dat?")."""
    fresh = State()
    if state.mode == Mode.CORRECT:
        return Outcome(reply.text.strip(), fresh, _correction_received(script, reply, level,
                                                                       said),
                       store_as="correction")
    if _yes_and_thanks(reply.text):  # "Ja. Dank u": confirmed, not a side track
        return Outcome(CONFIRMED, fresh)
    if outcome := _side_track(reply, state):
        return outcome
    tokens = words(reply.text)
    adds = "maar" in tokens and len(tokens) > 3  # "ja maar de dag wordt vrijdag": a change
    if reply.intent in ("bevestigen", "weet_niet", "bedanken") and not adds:
        # No words here: the next step starts with `samenvatting_goed` (ask_messages), where
        # the conversation's progress chooses a form the student has not read yet.
        return Outcome(CONFIRMED, fresh)
    if reply.intent == "ontkennen" and len(words(reply.text)) <= 3:
        return Outcome(None, State(Mode.CORRECT))
    # Anything else is the student's own correction or addition.
    return Outcome(reply.text.strip(), fresh, _correction_received(script, reply, level, said),
                   store_as="correction")


def _correction_received(script: Script, reply: Reply, level: str | None,
                         said: Collection[str]) -> list[str]:
    # handle_check knows nothing of the conversation: the form follows from the correction's
    # words (a checksum, the same in every process), so different corrections mostly differ.
    choice = zlib.crc32(" ".join(words(reply.text)).encode("utf-8"))
    return _pick_text(script, "correctie_ontvangen", level, choice, said)


_YES = {"ja", "jaa", "jep", "yes", "ye", "gelukt", "zeker", "jazeker", "yep", "jup", "klopt"}
_CHECK_YES = frozenset(("ja", "jaa", "jep", "yes", "yep", "jup", "klopt", "oke", "ok", "prima",
                        "top", "zeker", "jazeker", "goed", "precies"))
# What may follow a yes to a summary without making it a correction: thanks and filler.
_YES_TAIL = frozenset(("dank", "dankje", "dankjewel", "dankuwel", "bedankt", "thanks", "thx",
                       "u", "je", "hoor", "wel", "zo", "is", "het", "goed", "klopt", "prima",
                       "top", "helemaal", "echt", "super", "mooi", "ja", "nou"))


def _yes_and_thanks(text: str) -> bool:
    tokens = words(text)
    return bool(tokens) and tokens[0] in _CHECK_YES and set(tokens[1:]) <= _YES_TAIL
_NO = {"nee", "neen", "nope", "no", "nah", "niet", "mislukt"}
_PARTLY = {"half", "beetje", "deels", "gedeeltelijk"}
_SOMETHING_ELSE = ("iets nieuws", "iets anders", "nieuwe ervaring", "geen nieuwe stap")


def _handle_followup(script: Script, reply: Reply, level: str | None) -> Outcome:
    tokens = words(reply.text)
    first = tokens[0] if tokens else ""
    joined = " ".join(tokens)
    if _PARTLY & set(tokens) or ("niet gelukt" in joined and first in _YES):
        status, key = "deels", "vorige_stap_anders"
    elif "niet gelukt" in joined:
        status, key = "niet_gelukt", "vorige_stap_niet_gelukt"
    elif reply.intent == "bevestigen" or first in _YES or "gelukt" in tokens:
        status, key = "gelukt", "vorige_stap_gelukt"
    elif reply.intent == "ontkennen" or first in _NO:
        status, key = "niet_gelukt", "vorige_stap_niet_gelukt"
    else:
        status, key = "deels", "vorige_stap_anders"
    return Outcome(reply.text.strip(), State(), script.text(key, level), store_as="followup",
                   followup_status=status)


def _is_no(reply: Reply) -> bool:
    tokens = words(reply.text)
    if _is_skip(reply.text):
        return True
    if not tokens:
        return False
    joined = " ".join(tokens)
    return (tokens[0] in _NO or any(p in joined for p in _SOMETHING_ELSE)
            or (reply.intent == "ontkennen" and len(tokens) <= 4
                and reply.confidence >= SIDE_TRACK_MIN_CONFIDENCE))


def _is_skip(text: str) -> bool:
    return " ".join(words(text)) in {"overslaan", "sla over", "skip", "volgende vraag", "volgende"}


# --- asking -------------------------------------------------------------------------------


def ask_messages(script: Script, step: Step, slot: str, state: State, slots: dict,
                 level: str | None = None, starting_step: bool = False,
                 context: dict | None = None, said: Collection[str] = ()) -> list[str]:
    """What the coach says to ask for `slot` (a question or the step's summary check).
    `said`: what the coach already said in this conversation (see Script.pick)."""
    ctx = {**{k: v for k, v in slots.items() if v != SKIPPED}, **(context or {})}
    earlier = int(ctx.get(EARLIER_SLOT) or 0)
    # A student who had a conversation before knows how it goes: a shorter introduction, and
    # each conversation one form further (`afwisselen`): never last time's form.
    intro_text = step.intro_later if earlier and step.intro_later is not None else step.intro
    intro = script.pick(intro_text, level, earlier, said=said) if starting_step else []
    experience = script.key_of(Role.EXPERIENCE)
    if starting_step and experience and slot != experience and slots.get(experience) and any(
            q.key == experience for q in step.questions):
        # The student named the experience in the first message: no examples of one.
        intro = _pick_text(script, "ervaring_uit_opening", level, 0)
    # Texts that may come more than once take turns with their forms (`afwisselen`), by how far
    # the conversation is: a side question at the next question gets the next form.
    turn = progress(script, slots) + state.probes + state.dont_know + earlier
    if starting_step and _previous_step_confirmed(script, step, slots):
        intro = _pick_text(script, "samenvatting_goed", level,
                           _step_number(script, step) + earlier, said) + intro
    if slot == step.check_slot():
        if state.mode == Mode.CORRECT:
            return script.text("correctie_vraag", level)
        lines = [
            line
            for key, template in step.summary_lines.items()
            if slots.get(key) and slots.get(key) != SKIPPED
            for line in script.render(template, level, **ctx)
        ]
        return (intro + script.pick(step.summary_head, level, earlier, said=said) + lines
                + script.pick(step.summary_question, level, earlier, said=said))
    question = script.question(slot)
    text = script.render(question_text(question, earlier, ctx), level, **ctx)
    if state.mode == Mode.PROBE and 0 < state.probes <= len(question.probes):
        return script.render(question.probes[state.probes - 1], level, **ctx)
    if state.mode == Mode.EXPLAIN:
        # The explanation asks the question again in other words: the question itself stood
        # just above, and the same line twice reads like a form.
        offer = (_pick_text(script, "weet_niet_aanbod", level, turn, said)
                 if state.dont_know == 1 else [])
        explained = (script.render(question.explanation, level, **ctx)
                     + script.render(question.example, level, **ctx))
        # Explained before at this question: what the student has not read yet, if anything.
        return [line for line in explained if line not in said] + offer or explained + offer
    if state.mode in (Mode.BACK, Mode.BUSY):
        # One bubble: "Goed, terug naar de vraag: <the question>", not the question again as
        # a line of its own the student already read.
        key = "terug_naar_vraag" if state.mode == Mode.BACK else "al_bezig"
        leads = [_join(lead, text) for lead in script.text_forms(key, level)]
        fresh = [lines for lines in leads if not any(line in said for line in lines)]
        return (fresh or leads)[turn % len(fresh or leads)] if leads else text
    return intro + text


def _join(lead: list[str], text: list[str]) -> list[str]:
    """The lead's last line and the question's first as one bubble."""
    return lead[:-1] + [" ".join(lead[-1:] + text[:1])] + text[1:]


def question_text(question: Question, earlier: int, known: dict | None = None) -> Any:
    """The question's text; `tekst_later` once the student had `later_vanaf` conversations;
    a `tekst_als` text when what it depends on from last time is `known`."""
    if question.later_text is not None and earlier >= question.later_from:
        return question.later_text
    for condition, text in question.texts_if:
        if (known or {}).get(condition):
            return text
    return question.text


# Acknowledgements and hints the student needs to read once or twice, not every time: when
# every form was said in this conversation, the coach says none (Script.pick's or_nothing).
DROPPABLE_TEXTS = frozenset(("weet_niet_aanbod", "overgeslagen", "verder_zonder_druk",
                             "samenvatting_goed", "correctie_ontvangen"))


def _pick_text(script: Script, key: str, level: str | None, choice: int,
               said: Collection[str] = ()) -> list[str]:
    return script.pick_text(key, level, choice, said=said, or_nothing=key in DROPPABLE_TEXTS)


def _ordinal(script: Script, question: Question) -> int:
    """The question's place among all the script's questions."""
    keys = [q.key for step in script.steps.values() for q in step.questions]
    return keys.index(question.key) if question.key in keys else 0


def _step_number(script: Script, step: Step) -> int:
    return list(script.steps).index(step.key) if step.key in script.steps else 0


def progress(script: Script, slots: dict) -> int:
    """How far the conversation is: the questions and summary checks answered so far."""
    keys = [q.key for step in script.steps.values() for q in step.questions]
    keys += [step.check_slot() for step in script.steps.values()]
    return sum(1 for key in keys if slots.get(key) is not None)


def _previous_step_confirmed(script: Script, step: Step, slots: dict) -> bool:
    """Whether the student just said "ja" to the summary of the step before `step`."""
    order = list(script.steps)
    earlier = [script.steps[key] for key in order[: order.index(step.key)]
               if getattr(script.steps[key], "enabled", True)] if step.key in order else []
    return bool(earlier) and slots.get(earlier[-1].check_slot()) == CONFIRMED


def required_slots(script: Script, step_key: str, context: dict) -> list[str]:
    """The questions asked in a step, in the script's order: enabled ones, and conditional ones
    only when their condition holds (e.g. a previous plan to follow up on), then the summary
    check when the step has one; nothing when the step is switched off."""
    step = script.steps[step_key]
    if not step.enabled:  # switched off by the school: the form ends at once, the next begins
        return []
    slots = [q.key for q in step.questions
             if q.enabled and (q.only_if is None or context.get(q.only_if))]
    return slots + ([step.check_slot()] if step.check else [])


def next_question(script: Script, answers: dict, context: dict) -> str | None:
    """The question to ask next: the first one of the script's steps, in order, that the
    conversation asks (`required_slots`) and that has no answer yet; None when all are answered
    and the conversation can close."""
    for key in script.steps:
        for slot in required_slots(script, key, context):
            if answers.get(slot) is None:
                return slot
    return None


def overview_messages(script: Script, items: list[tuple[str, str]], level: str | None = None,
                      limit: int = 8) -> list[str]:
    """The student's own discoveries per competency ("wat heb ik ontdekt?"), newest first."""
    from bot.taxonomy import COMPETENCY_BY_KEY

    if not items:
        return script.text("overzicht_leeg", level)
    lines = script.text("overzicht_kop", level)
    for key, words_ in items[:limit]:
        label = COMPETENCY_BY_KEY[key].label if key in COMPETENCY_BY_KEY else key
        lines += script.text("overzicht_regel", level, label=label, tekst=words_)
    return lines
