"""bot.text.competencies: the classify() contract, its data set and its evaluation."""

from __future__ import annotations

import logging
import re
from collections import Counter

import pytest

from bot.taxonomy import COMPETENCY_KEYS
from bot.text import competencies
from bot.text.competencies import (
    METHOD,
    NONE_LABEL,
    TEST_FILE,
    TRAIN_FILE,
    CompetencyClassifier,
    classify,
    classify_scored,
    load_examples,
    method_description,
)
from bot.text.competencies_eval import evaluate, main

SMALL_TALK = ["ok", "weet niet", "hoi", "doei", "geen idee", "ja", "nee", "haha", "👍",
              "is goed", "wat bedoel je", "", "   ", "?!"]

CLEAR = {
    "kwaliteiten": ["ik ben heel goed in dingen repareren",
                    "ik kan nog niet zo goed samenwerken, dat wil ik leren"],
    "motieven": ["ik vond het leuk omdat ik mensen blij kon maken",
                 "eerlijkheid is voor mij het belangrijkste"],
    "werkexploratie": ["ik heb stage gelopen bij een garage",
                       "een kantoorbaan is echt niks voor mij, ik wil buiten werken"],
    "loopbaansturing": ["ik ga me volgende week inschrijven voor de opleiding verpleegkunde",
                        "mijn doel is mijn diploma halen en dan gaan werken"],
    "netwerken": ["ik ga mijn oom bellen, hij werkt bij een bouwbedrijf",
                  "mijn mentor kan me helpen, ik stuur haar een mail"],
    "verwachtingen": ["mijn ouders willen dat ik naar de havo ga",
                      "ze zeggen dat meisjes geen techniek moeten doen"],
}


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower())) or text.strip()


# --- contract ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["ik kan goed met kinderen omgaan",
                                  "mijn vader wil dat ik monteur word", "ok", ""])
def test_classify_returns_list_of_valid_keys(text: str) -> None:
    result = classify(text)
    assert isinstance(result, list)
    assert all(isinstance(key, str) and key in COMPETENCY_KEYS for key in result)
    assert len(result) == len(set(result))


@pytest.mark.parametrize("text", SMALL_TALK)
def test_small_talk_gets_no_competency(text: str) -> None:
    assert classify(text) == []
    assert classify_scored(text) == []


@pytest.mark.parametrize(("key", "text"),
                         [(key, text) for key, texts in CLEAR.items() for text in texts])
def test_clear_examples(key: str, text: str) -> None:
    assert classify(text)[:1] == [key]


def test_scored_matches_classify_and_is_sorted() -> None:
    text = "ik ga mijn stagebegeleider vragen of ik daar mag blijven werken"
    scored = classify_scored(text)
    assert [key for key, _ in scored] == classify(text)
    scores = [p for _, p in scored]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < p <= 1.0 for p in scores)


def test_deterministic() -> None:
    texts = [t for texts in CLEAR.values() for t in texts] + ["ik weet nog niet wat ik wil"]
    first = [classify_scored(t) for t in texts]
    assert [classify_scored(t) for t in texts] == first
    # A freshly trained classifier decides exactly the same.
    fresh = CompetencyClassifier(load_examples(TRAIN_FILE))
    assert [fresh.scored(t) for t in texts] == first


def test_method_description() -> None:
    assert method_description() == METHOD
    assert isinstance(METHOD, str) and METHOD


def test_falls_back_to_surface_forms_without_spacy(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    import bot.text.nlp

    def missing() -> None:
        raise RuntimeError("pipeline not installed")

    monkeypatch.setattr(bot.text.nlp, "get_nlp", missing)
    with caplog.at_level(logging.WARNING, logger=competencies.__name__):
        clf = CompetencyClassifier(load_examples(TRAIN_FILE), use_spacy=True)
    assert "falling back to surface forms" in caplog.text
    assert clf.method == METHOD
    assert clf.classify("mijn ouders willen dat ik dokter word")[:1] == ["verwachtingen"]


# --- data -------------------------------------------------------------------------------------

def test_data_sets_are_big_balanced_and_disjoint() -> None:
    train, test = load_examples(TRAIN_FILE), load_examples(TEST_FILE)
    assert len(train) >= 480 and len(test) >= 120
    train_counts = Counter(ex.primary for ex in train)
    test_counts = Counter(ex.primary for ex in test)
    assert train_counts[NONE_LABEL] >= 60 and test_counts[NONE_LABEL] >= 20
    for key in COMPETENCY_KEYS:
        assert train_counts[key] >= 70, key
        assert test_counts[key] >= 18, key
    train_texts = {_norm(ex.text) for ex in train}
    overlap = [ex.text for ex in test if _norm(ex.text) in train_texts]
    assert overlap == []
    assert len(train_texts) == len(train), "duplicate training sentences"


# --- evaluation -------------------------------------------------------------------------------

def test_evaluation_reaches_target_accuracy() -> None:
    result = evaluate(load_examples(TRAIN_FILE), load_examples(TEST_FILE))
    assert result.accuracy >= 0.85, result.errors
    assert set(result.per_class) == {*COMPETENCY_KEYS, NONE_LABEL}


def test_eval_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "top-1 accuracy" in out and "confusion" in out
    assert main(["--min-accuracy", "1.01"]) == 1


def test_one_answer_is_scored_as_sklearn_scores_it() -> None:
    """CompetencyClassifier._one (an answer in a conversation, without sklearn's checks per
    call) gives the probabilities of the fitted vectorizers and regression."""
    import numpy as np

    classifier = competencies.get_classifier()
    texts = ["ik ben goed in samenwerken", "ik wil later de zorg in, omdat ik mensen wil helpen",
             "zzzonbekendwoord", "!!", "Ik heb mijn stagebegeleider gebeld en gevraagd hoe "
             "het werk eruitziet " * 4, "ÉÉN Raar Bericht met hoofdletters"]
    for text in texts:
        expected = classifier.model.predict_proba(classifier._features([text]))[0]
        assert np.allclose(classifier._one(text), expected, atol=1e-12), text
        assert classifier.probabilities([text]) == [
            dict(zip(classifier.classes, classifier._one(text), strict=True))]
