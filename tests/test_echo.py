"""Echoing a student's words (bot.conversation.echo): short key words, in the second person."""

import pytest

from bot.conversation.echo import MAX_WORDS, kern, key_words, second_person


@pytest.mark.parametrize(("text", "expected"), [
    ("kweet niet ik vond het wel chill", "chill"),
    ("dat ik goed kan luisteren naar mensen", "goed luisteren naar mensen"),
    ("ik noem het mensen helpen", "mensen helpen"),
    ("Ik noem het: doorzetten!", "doorzetten"),
    ("nou eigenlijk wil ik leren plannen haha", "leren plannen"),
    ("ik wil een dag meelopen in een ziekenhuis", "een dag meelopen in een ziekenhuis"),
    ("k vond het wel leuk ofzo", "leuk"),
    ("ik vind het spannend om te bellen", "spannend om te bellen"),
    ("eigenlijk gewoon vakken vullen", "vakken vullen"),
    ("“ik hielp bij de kassa”", "ik hielp bij de kassa"),
    ("ja klopt", "klopt"),
    ("ehm, de kraan was vet, kantoor saai", "de kraan was vet, kantoor saai"),
    ("meneer de Vries, techniekdocent. vragen na de les", "meneer de Vries, techniekdocent"),
    ("Nou. Ik ben een doorzetter denk ik", "Ik ben een doorzetter"),
])
def test_key_words_drop_lead_ins_and_fillers(text, expected) -> None:
    assert key_words(text) == expected


@pytest.mark.parametrize("text", ["weet niet", "nee", "ok", "gewoon", "ik wil"])
def test_key_words_never_leave_nothing(text) -> None:
    assert key_words(text) == text


def test_key_words_are_short_and_cut_where_a_clause_ends() -> None:
    long = ("dus ik loop nu sinds september stage bij een kinderdagverblijf in Zwolle op de "
            "peutergroep en vorige week was er een moment")
    short = key_words(long)
    assert len(short.split()) <= MAX_WORDS and short.endswith("…")
    assert short.removesuffix("…").split()[-1] not in ("een", "de", "bij", "in", "op")
    because = key_words("ik app mijn tante want zij werkt al jaren in het ziekenhuis hier")
    assert because == "ik app mijn tante"  # cut at "want", no dots needed
    assert key_words("") == "" and key_words("   ") == ""


@pytest.mark.parametrize(("text", "expected"), [
    ("ik ben een doorzetter", "je bent een doorzetter"),
    ("Ik heb klanten geholpen", "Je hebt klanten geholpen"),
    ("ik kan goed plannen", "je kunt goed plannen"),
    ("nu kan ik beter plannen", "nu kun je beter plannen"),
    ("ik wil leren lassen", "je wilt leren lassen"),
    ("ik schrijf eerst op wat ik wil zeggen", "je schrijft eerst op wat je wilt zeggen"),
    ("ik app mn tante zaterdag", "je appt je tante zaterdag"),
    ("mijn begeleider hielp mij", "je begeleider hielp je"),
    ("hij deed het samen met mij", "hij deed het samen met jou"),
    ("ze keken naar me", "ze keken naar je"),
    ("ikzelf vond het top", "jezelf vond het top"),
    ("ik zag mezelf daar wel werken", "je zag jezelf daar wel werken"),
    ("k ben moe", "je bent moe"),
    ("'k heb het gedaan", "je hebt het gedaan"),
    ("m'n oom werkt bij een garage", "je oom werkt bij een garage"),
    ("ik vind dat leuk", "je vindt dat leuk"),
    ("ik bleef rustig toen het druk was", "je bleef rustig toen het druk was"),
    ("het was bij de bpv-map, echt!", "het was bij de bpv-map, echt!"),
    ("wat vind ik leuk? mensen helpen", "wat vind je leuk? mensen helpen"),
    ("we gingen met onze klas naar een garage", "jullie gingen met jullie klas naar een garage"),
    ("ik ga (misschien) bellen", "je gaat (misschien) bellen"),
    # The verb of "wat ik ..." further than three words from the clause's end.
    ("opschrijven wat ik nodig heb voor het gesprek",
     "opschrijven wat je nodig hebt voor het gesprek"),
])
def test_second_person(text, expected) -> None:
    assert second_person(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("mn tante appen zaterdag", "je tante appen zaterdag"),
    ("kweet niet ik vond het wel chill", "chill"),
    ("Ik ben een doorzetter", "je bent een doorzetter"),
    ("ik noem het: ik werk graag met mensen", "je werkt graag met mensen"),
    ("kheb geholpen met de kassa lol", "je hebt geholpen met de kassa"),
    ("dat ik klanten heb geholpen", "klanten geholpen"),
    ("Sandra appen tijdens de pauze", "Sandra appen tijdens de pauze"),
    ("ik zie er tegenop om te bellen!!", "je ziet er tegenop om te bellen"),
    ("euh ik weet niet, mijn mentor misschien", "je mentor misschien"),
    ("dat ik op tijd ben en zelf initiatief neem, dat zei mijn begeleider",
     "dat je op tijd bent en zelf initiatief neemt"),
    ("dat ik het geld goed tel", "dat je het geld goed telt"),
    ("ik werk hard en leer veel", "je werkt hard en leert veel"),
    ("op zondag was het super druk en ik had nooit een stapel staan",
     "op zondag was het super druk en je had nooit…"),
    ("ik moet elke week een activiteit in mijn bpv-map zetten voor school",
     "je moet elke week een activiteit in je bpv-map zetten…"),
    ("Ik denk dat ik geduld heb gehad met Daan", "geduld gehad met Daan"),
    ("ik vind dat ik sterk ben", "dat je sterk bent"),  # not "je sterk ben"
])
def test_kern_is_short_second_person_key_words(text, expected) -> None:
    assert kern(text) == expected


@pytest.mark.parametrize("text", [
    "ik ben stagiair dus ik doe eigenlijk alles mee, ik help met eten geven",
    "dat ik op tijd ben en zelf initiatief neem, dat zei mijn begeleider",
    "Mijn stage bij de Jumbo, ik vulde vakken en hielp mij collega's",
    "ikzelf vond het chill maar mn baas niet",
    "idk gwn vakken vullen ofzo",
])
def test_kern_never_speaks_in_the_first_person(text) -> None:
    echoed = kern(text).lower().replace(",", " ").split()
    assert not {"ik", "mijn", "mij", "mn", "me", "ikzelf", "k"} & set(echoed)
    assert len(echoed) <= MAX_WORDS
