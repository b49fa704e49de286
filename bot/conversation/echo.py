"""A student's words echoed back by the coach: short, and turned to the second person.

`key_words` keeps the heart of an answer (its first sentence, without lead-ins such as
"ik noem het", "ik vond het", "nou" and fillers such as "eigenlijk", at most a few words);
`second_person` turns "ik ben" into "je bent", "mijn tante" into "je tante". `kern` does both,
as the script's `{naam:kern}` does in bot.conversation.script.

Pure functions over plain text; no model and no student data is kept or logged.
"""

from __future__ import annotations

import re

MAX_WORDS = 10  # words of a student's answer echoed in one summary line or praise
MIN_CUT = 3  # a clause boundary this many words in or later may end the echo

_GLUE = "\0"  # marks a token written without a space before it
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_QUOTES = "\"'“”‘’„"
_SUBJECT = frozenset({"ik", "k", "'k", "’k"})
_SUBJECT_AS_IK = {"k": "ik", "'k": "ik", "’k": "ik"}
# Words an echo cut short does not end on ("stage bij een…" -> "stage…").
_WEAK_END = frozenset({"een", "de", "het", "in", "je", "jouw", "mijn", "mn", "m'n", "ik", "me",
                       "bij", "op", "van", "en", "met", "naar", "aan", "voor", "te", "om",
                       "of", "die", "dat", "als", "maar",
                       "want", "omdat", "dus", "toen", "zo", "heel", "echt", "wel", "niet"})
# First words that are lower case in the middle of the coach's sentence.
_LOWER_START = frozenset({"je", "jou", "jezelf", "jouwe", "de", "het", "een", "dat", "die",
                          "dit", "deze", "er", "op", "in", "met", "bij", "voor", "naar"})

# Slang spellings of "ik ..." that students type as one word.
_GLUED = {"kweet": ["ik", "weet"], "kvind": ["ik", "vind"], "kvond": ["ik", "vond"],
          "kwil": ["ik", "wil"], "kben": ["ik", "ben"], "kheb": ["ik", "heb"],
          "kga": ["ik", "ga"], "kdenk": ["ik", "denk"]}
# Openings that only introduce the answer, matched on whole words at its start (repeatedly).
LEAD_INS: tuple[tuple[str, ...], ...] = tuple(sorted((tuple(p.split()) for p in (
    "ik weet het niet", "ik weet niet", "weet ik niet", "weet niet", "kweenie",
    "geen idee", "ik noem het", "ik zou het noemen", "ik noem dat", "ik zou zeggen",
    "ik denk dat", "ik denk", "volgens mij", "ik vond het", "ik vind het", "ik vond dat",
    "ik vind dat", "ik vond", "ik vind", "ik wil graag", "ik wil", "ik zou graag",
    "ik zou willen", "ik zou", "dat ik", "nou", "eigenlijk", "ehm", "uhm", "eh", "euh", "hmm",
    "haha", "ja", "jaa", "nee", "dus", "gewoon", "wel", "ok", "oke", "oké", "okay", "tja", "mja",
    "nja", "eerlijk gezegd", "misschien", "sowieso", "echt", "best", "heel", "wil ik",
    "zou ik", "vond ik het", "vind ik het",
)), key=len, reverse=True))
# Endings that add nothing ("..., denk ik", "ofzo").
TRAILERS: tuple[tuple[str, ...], ...] = tuple(sorted((tuple(p.split()) for p in (
    "denk ik", "ofzo", "of zo", "enzo", "en zo", "haha", "hahaha", "lol", "xd", "eigenlijk",
    "gewoon", "wel", "ofso",
)), key=len, reverse=True))
# Fillers dropped anywhere in the echo.
FILLERS = frozenset({"eigenlijk", "gewoon", "ehm", "uhm", "euh", "ofzo", "enzo", "haha", "lol"})
# A finite verb left without its subject once "dat ik" / "ik wil" is gone ("goed kan luisteren").
_DANGLING = frozenset({"kan", "kon", "wil", "wilde", "moet", "moest", "mag", "mocht", "zal",
                       "zou", "ga", "ging", "heb", "had", "ben", "was"})
_CLAUSE_WORDS = frozenset({"want", "omdat", "maar", "dus"})
_DANGLING_AUX = frozenset({"kan", "wil", "moet", "mag", "zal", "ga", "heb", "ben"})
# Words that end a clause for the verb agreement of a subordinate "ik" ("dat ik ... neem").
_CLAUSE_END = frozenset({"want", "omdat", "maar", "dus", "toen", "als", "of", "dat", "die",
                         "hij", "zij", "ze", "we", "wij", "jullie", "iemand"})

# Present tense after "ik" -> after "je" (main clause: "ik ben" -> "je bent").
_AFTER_JE = {
    "ben": "bent", "heb": "hebt", "kan": "kunt", "wil": "wilt", "zal": "zult", "ga": "gaat",
    "doe": "doet", "sta": "staat", "zie": "ziet", "sla": "slaat", "vind": "vindt",
    "word": "wordt", "hou": "houdt", "houd": "houdt", "kom": "komt", "loop": "loopt",
    "werk": "werkt", "help": "helpt", "leer": "leert", "denk": "denkt", "schrijf": "schrijft",
    "vraag": "vraagt", "app": "appt", "mail": "mailt", "bel": "belt", "zeg": "zegt",
    "maak": "maakt", "speel": "speelt", "ken": "kent", "zoek": "zoekt", "oefen": "oefent",
    "probeer": "probeert", "hoop": "hoopt", "voel": "voelt", "kijk": "kijkt", "lees": "leest",
    "neem": "neemt", "geef": "geeft", "krijg": "krijgt", "durf": "durft", "twijfel": "twijfelt",
    "luister": "luistert", "blijf": "blijft", "regel": "regelt", "plan": "plant",
    "onthoud": "onthoudt", "vergeet": "vergeet", "zet": "zet", "weet": "weet", "moet": "moet",
    "mag": "mag", "praat": "praat", "wacht": "wacht", "zit": "zit", "eet": "eet",
    "spreek": "spreekt", "stuur": "stuurt", "pak": "pakt", "vertel": "vertelt", "hoor": "hoort",
    "woon": "woont", "begin": "begint", "snap": "snapt", "tel": "telt", "kies": "kiest",
    "train": "traint", "kook": "kookt", "bak": "bakt", "veeg": "veegt", "ruim": "ruimt",
    "leid": "leidt", "rij": "rijdt", "fiets": "fietst", "poets": "poetst",
}
# A verb before an inverted "ik" ("nu kan ik" -> "nu kun je").
_BEFORE_JE = {"kan": "kun", "zal": "zul"}
_PREPOSITIONS = frozenset({"met", "van", "voor", "bij", "naar", "aan", "tegen", "om", "op",
                           "zonder", "achter", "over", "door", "na", "zoals", "dan"})
_PRONOUNS = {"ik": "je", "k": "je", "'k": "je", "’k": "je", "me": "je", "mijn": "je",
             "mn": "je", "m'n": "je", "m’n": "je", "ikzelf": "jezelf", "mezelf": "jezelf",
             "mijzelf": "jezelf", "mij": "je", "mijne": "jouwe",
             "we": "jullie", "wij": "jullie", "ons": "jullie", "onze": "jullie"}


def _tokens(text: str) -> list[str]:
    """Words and punctuation; punctuation that was glued to a word is marked by a leading
    NUL so that joining restores the original spacing."""
    out: list[str] = []
    for chunk in str(text).split():
        lead = re.match(r"^[^\w'’]*", chunk).group()
        rest = chunk[len(lead):]
        trail = re.search(r"[^\w]*$", rest).group() if rest else ""
        core = rest[: len(rest) - len(trail)] if trail else rest
        if lead:
            out.append(lead)
        if core:
            words = _GLUED.get(core.lower(), [core])
            out += [(_GLUE + w if lead and i == 0 else w) for i, w in enumerate(words)]
        if trail:
            out.append(_GLUE + trail)
    return out


def _word(token: str) -> str:
    return token.lstrip(_GLUE)


def _is_word(token: str) -> bool:
    word = _word(token)
    return bool(word) and (word[0].isalnum() or (len(word) > 1 and word[0] in "'’"))


def _join(tokens: list[str]) -> str:
    text = ""
    for token in tokens:
        if text and not token.startswith(_GLUE):
            text += " "
        text += _word(token)
    return text


def _lower(tokens: list[str]) -> list[str]:
    return [_SUBJECT_AS_IK.get(w, w) for w in (_word(t).lower() for t in tokens)]


def _strip_start(tokens: list[str]) -> list[str]:
    """Drop lead-ins and leading punctuation."""
    changed = True
    while changed and tokens:
        changed = False
        while tokens and not _is_word(tokens[0]):
            tokens, changed = tokens[1:], True
        low = _lower(tokens)
        for phrase in LEAD_INS:
            if tuple(low[: len(phrase)]) == phrase and len(tokens) > len(phrase):
                rest = tokens[len(phrase):]
                if phrase == ("dat", "ik"):
                    # Only "dat ik goed kan luisteren" -> "goed luisteren"; "dat ik op tijd
                    # ben" stays a clause ("dat je op tijd bent").
                    dangling = _dangling(rest)
                    if dangling is None:
                        continue
                    rest = rest[:dangling] + rest[dangling + 1:]
                elif phrase[-1] == "dat" and _lower(rest[:1]) == ["ik"]:
                    # "ik denk dat ik geduld heb gehad" -> "geduld gehad"; without a verb to
                    # drop it stays a clause ("dat je op tijd bent"), not "je op tijd ben".
                    dangling = _dangling(rest[1:])
                    rest = (rest[1:][:dangling] + rest[1:][dangling + 1:]
                            if dangling is not None else ["dat", *rest])
                tokens, changed = rest, True
                break
    if tokens:
        tokens = [_word(tokens[0]), *tokens[1:]]
    return tokens


def _dangling(tokens: list[str]) -> int | None:
    """Where a finite verb stands without its subject before an infinitive or participle
    ("goed kan luisteren", "klanten heb geholpen"); None if there is none."""
    low = _lower(tokens)
    for i, word in enumerate(low[:4]):
        if word in _DANGLING and i + 1 < len(low) and _verb_form(low[i + 1]):
            return i
        if i + 2 < len(low) and word in _DANGLING and _verb_form(low[i + 2]):
            return i
    return None


def _verb_form(word: str) -> bool:
    return len(word) > 3 and word not in ("geen", "tien", "alleen", "even", "open") and (
        word.endswith("en") or (word.startswith("ge") and len(word) > 4))


def _strip_end(tokens: list[str]) -> list[str]:
    changed = True
    while changed and tokens:
        changed = False
        while tokens and not _is_word(tokens[-1]):
            tokens, changed = tokens[:-1], True
        low = _lower(tokens)
        for phrase in TRAILERS:
            if len(tokens) > len(phrase) and tuple(low[-len(phrase):]) == phrase:
                tokens, changed = tokens[: -len(phrase)], True
                break
    return tokens


def _shorten(tokens: list[str], max_words: int) -> list[str]:
    """At most `max_words` words: end at a clause boundary if there is one, else with '…'."""
    words = [i for i, t in enumerate(tokens) if _is_word(t)]
    if len(words) <= max_words:
        return tokens
    limit = words[max_words]  # index of the first word too many
    for i in range(limit, 0, -1):
        before = sum(1 for t in tokens[:i] if _is_word(t))
        if before < MIN_CUT:
            break
        word = _word(tokens[i]).lower()
        if word.rstrip() in (",", ";", ":", "-", "–") or word in _CLAUSE_WORDS:
            return _strip_end(tokens[:i])
    kept = _strip_end(tokens[:limit])
    while len(kept) > 1 and _word(kept[-1]).lower() in _WEAK_END:
        kept = _strip_end(kept[:-1])
    return kept + [_GLUE + "…"]


def key_words(text: str, max_words: int = MAX_WORDS) -> str:
    """The heart of a student's answer in their own words: the first sentence that says
    something, without lead-ins ("ik noem het", "ik vond het", "dat ik", "nou"), fillers
    ("eigenlijk", "ofzo") or quotes, cut to about `max_words` words. Falls back to the whole
    (trimmed) text when nothing would remain."""
    plain = " ".join(str(text or "").split()).strip(_QUOTES + " ")
    if not plain:
        return ""
    for sentence in _SENTENCE_END.split(plain):
        tokens = [t for t in _tokens(sentence.strip(_QUOTES + " "))
                  if _word(t).lower() not in FILLERS and _word(t) not in _QUOTES]
        tokens = _strip_end(_strip_start(tokens))
        if any(_is_word(t) for t in tokens) and tuple(_lower(tokens)) not in LEAD_INS:
            return _join(_shorten(tokens, max_words))
    return _join(_shorten(_tokens(plain), max_words))


def second_person(text: str) -> str:
    """`text` as the coach says it back: ik -> je, mij/me -> je (jou after a preposition),
    mijn/mn -> je, ikzelf/mezelf -> jezelf, we/ons -> jullie, and the verb after "ik"
    agreeing where that is simple ("ik ben" -> "je bent", "ik kan" -> "je kunt", "kan ik" ->
    "kun je")."""
    tokens = _tokens(str(text or ""))
    low = _lower(tokens)
    agree = _subordinate_verbs(tokens, low)
    out: list[str] = []
    je_clause = False  # a verb agreed with "je" earlier in this clause ("je werkt en leert")
    for i, token in enumerate(tokens):
        word = low[i]
        prev = low[i - 1] if i else ""
        nxt = low[i + 1] if i + 1 < len(tokens) else ""
        new = _word(token)
        if word in _PRONOUNS and not (word == "k" and i and _is_word(tokens[i - 1])
                                       and nxt not in _AFTER_JE):
            new = "jou" if word == "mij" and prev in _PREPOSITIONS else _PRONOUNS[word]
        elif (prev in _SUBJECT or i in agree or (prev == "en" and je_clause)) and (
                word in _AFTER_JE):
            new, je_clause = _AFTER_JE[word], True
        elif nxt in _SUBJECT and word in _BEFORE_JE:
            new = _BEFORE_JE[word]
        if not _is_word(token) or word in _CLAUSE_END:
            je_clause = False
        new = _same_case(_word(token), new)
        out.append(_GLUE + new if token.startswith(_GLUE) else new)
    return _join(out)


def _subordinate_verbs(tokens: list[str], low: list[str]) -> set[int]:
    """Where the verbs of a clause with "ik" but no verb right after it stand ("dat ik op tijd
    ben en zelf initiatief neem"): per part between "en"s, the known verb nearest the end."""
    found: set[int] = set()
    for i, word in enumerate(low):
        if word not in _SUBJECT or (i + 1 < len(low) and low[i + 1] in _AFTER_JE):
            continue
        end = i + 1
        while end < len(low) and _is_word(tokens[end]) and low[end] not in _CLAUSE_END:
            end += 1
        start = i + 1
        for j in [*(k for k in range(i + 1, end) if low[k] == "en"), end]:
            verbs = [k for k in range(max(start, j - 3), j) if low[k] in _AFTER_JE] or [
                k for k in range(start, j) if low[k] in _AFTER_JE][-1:]  # "wat ik nodig heb voor…"
            if verbs:
                found.add(verbs[-1] if low[verbs[-1]] not in _DANGLING_AUX else verbs[0])
            start = j + 1
    return found


def _same_case(old: str, new: str) -> str:
    if old[:1].isupper() and new[:1].islower():
        return new[:1].upper() + new[1:]
    return new


def kern(text: str, max_words: int = MAX_WORDS) -> str:
    """A student's answer as short second-person key words for the middle of the coach's
    sentence ("ik noem het mensen helpen" -> "mensen helpen"; "Ik ben een doorzetter" ->
    "je bent een doorzetter"; "mn tante appen zaterdag" -> "je tante appen zaterdag")."""
    words = second_person(key_words(text, max_words))
    first = words.split(" ", 1)[0]
    if first.lower() in _LOWER_START:
        words = first.lower() + words[len(first):]
    return words
