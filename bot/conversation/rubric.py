"""A rubric for a good loopbaangesprek, applied to transcripts (issue: coach, not questionnaire).

Observable criteria from the handreiking's tips: build on what the student said, ask for one
concrete moment and for reasons, link the insight to what the student finds important, praise
that names what the student did, short summaries in the second person, few check rounds, no
repeated lines, the student writing a fair share of the words, a complete plan, a closing with
a compliment and the follow-up hook, and no ordinary answer derailing the conversation.

Pure functions over a transcript; the texts the coach uses are recognised through the script
(bot.conversation.script), so a coordinator's rewording does not change what is measured. `bot eval
gesprekken` (bot.rubric_eval) holds the conversations against the running servers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.conversation.script import Script

_WORD = re.compile(r"[a-zà-ÿ0-9']+")
PRAISE_WORDS = ("sterk", "top", "goed zo", "mooi", "knap", "wat goed", "super", "netjes")
# Words that carry no content when checking whether praise names what the student did.
_STOP = frozenset((
    "de", "het", "een", "en", "of", "maar", "dat", "die", "dit", "deze", "ik", "je", "jij",
    "jou", "mij", "me", "mijn", "we", "wij", "ze", "zij", "hij", "haar", "hem", "zijn", "was",
    "waren", "ben", "bent", "is", "heb", "hebt", "had", "hadden", "met", "voor", "van", "naar",
    "bij", "in", "op", "aan", "om", "te", "er", "niet", "wel", "ook", "nog", "al", "toen",
    "dan", "als", "want", "dus", "heel", "echt", "gewoon", "best", "wat", "hoe", "wie", "waar",
))
STUDENT_SHARE_MIN = 0.35
SUMMARY_MAX_LINES = 3
CHECK_ROUNDS_MAX = 2
BUBBLES_BEFORE_FIRST_QUESTION_MAX = 2
# Words of an experience, the rubric's own (not the script's, whose recognition it measures):
# an opening that holds one names its experience ("ik wil iets vertellen over mijn stage");
# one that does not ("hallo, mijn mentor zei dat ik dit moest doen") leaves it to be asked.
OPENING_EXPERIENCE_WORDS = frozenset((
    "stage", "stages", "bijbaan", "bijbaantje", "baantje", "vakantiewerk", "meegelopen",
    "meeloopdag", "meeloopstage", "snuffelstage", "gastles", "gastcollege", "bedrijfsbezoek",
    "excursie", "project", "projectweek", "vrijwilligerswerk", "beroepentest", "workshop",
    "proefles", "proefstuderen", "rondleiding", "training", "wedstrijd", "toernooi", "opendag",
    "werkweek", "beurs"))
OPENING_EXPERIENCE_PHRASES = ("open dag", "open avond")


@dataclass(frozen=True)
class Turn:
    student: str
    bot: tuple[str, ...]


@dataclass
class Transcript:
    id: str
    level: str | None
    turns: list[Turn] = field(default_factory=list)
    plan: dict[str, object] | None = None  # the stored plan: what / who / when_date

    @property
    def bot_lines(self) -> list[str]:
        return [line for turn in self.turns for line in turn.bot]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Criterion:
    key: str
    title: str  # Dutch, for the report
    check: Callable[[Transcript, Script], bool | None]  # None: does not apply


# --- helpers over the script --------------------------------------------------------------


def _texts(script: Script, level: str | None, *keys: str) -> set[str]:
    return {line for key in keys for form in script.text_forms(key, level)
            for line in form}


def _question_lines(script: Script, key: str, level: str | None) -> set[str]:
    return set(script.render(script.question(key).text, level))


def _summary_blocks(t: Transcript, script: Script) -> list[list[str]]:
    """The lines between a step summary's head and its question ("Klopt dat?")."""
    heads = {line for step in script.steps.values()
             for form in script.forms(step.summary_head, t.level) for line in form}
    asks = {line for step in script.steps.values()
            for form in script.forms(step.summary_question, t.level) for line in form}
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in t.bot_lines:
        if line in heads:
            current = []
        elif current is not None and line in asks:
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _is_praise(line: str) -> bool:
    low = line.lower()
    return any(low.startswith(word) for word in PRAISE_WORDS)


def _content(text: str) -> set[str]:
    return {w for w in words(text) if len(w) >= 4 and w not in _STOP}


# --- criteria -------------------------------------------------------------------------------


def builds_on_opening(t: Transcript, script: Script) -> bool | None:
    """An experience named in the opening message is not asked for again."""
    if not t.turns:
        return None
    opening = words(t.turns[0].student)
    if not (OPENING_EXPERIENCE_WORDS & set(opening)
            or any(p in " ".join(opening) for p in OPENING_EXPERIENCE_PHRASES)):
        return None
    asked = _question_lines(script, "ervaring", t.level)
    return not any(line in asked for line in t.bot_lines)


def concrete_moment(t: Transcript, script: Script) -> bool:
    return any("moment" in line.lower() and line.rstrip().endswith("?") for line in t.bot_lines)


# A reason in the student's own words: then the coach need not ask why.
_REASON_WORDS = frozenset(("want", "omdat", "doordat", "zodat", "daarom", "dus", "vanwege",
                           "anders"))
_NO_ANSWER = frozenset(("overslaan", "weet ik niet", "weet niet", "geen idee", "idk"))


def _last_answer(t: Transcript, script: Script, key: str) -> str | None:
    """The student's last message right after the coach asked `key` (or probed or explained
    it), recognised through the script; None when it was never asked."""
    from bot.demo_talk import Coach

    coach = Coach(script, t.level)
    answer = None
    for asked, answered in zip(t.turns, t.turns[1:], strict=False):
        if coach.asked(list(asked.bot)) == key:
            answer = answered.student
    return answer


def asks_why(t: Transcript, script: Script) -> bool | None:
    """The coach asks why, unless the student already said why they liked it (or not), or
    left the liking question open."""
    if any(line.rstrip().endswith("?") and re.search(r"\bwaarom\b|\bwat maakte\b",
                                                     line.lower())
           for line in t.bot_lines):
        return True
    liked = _last_answer(t, script, "leuk_niet_leuk")
    if liked is None or " ".join(words(liked)) in _NO_ANSWER:
        return None
    return None if _REASON_WORDS & set(words(liked)) else False


def links_to_values(t: Transcript, script: Script) -> bool:
    return any("belangrijk" in line.lower() and line.rstrip().endswith("?")
               for line in t.bot_lines)


def specific_praise(t: Transcript, script: Script) -> bool | None:
    """Every praise line names something the student said in the message before it (or in
    the one before that: after "nee" to a safety check, the praise is about the answer the
    check interrupted)."""
    checked = []
    for before, turn in zip([Turn("", ()), *t.turns], t.turns, strict=False):
        for line in turn.bot:
            if _is_praise(line):
                said = _content(turn.student) | _content(before.student)
                checked.append(bool(_content(line) & said))
    return all(checked) if checked else None


def summary_form(t: Transcript, script: Script) -> bool | None:
    """Summaries: at most three lines, in the second person (no "ik" left in them)."""
    blocks = _summary_blocks(t, script)
    if not blocks:
        return None
    return all(len(b) <= SUMMARY_MAX_LINES and not any(
        w in ("ik", "mijn", "mij") for line in b for w in words(line)) for b in blocks)


def few_check_rounds(t: Transcript, script: Script) -> bool:
    asks = {line for step in script.steps.values()
            for form in script.forms(step.summary_question, t.level) for line in form}
    return sum(line in asks for line in t.bot_lines) <= CHECK_ROUNDS_MAX


def no_repeated_line(t: Transcript, script: Script) -> bool:
    lines = t.bot_lines
    return len(lines) == len(set(lines))


def student_share(t: Transcript) -> float:
    student = sum(len(words(turn.student)) for turn in t.turns)
    bot = sum(len(words(line)) for line in t.bot_lines)
    return student / (student + bot) if student + bot else 0.0


def student_share_ok(t: Transcript, script: Script) -> bool:
    return student_share(t) >= STUDENT_SHARE_MIN


def complete_plan(t: Transcript, script: Script) -> bool:
    plan = t.plan or {}
    return bool(plan.get("what") and plan.get("who") and plan.get("when_date"))


def _closing_patterns(script: Script, level: str | None) -> list[re.Pattern[str]]:
    """Every form of the closing as a pattern: `afronden`, and `afronden_met_plan` with any
    words where the plan's step and day go."""
    texts = script.raw["teksten"]
    return [pattern for key in ("afronden", "afronden_met_plan") if key in texts
            for form in script.form_patterns(texts[key], level) for pattern in form]


def closing(t: Transcript, script: Script) -> bool | None:
    """The last reply is the script's closing (a compliment and the promise to ask how it
    went, with the plan's first step and day where the script names them)."""
    if not t.turns:
        return None
    patterns = _closing_patterns(script, t.level)
    return any(p.fullmatch(line) for p in patterns for line in t.turns[-1].bot)


def not_derailed(t: Transcript, script: Script) -> bool:
    """No pause, goodbye, deletion prompt, concern reply or safety check in an ordinary
    conversation."""
    side = _texts(script, t.level, "pauze", "afscheid_tijdens_gesprek", "verwijderen_vraag")
    side |= set(script.render(script.raw["signalen"]["aandacht"], t.level))
    side |= set(script.signal_reply("crisis", t.level))
    side |= set(script.signal_reply("crisis_check", t.level))
    return not any(line in side for line in t.bot_lines)


def short_start(t: Transcript, script: Script) -> bool | None:
    """At most two bubbles before the first question of the conversation."""
    lines = [line for turn in t.turns[1:3] for line in turn.bot]
    for n, line in enumerate(lines):
        if line.rstrip().endswith("?"):
            return n <= BUBBLES_BEFORE_FIRST_QUESTION_MAX
    return None


CRITERIA: tuple[Criterion, ...] = (
    Criterion("bouwt_voort", "Bouwt voort op wat de student al zei", builds_on_opening),
    Criterion("concreet_moment", "Vraagt naar één concreet moment", concrete_moment),
    Criterion("waarom", "Vraagt waarom", asks_why),
    Criterion("waarde", "Koppelt het inzicht aan wat de student belangrijk vindt",
              links_to_values),
    Criterion("lof_specifiek", "Lof noemt wat de student deed", specific_praise),
    Criterion("samenvatting", "Samenvattingen kort en in de jij-vorm", summary_form),
    Criterion("checks", f"Hooguit {CHECK_ROUNDS_MAX} keer 'Klopt dat?'", few_check_rounds),
    Criterion("geen_herhaling", "Geen zin van de coach twee keer", no_repeated_line),
    Criterion("aandeel_student",
              f"Student schrijft ≥ {STUDENT_SHARE_MIN:.0%} van de woorden (per gesprek)",
              student_share_ok),
    Criterion("plan", "Plan met actie, persoon en dag", complete_plan),
    Criterion("afsluiting", "Afsluiting met compliment en vervolgvraag", closing),
    Criterion("niet_ontspoord", "Geen gewoon antwoord leidt tot een zijpad", not_derailed),
    Criterion("korte_start", "Hooguit twee berichten voor de eerste vraag", short_start),
)


@dataclass
class Score:
    key: str
    title: str
    passed: int = 0
    applicable: int = 0
    failed_ids: list[str] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        return self.passed / self.applicable if self.applicable else None


def score(transcripts: list[Transcript], script: Script) -> list[Score]:
    scores = [Score(c.key, c.title) for c in CRITERIA]
    for t in transcripts:
        for criterion, result in zip(CRITERIA, scores, strict=True):
            outcome = criterion.check(t, script)
            if outcome is None:
                continue
            result.applicable += 1
            if outcome:
                result.passed += 1
            else:
                result.failed_ids.append(t.id)
    return scores


def median_share(transcripts: list[Transcript]) -> float:
    """The student's share of the words in the typical (median) conversation."""
    shares = sorted(student_share(t) for t in transcripts)
    return shares[len(shares) // 2] if shares else 0.0


def report(scores: list[Score], transcripts: list[Transcript]) -> str:
    median = median_share(transcripts)
    lines = ["| criterium | gehaald | van toepassing | aandeel |", "|---|---|---|---|"]
    for s in scores:
        share = f"{s.share:.0%}" if s.share is not None else "–"
        lines.append(f"| {s.title} | {s.passed} | {s.applicable} | {share} |")
    # The issue sets the share's bar on the typical conversation: a student who answers in one
    # to four words cannot write 35 % of a talk of twenty questions, however short they are.
    if transcripts:
        typical = int(median >= STUDENT_SHARE_MIN)
        lines.append(f"| Typisch gesprek: student schrijft ≥ {STUDENT_SHARE_MIN:.0%} van de "
                     f"woorden (mediaan {median:.0%}) | {typical} | 1 | {typical:.0%} |")
    lines.append("")
    lines.append(f"Gesprekken: {len(transcripts)}; mediaan aandeel woorden van de student: "
                 f"{median:.0%}.")
    return "\n".join(lines)
