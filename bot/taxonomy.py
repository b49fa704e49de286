"""The names other programs rely on (CONTRACTS.md), each defined once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Conversation steps, in order (slot `stap`).
STEPS: Final[tuple[str, ...]] = ("terugkijken", "reflecteren", "vooruitkijken", "activeren")


@dataclass(frozen=True)
class Competency:
    key: str
    name: str  # for mentors and coordinators
    question: str  # what the competency asks, for mentors
    label: str  # student-facing label (a student never reads "loopbaancompetentie")


COMPETENCIES: Final[tuple[Competency, ...]] = (
    Competency("kwaliteiten", "Kwaliteitenreflectie",
               "Wat kan ik (niet)? Hoe weet ik dat? Wat wil ik nog leren?", "Ontdek je talent"),
    Competency("motieven", "Motievenreflectie",
               "Waar ga en sta ik voor en waarom?", "Ontdek je passie"),
    Competency("werkexploratie", "Werkexploratie",
               "Waar ben ik het meest op mijn plek en waar niet?", "Ontdek je werkplek"),
    Competency("loopbaansturing", "Loopbaansturing",
               "Hoe bereik ik mijn doel en waar begin ik mee?", "Zelf aan zet"),
    Competency("netwerken", "Netwerken",
               "Wie kan mij helpen en hoe leg ik contact?", "In gesprek met"),
    Competency("verwachtingen", "Omgaan met verwachtingen",
               "Verwachtingen van ouders, school en stage; stereotypen en drempels.", "Jouw keuze"),
)
COMPETENCY_KEYS: Final[tuple[str, ...]] = tuple(c.key for c in COMPETENCIES)
COMPETENCY_BY_KEY: Final[dict[str, Competency]] = {c.key: c for c in COMPETENCIES}

SEVERITIES: Final[tuple[str, ...]] = ("urgent", "attention", "info")


@dataclass(frozen=True)
class FlagCategory:
    key: str
    severity: str
    title: str  # Dutch, for mentors


FLAG_CATEGORIES: Final[tuple[FlagCategory, ...]] = (
    FlagCategory("crisis", "urgent",
                 "Crisis: zelfbeschadiging, suïcidale gedachten, geweld of gevaar"),
    FlagCategory("discriminatie", "attention",
                 "Discriminatie, racisme, seksisme of stereotypering"),
    FlagCategory("druk_omgeving", "attention",
                 "Druk of onenigheid met ouders of anderen over keuzes"),
    FlagCategory("financien", "attention",
                 "Geld als drempel voor studie, stage of materiaal"),
    FlagCategory("uitval", "attention",
                 "Denkt aan stoppen of wisselen van opleiding, verzuim"),
    FlagCategory("stage_probleem", "attention",
                 "Problemen op stage: conflict, ontslag, onveilig, geen plek"),
    FlagCategory("zelfvertrouwen", "attention",
                 "Aanhoudend laag zelfvertrouwen"),
    FlagCategory("mentor_gevraagd", "attention",
                 "Wil graag met een mens praten"),
    FlagCategory("afgehaakt", "info",
                 "Gesprek halverwege gestopt of herhaald 'weet niet'"),
)
FLAG_BY_KEY: Final[dict[str, FlagCategory]] = {f.key: f for f in FLAG_CATEGORIES}
FLAG_STATUSES: Final[tuple[str, ...]] = ("open", "acknowledged", "resolved")

SESSION_STATUSES: Final[tuple[str, ...]] = ("active", "paused", "completed", "abandoned")
LEVELS: Final[tuple[str, ...]] = ("vmbo", "mbo-bol", "mbo-bbl")
