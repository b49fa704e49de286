"""Tests for the signal detector (bot.text.signals) and its evaluation (bot.text.signals_eval)."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.paths import SIGNAL_RULES_FILE
from bot.taxonomy import FLAG_BY_KEY, SEVERITIES
from bot.text import signals
from bot.text.signals import Detector, RulesError, Signal, detect, load_rules
from bot.text.signals_eval import (
    DEV_FILE,
    EVAL_FILE,
    MIN_CRISIS_RECALL,
    MIN_PRECISION,
    evaluate,
    load_examples,
    main,
)


def categories(text: str) -> set[str]:
    return {s.category for s in detect(text)}


# --------------------------------------------------------------------------- contract


def test_contract_types_and_severities() -> None:
    result = detect("ik wil dood en mijn ouders laten me geen keuze, ik wil mijn mentor spreken")
    assert isinstance(result, list) and result
    for sig in result:
        assert isinstance(sig, Signal)
        assert sig.category in FLAG_BY_KEY and sig.category != "afgehaakt"
        assert sig.severity == FLAG_BY_KEY[sig.category].severity
        assert sig.severity in SEVERITIES
        assert isinstance(sig.evidence, str) and sig.evidence
    with pytest.raises(dataclasses.FrozenInstanceError):
        result[0].category = "x"  # type: ignore[misc]
    assert [s.category for s in result][0] == "crisis"  # urgent first
    ranks = [SEVERITIES.index(s.severity) for s in result]
    assert ranks == sorted(ranks)
    assert {"crisis", "druk_omgeving", "mentor_gevraagd"} <= {s.category for s in result}


def test_at_most_one_signal_per_category() -> None:
    result = detect("ik wil dood. ik wil echt dood. zelfmoord. mijn vader slaat me")
    assert [s.category for s in result] == ["crisis"]


@pytest.mark.parametrize("text", ["", "   ", "hallo", "ok", "ja", "👍", "?!"])
def test_harmless_and_empty_input(text: str) -> None:
    assert detect(text) == []


# --------------------------------------------------------------------------- positives

POSITIVES = {
    "crisis": [
        "zelfmoord", "ik denk aan zm", "ik denk aan suïcide", "ik denk aan suicide",
        "ik wil me snijden", "ik wil mezelf pijn doen", "ik wil dood", "IK WIL DOOOOD",
        "ik wil er niet meer zijn", "ik wil er nie meer zijn", "kys", "ik ga kms",
        "mijn vader slaat me", "mn vader sloeg me gisteren", "hij zit aan me",
        "ik ben niet veilig thuis", "ik word thuis geslagen", "ik snijd mezelf",
        "ik heb zelfmoordgedachten", "ik ben suicidaal", "zelfmoort", "ik wil niet meer leven",
    ],
    "discriminatie": ["ik word gediscrimineerd", "ze maken racistische grappen over mij",
                      "ik word gepest omdat ik homo ben",
                      "ze zeggen dat meisjes niet in de techniek horen"],
    "druk_omgeving": ["mijn ouders laten me geen keuze", "ik voel veel druk van mijn ouders",
                      "mijn vader dwingt me om in zijn bedrijf te werken"],
    "financien": ["ik heb geen geld voor de reiskosten", "ik kan mijn boeken niet betalen",
                  "de opleiding is te duur voor ons"],
    "uitval": ["ik wil stoppen met school", "ik wil van opleiding wisselen", "ik spijbel vaak",
               "ik ga niet meer naar school"],
    "stage_probleem": ["ik heb nog steeds geen stageplek", "ik ben ontslagen bij mijn stage",
                       "mijn stagebegeleider schreeuwt steeds tegen me"],
    "zelfvertrouwen": ["ik kan toch niks", "ik ben gewoon dom", "ik geloof niet in mezelf"],
    "mentor_gevraagd": ["ik wil met mijn mentor praten", "kan ik met een echt mens praten",
                        "ik wil met een echt persoon praten", "mentor graag"],
}


@pytest.mark.parametrize(("category", "text"),
                         [(c, t) for c, texts in POSITIVES.items() for t in texts])
def test_positive(category: str, text: str) -> None:
    found = detect(text)
    assert category in {s.category for s in found}, (text, found)
    for sig in found:  # evidence is the words as typed
        assert sig.evidence in text
        assert text[sig.span[0]:sig.span[1]] == sig.evidence


# --------------------------------------------------------------------------- negatives

NEGATIVES = [
    # figurative
    "ik ben doodmoe", "ik lag dood", "ik lag dood van het lachen", "dood van het lachen",
    "killing it", "die toets was killing", "ik ga dood van de honger", "ik schaam me dood",
    "ik verveel me dood", "mijn telefoon is dood", "ik ben kapot na de training",
    "ik zou een moord doen voor een patatje", "mijn moeder vermoordt me als ik te laat ben",
    "dat is zelfmoord met die auto",
    # negation
    "ik ben niet gepest", "ik word niet gediscrimineerd", "ik denk niet aan zelfmoord hoor",
    "ik heb geen schulden", "ik ga niet stoppen met school", "ik ben niet onzeker",
    "op mijn stage word ik niet gepest", "ik wil niet dood", "ik ben niet dom",
    # harmless uses of risky words
    "ik stop met voetbal", "ik heb geen zin in wiskunde", "ik sla de bal hard",
    "de timmerman slaat de spijker in het hout", "op stage snij ik brood",
    "ik heb geld gespaard voor een scooter", "geld is geen probleem",
    "mijn stagebegeleider is gestopt met roken", "ik heb gisteren met mijn mentor gepraat",
    "we hadden een les over racisme", "ik ben door een wesp gestoken",
    "mijn ouders steunen mijn keuze", "ik wil stoppen met dit gesprek, later verder",
    # qualities and ordinary coaching answers (false flags seen in a demo conversation)
    "op mij kun je rekenen", "ik ben trouw", "ik ben betrouwbaar", "ik ben zorgzaam",
    "ik ben trouw en eerlijk",
    # a demo student's answer that got the check question from the model of 2026-12-06 evening
    "ik heb haren gewassen en handdoeken gevouwen",
]


# About someone else (a film, a lesson, a friend), negated after the verb, or a cut at work:
# the rules judge these and the model may not overrule them.
ABOUT_SOMEONE_ELSE_OR_NEGATED = [
    "de film ging over een jongen die door zijn vader geslagen werd",
    "in het boek dat we lezen wordt de moeder mishandeld",
    "we hadden een gastles over zelfmoordpreventie",
    "mijn vriendin wordt gepest op haar stage en ze wil er niet meer zijn, ze zegt het vaak",
    "ik snij mezelf niet, die krassen zijn van de kat",
    "mijn moeder slaat me nooit",
    "ik heb me gesneden aan een mes in de keuken",
    "mn stagebaas dreigt mij een slechte beoordeling te geven",
]


@pytest.mark.parametrize("text", ABOUT_SOMEONE_ELSE_OR_NEGATED)
def test_no_crisis_about_someone_else_or_negated(text: str) -> None:
    assert "crisis" not in categories(text), text


# ... but as soon as the student is in it, or a threat was really made, it counts.
@pytest.mark.parametrize("text", [
    "in de les wil ik dood", "de film was saai en ik wil dood", "mijn vriend slaat me",
    "hij zit aan me", "mijn vader slaat mijn moeder", "ik snij mezelf",
    "mijn vader heeft gezegd dat hij me vermoordt als ik nog een keer laat thuis kom",
    "ik heb mezelf gesneden met een mesje",
    "ik wil dood gwn, niemand die het snapt",  # not "doodgewoon" (figurative)
    # "about a friend" ends where the clause ends: the rest is about the student
    "ik slaap al een week bij vrienden omdat het thuis niet veilig is",
])
def test_crisis_when_the_student_is_in_it(text: str) -> None:
    assert "crisis" in {s.category for s in Detector().detect(text)}, text


# Known false alarms of the learned model (bot.text.signal_model), kept visible: strict, so the
# test fails as soon as one is fixed and the mark must go. (The three listed here before,
# "ik wil niet dood", "ik heb gisteren met mijn mentor gepraat" and "mijn ouders steunen mijn
# keuze", no longer raise anything since data/signals/train/breed.yml.)
# "ik wil niet dood" got the check question from the 2026-12-06 re-tune on; with the clauses of
# ordinary answers learned as negatives it was quiet (detector of 2026-12-07 measured by v16),
# and with the check question from 0.44 (the re-tune after v16) it is asked again (0.47); with
# the check question from 0.47 (the re-tune after v17) it is quiet again.
# "mijn stagebegeleider is gestopt met roken" is quiet since that re-tune.
# "ik heb haren gewassen en handdoeken gevouwen" gets the check question (crisis 0.5-0.6 with
# the evening's model; "ik waste haren en vouwde handdoeken" does not): why the demo now has
# the latter, and an example of what issue 10 still has to fix.
# "op stage snij ik brood" no longer raises anything since the retired blind sets joined the
# training data (data/signals/blind/RETIRED).
# "ik wil niet dood" gets the check question again after the re-tune with v19 retired (crisis
# 0.57, check question from 0.50; "ik wil niet dood hoor" is quiet): a check question, never
# the crisis reply, on a sentence about dying.
KNOWN_MODEL_FALSE_ALARMS: set[str] = {"ik wil niet dood"}


@pytest.mark.parametrize("text", [
    pytest.param(t, marks=pytest.mark.xfail(strict=True, reason="known model false alarm"))
    if t in KNOWN_MODEL_FALSE_ALARMS else t for t in NEGATIVES])
def test_negative(text: str) -> None:
    assert detect(text) == [], text


def test_rules_alone_find_nothing_in_the_negatives() -> None:
    rules = Detector()
    assert [t for t in NEGATIVES if rules.detect(t)] == []


def test_evidence_is_a_substring_with_original_casing() -> None:
    text = "Ehm... Mijn Vader SLOEG me gisteren weer"
    (sig,) = detect(text)
    assert sig.category == "crisis"
    assert sig.evidence in text and "SLOEG" in sig.evidence


# --------------------------------------------------------------------------- robustness


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    shutil.copy(SIGNAL_RULES_FILE, path)
    return path


def _rewrite(path: Path, text: str) -> None:
    """Write and make sure the mtime differs (coarse file-system clocks)."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_crisis_works_on_surface_forms_without_pipeline(rules_copy: Path) -> None:
    det = Detector(rules_copy, use_nlp=False)
    for text in POSITIVES["crisis"]:
        assert "crisis" in {s.category for s in det.detect(text)}, text


def test_pipeline_failure_falls_back_to_surface(rules_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    import bot.text.nlp

    def broken() -> None:
        raise RuntimeError("pipeline ontbreekt")

    monkeypatch.setattr(bot.text.nlp, "get_nlp", broken)
    det = Detector(rules_copy)
    with caplog.at_level(logging.WARNING, logger="bot.text.signals"):
        assert [s.category for s in det.detect("ik wil er niet meer zijn")] == ["crisis"]
    assert any("nlp_unavailable" in r.getMessage() for r in caplog.records)


def test_lemmas_are_used(tmp_path: Path) -> None:
    """A rule written on the lemma ('slaan') matches an inflected form ('sloeg')."""
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("nl")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    path = tmp_path / "rules.yml"
    path.write_text("categorieen:\n  crisis:\n    patronen: ['slaan me']\n", encoding="utf-8")
    assert Detector(path, use_nlp=False).detect("mijn vader sloeg me") == []
    (sig,) = Detector(path, nlp=nlp).detect("mijn vader sloeg me")
    assert sig.category == "crisis" and sig.evidence == "sloeg me"


@pytest.mark.parametrize(("bad", "message"), [
    ("categorieen:\n  paniek:\n    woorden: [help]\n", "Onbekende categorie 'paniek'"),
    ("categorieen:\n  crisis:\n    patronen: ['(ik wil dood']\n",
     "ongeldige reguliere expressie"),
    ("categorieen:\n  crisis:\n    patronen: ['{ONBEKEND} dood']\n", "onbekende bouwsteen"),
    ("categorieen:\n  afgehaakt:\n    woorden: [doei]\n", "niet uit tekst herkend"),
    ("categorieen: [crisis\n", "geen geldige YAML"),
    ("categorieen:\n  crisis:\n    venster: veel\n    woorden: [dood]\n", "venster"),
    ("categorieen:\n  crisis:\n    woorden: [dood]\n    ook_bij: [{categorie: paniek, als: x}]\n",
     "ook_bij #1"),
    ("categorieen:\n  crisis:\n    woorden: [dood]\n    ook_bij: [{categorie: crisis, als: x}]\n",
     "een andere categorie"),
])
def test_invalid_rules_keep_previous_rules(rules_copy: Path, bad: str, message: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    det = Detector(rules_copy, use_nlp=False)
    assert "crisis" in {s.category for s in det.detect("ik wil dood")}
    with pytest.raises(RulesError, match=message):
        load_rules(_write_tmp(rules_copy.parent / "bad.yml", bad))
    _rewrite(rules_copy, bad)
    with caplog.at_level(logging.ERROR, logger="bot.text.signals"):
        assert "crisis" in {s.category for s in det.detect("ik wil dood")}
    assert det.last_error is not None and message in det.last_error
    assert any("vorige regels blijven actief" in r.getMessage() for r in caplog.records)


def _write_tmp(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_rules_reload_when_file_changes(rules_copy: Path) -> None:
    det = Detector(rules_copy, use_nlp=False)
    assert det.detect("ik heb geen pindakaas") == []
    text = rules_copy.read_text(encoding="utf-8").replace(
        "      - geldproblemen\n", "      - geldproblemen\n      - pindakaas\n", 1)
    _rewrite(rules_copy, text)
    assert [s.category for s in det.detect("pindakaas")] == ["financien"]
    assert det.last_error is None


def test_default_rules_file_is_valid() -> None:
    rules = load_rules()
    assert {c.key for c in rules.categories} == set(signals.TEXT_CATEGORIES)


# --------------------------------------------------------------------------- evaluation


def test_evaluation_sets_are_large_and_varied() -> None:
    examples = load_examples(EVAL_FILE)
    assert len(examples) >= 330
    support = {c: sum(c in e.expected for e in examples) for c in signals.TEXT_CATEGORIES}
    assert support["crisis"] >= 60
    assert all(n >= 25 for n in support.values()), support
    assert sum(not e.expected for e in examples) >= 110
    dev_texts = {e.text for e in load_examples(DEV_FILE)}
    assert len(dev_texts & {e.text for e in examples}) < 15  # different phrasings


def test_evaluation_meets_targets() -> None:
    report = evaluate(load_examples(EVAL_FILE))
    assert report.crisis_recall >= MIN_CRISIS_RECALL
    assert report.total.precision >= MIN_PRECISION
    # Every quality verdict; the time per message is a speed figure, measured by the benchmarks
    # and `bot eval signals`, not asserted here (a busy machine would fail it).
    failed = [name for name, ok in report.verdicts() if not ok and not name.startswith("tijd")]
    assert not failed, failed


def test_eval_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--file", str(DEV_FILE), "--errors"])
    out = capsys.readouterr().out
    assert "crisis" in out and "precisie" in out and "totaal (micro)" in out
    assert "ms" in out and "verwarring" in out
    assert code == (0 if "oordeel: OK" in out else 1)


def test_eval_command_fails_below_target(tmp_path: Path) -> None:
    path = tmp_path / "set.yml"
    path.write_text("berichten:\n- {tekst: 'ik ben doodmoe', verwacht: [crisis]}\n",
                    encoding="utf-8")
    assert main(["--file", str(path)]) == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("ik ben niet veilig", ["crisis"]),
    ("ik voel me niet meer veilig.", ["crisis"]),
    ("ik voel me niet veilig op stage", ["stage_probleem"]),
    ("het is niet veilig om daar te fietsen", []),
])
def test_not_safe_on_its_own_is_acute_danger(text: str, expected: list[str]) -> None:
    # (the model may add an unsure crisis: that only asks the check question)
    assert [s.category for s in detect(text) if not s.unsure] == expected


# --------------------------------------------------------------------------- learned model


@pytest.fixture()
def small_model_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bot.text.signal_model on a small training set in tmp_path, with no model fitted yet (the
    real model and its key come back after the test)."""
    from bot.text import signal_model

    examples = {"crisis": ["ik wil dood", "ik snij mezelf", "ik wil echt dood"],
                "discriminatie": ["ze noemen me een aap", "hij zegt rotop naar je land"],
                "druk_omgeving": ["mijn ouders willen dat ik dokter word",
                                  "mijn vader bepaalt mijn opleiding"],
                "financien": ["ik kan de laptop niet betalen", "geen geld voor de reis"],
                "uitval": ["ik wil stoppen met school", "ik spijbel elke dag"],
                "stage_probleem": ["mijn stagebegeleider schreeuwt", "ik vind geen stageplek"],
                "zelfvertrouwen": ["ik kan niks", "ik ben dom"],
                "mentor_gevraagd": ["mag ik met mijn mentor praten", "ik wil een echt mens"]}
    lines = [f"- {{tekst: '{text}', verwacht: [{category}]}}"
             for category, texts in examples.items() for text in texts]
    lines += [f"- {{tekst: '{text}', verwacht: []}}" for text in
              ("hoi", "ja klopt", "ik vind koken leuk", "mijn stage is bij een bakker")]
    dev = tmp_path / "dev.yml"
    dev.write_text("berichten:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "train").mkdir()
    (tmp_path / "nlu").mkdir()
    monkeypatch.setattr(signal_model, "TRAIN_FILES", (dev,))
    monkeypatch.setattr(signal_model, "TRAIN_DIR", tmp_path / "train")
    monkeypatch.setattr(signal_model, "BLIND_DIR", tmp_path / "blind")
    monkeypatch.setattr(signal_model, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(signal_model, "NLU_DIR", tmp_path / "nlu")
    monkeypatch.setattr(signal_model, "COMPETENCY_TRAIN", tmp_path / "competencies.yml")
    monkeypatch.setattr(signal_model, "THRESHOLDS_FILE", tmp_path / "model.yml")
    monkeypatch.setattr(signal_model, "_model", None)
    monkeypatch.setattr(signal_model, "_model_key", None)
    monkeypatch.setattr(signal_model, "_refit_thread", None)
    monkeypatch.setattr(signal_model, "CHECK_SECONDS", 0.0)  # every call looks at the files
    return dev


def _add_training_message(dev: Path, text: str, category: str) -> None:
    _rewrite(dev, dev.read_text(encoding="utf-8")
             + f"- {{tekst: '{text}', verwacht: [{category}]}}\n")


def test_skip_pairs_join_words_across_the_filler_between_them() -> None:
    """The model's skip pairs: words two to four places apart, punctuation skipped; the
    neighbours are the bigrams' (word features), not the skip pairs'."""
    from bot.text.signal_model import prepare, skip_features, word_features

    pairs = skip_features(prepare("Ik zie het echt niet meer zitten."))
    assert "zie~echt" in pairs and "niet~zitten" in pairs and "ik~niet" in pairs
    assert "ik~meer" not in pairs  # five places apart
    assert "niet~meer" not in pairs and "niet NOT_meer" in word_features(prepare("niet meer"))
    # The student's different filler words give the same pair: what generalises.
    assert "wil~dood" in skip_features(prepare("ik wil gewoon dood")) and \
        "wil~dood" in skip_features(prepare("ik wil echt zo dood"))
    assert skip_features(prepare("ik, wil")) == [] and skip_features("") == []
    assert "wil~dood" in skip_features(prepare("ik wil, gewoon dood"))  # commas skipped


def test_a_training_set_without_a_repeated_skip_pair_is_fitted_without_skip_pairs() -> None:
    """sklearn refuses a vectorizer whose min_df leaves nothing: a tiny training set still
    gives a model (without skip pairs) instead of none."""
    from bot.text.signal_model import LabelledMessage, SignalModel, Thresholds, prepare
    from bot.text.signal_model import repeated_skip_pair as repeated

    assert not repeated([prepare("ik wil dood"), prepare("ik snij mezelf"), "hoi"])
    assert repeated([prepare("ik wil dood"), prepare("ik wil echt dood")])  # ik~dood twice
    messages = [LabelledMessage("ik wil dood", frozenset({"crisis"})),
                LabelledMessage("geen geld voor de reis", frozenset({"financien"})),
                LabelledMessage("ik vind koken leuk", frozenset())]
    model = SignalModel(["crisis", "financien"], messages,
                        Thresholds({"crisis": 0.5, "financien": 0.5}, 0.5))
    assert [name for name, _ in model.pipeline.steps[0][1].transformer_list] == [
        "chars", "words"]
    scores = model.scores("ik wil dood")
    assert scores["crisis"] > model.scores("ik vind koken leuk")["crisis"]


def test_the_fast_scorer_gives_sklearns_features_and_probabilities(
        small_model_data: Path) -> None:
    """signal_model.FastScorer (the character n-grams word by word, the classifiers as one
    matrix product) computes what the fitted sklearn pipeline computes, for words it knows
    and words it has never seen, and keeps no word that is not in the training data."""
    import numpy as np
    from scipy import sparse

    from bot.text import signal_model

    model = signal_model.get_model()
    assert model is not None
    fast = model._fast()
    assert fast is not None
    union, classifier = model.pipeline.steps[0][1], model.pipeline.steps[-1][1]
    assert [name for name, _ in union.transformer_list] == ["chars", "words", "skips"]
    texts = ["ik word gepest op stage", "Ik wil er niet meer zijn.", "", "xq", "zzzonbekendwoord",
             "ÉÉN raar bericht!! met hoofdletters", "nee ik word niet gepest, maar ik heb "
             "schulden en mijn ouders willen dat ik stop " * 5]
    for text in texts:
        prepared = signal_model.prepare(text)
        expected = sparse.hstack([part.transform([prepared])
                                  for _, part in union.transformer_list], format="csr")
        got = fast.transform([prepared])
        assert got.shape == expected.shape
        assert abs(got - expected).max() < 1e-12 if expected.nnz or got.nnz else True
        assert np.allclose(fast.proba(got), classifier.predict_proba(expected), atol=1e-12)
        if model.denial is not None:
            assert abs(fast.denial_proba(got)[0]
                       - model.denial.predict_proba(expected)[0, 1]) < 1e-12
    kept = {word for part in fast.parts if hasattr(part, "words") for word in part.words}
    assert "zzzonbekendwoord" not in kept and kept  # only words of the training data
    # Nor the terms that min_df left out (sklearn keeps them only for introspection).
    assert all(part.stop_words_ is None for _, part in union.transformer_list)


def test_the_model_is_refitted_in_the_background_after_the_data_changes(
        small_model_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from bot.text import signal_model

    old = signal_model.get_model()  # the first fit: in the caller
    assert old is not None and signal_model._refit_thread is None
    assert signal_model.get_model() is old
    # The refit waits for `go` inside its real fit: a caller that waited for it would hang.
    go = threading.Event()
    real = signal_model.training_messages

    def gated() -> list[signal_model.LabelledMessage]:
        assert go.wait(30)
        return real()

    monkeypatch.setattr(signal_model, "training_messages", gated)
    _add_training_message(small_model_data, "ik heb schulden bij de bank", "financien")
    assert signal_model.get_model() is old
    refit = signal_model._refit_thread
    assert refit is not None and refit.is_alive()
    assert signal_model.get_model() is old and signal_model._refit_thread is refit  # one fit
    go.set()
    refit.join(60)
    assert not refit.is_alive()
    new = signal_model.get_model()
    assert new is not None and new is not old
    assert signal_model.get_model() is new and signal_model._refit_thread is refit
    assert set(new.scores("ik heb schulden bij de bank")) == set(old.categories)


def test_a_failed_background_refit_keeps_the_old_model(
        small_model_data: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from bot.text import signal_model

    old = signal_model.get_model()
    assert old is not None

    def broken() -> list[signal_model.LabelledMessage]:
        return [signal_model.LabelledMessage("geheim studentbericht", frozenset())]  # 1 class

    monkeypatch.setattr(signal_model, "training_messages", broken)
    _add_training_message(small_model_data, "ik heb schulden bij de bank", "financien")
    with caplog.at_level(logging.ERROR, logger="bot.text.signal_model"):
        assert signal_model.get_model() is old
        signal_model._refit_thread.join(60)
    failed = [r for r in caplog.records if r.getMessage() == "signal_model.refit_failed"]
    assert len(failed) == 1 and failed[0].error == "ValueError"
    assert "geheim" not in caplog.text
    assert signal_model.get_model() is old  # and no new attempt until the data changes again
    assert not signal_model._refit_thread.is_alive()
    assert signal_model._lock.acquire(blocking=False)  # the refit let go of the lock
    signal_model._lock.release()


def test_a_fitted_model_is_kept_for_the_next_process_and_refitted_when_its_inputs_change(
        small_model_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.text import signal_model

    first = signal_model._fit()
    cached = list((small_model_data.parent / "cache").glob("*.joblib"))
    assert len(cached) == 1

    def no_fit() -> list[signal_model.LabelledMessage]:
        raise AssertionError("fitted again although the cache holds this model")

    real = signal_model.training_messages
    monkeypatch.setattr(signal_model, "training_messages", no_fit)
    loaded = signal_model._fit()  # as a new process would: from the cache
    text = "ik kan de laptop niet betalen"
    assert loaded is not first and loaded.scores(text) == first.scores(text)

    monkeypatch.setattr(signal_model, "training_messages", real)
    cached[0].write_bytes(b"not a model")  # a broken file is fitted again, not trusted
    assert signal_model._fit().scores(text) == first.scores(text)


def test_a_retired_blind_set_is_learned_from_and_no_longer_scored_as_blind(
        small_model_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A blind set handed to training after its scoring (blind/RETIRED) teaches the model and
    refits it; `bot eval signals --blind` then skips it, and still refuses a changed set."""
    import hashlib

    from bot.text import signal_model, signals_eval

    blind = small_model_data.parent / "blind"
    blind.mkdir()
    monkeypatch.setattr(signals_eval, "BLIND_DIR", blind)
    sets = {name: f"berichten:\n- {{tekst: '{text}', verwacht: [financien]}}\n"
            for name, text in (("v1.yml", "de reiskosten kan ik echt niet ophoesten"),
                               ("v2.yml", "mijn ouders kunnen het schoolgeld niet betalen"))}
    for name, text in sets.items():
        (blind / name).write_text(text, encoding="utf-8")
    (blind / "FROZEN").write_text("".join(
        f"{hashlib.sha256(t.encode()).hexdigest()}  {n}\n" for n, t in sets.items()), "utf-8")
    before = {m.text for m in signal_model.training_messages()}
    key_before = signal_model._data_key()
    assert [p.name for p, _ in signals_eval.frozen_sets()] == ["v1.yml", "v2.yml"]

    (blind / "RETIRED").write_text("# after its one scoring\nv1.yml\n", encoding="utf-8")
    learned = {m.text for m in signal_model.training_messages()} - before
    assert learned == {"de reiskosten kan ik echt niet ophoesten"}
    assert signal_model._data_key() != key_before  # retiring a set refits the model
    assert [p.name for p, _ in signals_eval.frozen_sets()] == ["v2.yml"]
    (blind / "v2.yml").write_text(sets["v2.yml"] + "- {tekst: 'hoi', verwacht: []}\n", "utf-8")
    assert main(["--blind"]) == 2  # a blind set changed after freezing is refused


@pytest.mark.parametrize("text", ["stage", "geld", "mijn ouders", "school"])
def test_a_topic_word_alone_raises_no_attention_flag(text: str) -> None:
    """One or two words name a topic, not a concern: the learned model needs more."""
    assert [s for s in detect(text) if s.severity == "attention" and not s.unsure] == []


def test_a_short_crisis_message_still_counts() -> None:
    assert any(s.category == "crisis" for s in detect("wil dood"))


class FixedModel:
    """A stand-in for the learned model with fixed scores: the crisis score of the whole
    message and of its best clause, optionally other categories' (every other score 0), and
    the real model's thresholds."""

    def __init__(self, real: Any, whole: float, clause: float, *,
                 wholes: dict[str, float] | None = None,
                 clauses: dict[str, float] | None = None) -> None:
        self.thresholds, self.categories = real.thresholds, real.categories
        self.wholes = {"crisis": whole, **(wholes or {})}
        self.clauses = {"crisis": clause, **(clauses or {})}

    def scores(self, text: str) -> dict[str, float]:
        return {c: self.wholes.get(c, 0.0) for c in self.categories}

    def clause_score(self, text: str, category: str, whole: float) -> float:
        return self.clauses.get(category, 0.0)

    def clause_scores(self, text: str) -> dict[str, float]:
        return {c: self.clauses.get(c, 0.0) for c in self.categories}

    def evidence(self, text: str, category: str) -> str:
        return text.strip()

    def denied(self, text: str) -> float:
        return 0.0


def test_the_model_alone_asks_first_on_one_or_two_words(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """"binnenkort" to "Wanneer ga je dit doen?": however sure the learned model is about one or
    two words, it asks the check question rather than raising the alarm. From three words on,
    or when a rule matches, the alarm stands."""
    from bot.text import signal_model

    real = signal_model.get_model()
    assert real is not None

    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, 0.99, 0.99))
    (short,) = detect("binnenkort")
    assert (short.category, short.severity, short.unsure) == ("crisis", "attention", True)
    (longer,) = detect("ik doe het binnenkort")
    assert (longer.category, longer.severity, longer.unsure) == ("crisis", "urgent", False)
    assert [(s.severity, s.source) for s in detect("wil dood")] == [("urgent", "rules")]


def test_the_crisis_reply_needs_one_clause_that_carries_it(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A long ordinary answer whose many small words add up to an alarm score for the whole
    ("hij had zijn pistool niet bij zich, en hij zit vooral op kantoor") gets the check
    question, not the crisis reply: the reply itself needs one clause that carries it."""
    from bot.text import signal_model

    real = signal_model.get_model()
    assert real is not None
    alarm = real.thresholds.alarm["crisis"]

    text = "ik liep mee met de wijkagent en hij zat vooral op kantoor"
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, 0.99, alarm - 0.2))
    (found,) = detect(text)
    assert (found.category, found.severity, found.unsure) == ("crisis", "attention", True)
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, 0.99, alarm))
    (found,) = detect(text)
    assert (found.category, found.severity, found.unsure) == ("crisis", "urgent", False)


def test_one_sure_clause_asks_the_check_question_when_the_whole_scores_low(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A crisis said in passing inside an ordinary answer: the other words pull the whole
    message's score below the unsure band, but one clause sure of it on its own
    (CRISIS_CLAUSE_ALONE) still asks the check question; a middling clause does not."""
    from bot.text import signal_model
    from bot.text.signals import CRISIS_CLAUSE_ALONE

    real = signal_model.get_model()
    assert real is not None
    low = real.thresholds.crisis_unsure / 2

    sure = CRISIS_CLAUSE_ALONE
    text = "ik teken graag en ik werk graag buiten, maar soms wil ik gewoon ergens anders zijn"
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, low, sure))
    (found,) = detect(text)
    assert (found.category, found.severity, found.unsure) == ("crisis", "attention", True)
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, low, sure - 0.01))
    assert detect(text) == []
    # In the unsure band the clause needs only the band itself, as before.
    unsure = real.thresholds.crisis_unsure
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, unsure, unsure))
    assert [s.unsure for s in detect(text)] == [True]
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(real, unsure, unsure - 0.01))
    assert detect(text) == []


def test_a_whole_message_sure_enough_asks_the_check_question_without_a_clause(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit crisis told across clauses ("ik lag in het ziekenhuis, na een poging"):
    no clause carries it, but from CRISIS_WHOLE_ALONE the whole message asks the check
    question on its own; just below it the clause condition holds as before."""
    from bot.text import signal_model
    from bot.text.signals import CRISIS_WHOLE_ALONE

    real = signal_model.get_model()
    assert real is not None
    assert real.thresholds.crisis_unsure < CRISIS_WHOLE_ALONE < real.thresholds.alarm["crisis"]
    quiet = real.thresholds.crisis_unsure / 2

    text = "vorige maand lag ik in het ziekenhuis, na een poging, en nu moet ik stage zoeken"
    monkeypatch.setattr(signal_model, "get_model",
                        lambda: FixedModel(real, CRISIS_WHOLE_ALONE, quiet))
    (found,) = detect(text)
    assert (found.category, found.severity, found.unsure) == ("crisis", "attention", True)
    monkeypatch.setattr(signal_model, "get_model",
                        lambda: FixedModel(real, CRISIS_WHOLE_ALONE - 0.01, quiet))
    assert detect(text) == []


def test_a_second_concern_said_in_passing_is_read_from_its_clause(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A message with one concern is read clause by clause for the others: "thuis willen ze
    dat ik stop" scores low for the whole message about the internship, but its clause reaches
    the alarm threshold. Without a first concern, or beside a crisis alone, the same clause
    adds nothing (an ordinary answer is not read clause by clause)."""
    from bot.text import signal_model

    real = signal_model.get_model()
    assert real is not None
    alarm = real.thresholds.alarm
    text = "op mijn stage mag ik alleen de vloer vegen, en thuis willen ze dat ik stop"
    low = {"druk_omgeving": alarm["druk_omgeving"] / 2}
    passing = {"druk_omgeving": alarm["druk_omgeving"]}

    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(
        real, 0.0, 0.0, wholes={"stage_probleem": 0.99, **low}, clauses=passing))
    assert {s.category for s in detect(text)} >= {"stage_probleem", "druk_omgeving"}
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(
        real, 0.0, 0.0, wholes={"stage_probleem": 0.99, **low},
        clauses={"druk_omgeving": alarm["druk_omgeving"] - 0.01}))
    assert "druk_omgeving" not in {s.category for s in detect(text)}
    quiet = "op mijn stage help ik bij de kassa, en thuis willen ze dat ik stop"
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(
        real, 0.0, 0.0, wholes=low, clauses=passing))
    assert "druk_omgeving" not in {s.category for s in detect(quiet)}
    # Beside a crisis alone the crisis reply already brings the mentor: no clause reading.
    monkeypatch.setattr(signal_model, "get_model", lambda: FixedModel(
        real, 0.99, 0.99, wholes=low, clauses=passing))
    assert [s.category for s in detect(quiet)] == ["crisis"]


def test_the_clauses_of_ordinary_answers_are_learned_as_negatives() -> None:
    """Each clause of a long ordinary answer is a negative of its own for the model; a
    concern, a denial or an answer of one clause gives none."""
    from bot.text.signal_model import LabelledMessage, ordinary_clauses

    answer = LabelledMessage("ik heb een eigen route bedacht, zodat ik niet steeds terug "
                             "hoef te lopen en ik kijk alvast naar de volgende order",
                             frozenset(), "gewoon")
    assert ordinary_clauses(answer) == ["ik heb een eigen route bedacht",
                                        "zodat ik niet steeds terug hoef te lopen",
                                        "ik kijk alvast naar de volgende order"]
    assert ordinary_clauses(LabelledMessage(answer.text, frozenset({"crisis"}))) == []
    assert ordinary_clauses(LabelledMessage(answer.text, frozenset(), "ontkend")) == []
    assert ordinary_clauses(LabelledMessage("ik werk bij de bakker", frozenset(),
                                            "gewoon")) == []


@pytest.mark.parametrize("text", [
    "geldproblemen hebben we niet", "ik spijbel nooit", "gepest word ik niet",
])
def test_a_negation_after_the_find_counts_for_attention_signals(text: str) -> None:
    assert Detector(use_nlp=False).detect(text) == [], text


@pytest.mark.parametrize(("text", "category"), [
    ("als ik niet kom slaat hij me", "crisis"),
    ("elke zaterdag moet ik bij mn oom werken en als ik niet kom slaat hij me", "crisis"),
    ("als mijn stage niet lukt stop ik helemaal met de opleiding", "uitval"),
])
def test_a_negation_inside_a_condition_does_not_negate_what_follows(text: str,
                                                                     category: str) -> None:
    """"als ik niet kom slaat hij me": the "niet" belongs to the condition's verb."""
    assert category in {s.category for s in Detector(use_nlp=False).detect(text)}, text


def test_a_negation_before_the_find_still_counts_outside_a_condition() -> None:
    assert Detector(use_nlp=False).detect("ik heb nooit aan zelfmoord gedacht") == []
    assert Detector(use_nlp=False).detect("ik stop niet met de opleiding") == []


@pytest.mark.parametrize("text", [
    "ik wil dood niemand snapt het", "ik wil er een eind aan maken niemand merkt het",
])
def test_a_negation_after_a_crisis_find_does_not_count(text: str) -> None:
    """Recall first: only attention signals look for a negation after the find."""
    found = Detector(use_nlp=False).detect(text)
    assert [(s.category, s.severity) for s in found] == [("crisis", "urgent")]


def test_the_clause_score_is_the_best_clause() -> None:
    """The check question needs one clause that carries the concern (bot.text.signals): the
    clause score of a message is its best clause's score, of one clause its own score."""
    from bot.text.signal_model import get_model

    model = get_model()
    assert model is not None
    one = "ik zie het niet meer zitten"
    whole = model.scores(one)["crisis"]
    assert model.clause_score(one, "crisis", whole) == pytest.approx(whole)
    two = "ik werk bij de bakker en ik zie het niet meer zitten"
    best = max(model.scores(p)["crisis"] for p in ("ik werk bij de bakker",
                                                    "ik zie het niet meer zitten"))
    assert model.clause_score(two, "crisis", model.scores(two)["crisis"]) == pytest.approx(best)
    assert model.clause_scores(two)["crisis"] == pytest.approx(best)
    assert model.clause_scores(one) == {}


def test_the_stored_model_keeps_no_words_of_the_last_message() -> None:
    """The model remembers the last message's features and parts between its calls (one
    message is scored, read clause by clause and sentence by sentence); the copy written to
    the cache on disk holds none of a student's words."""
    import pickle

    from bot.text.signal_model import get_model

    model = get_model()
    assert model is not None
    text = "ik heet Xandrijn Quispelaar. ik werk bij de bakker, en ik zie het niet meer zitten"
    model.scores(text)
    model.clause_scores(text)
    model.evidence(text, "crisis")
    assert model._last_clauses[0] == text and model._last_sentences[0] == text  # held in memory
    stored = pickle.dumps(model)
    assert b"Quispelaar" not in stored and b"quispelaar" not in stored


@pytest.mark.parametrize("text", [
    "discriminatie? nee, niet bij ons op het werk",  # a question the student answers "nee"
    "geldproblemen? nee hoor",
    "mijn broer zat vroeger in de schulden, maar dat is nu allemaal opgelost",  # someone else
    "mijn neef is vorig jaar gestopt met school maar nu doet hij een andere opleiding",
    "ik heb genoeg zelfvertrouwen hoor, ik weet wat ik kan",  # reassured: the model keeps quiet
    "mn ouders kunnen de boeken gewoon betalen, geen zorgen",
    "ik spijbel nooit, ik heb 0 uur verzuim dit jaar",
])
def test_denied_or_about_someone_else_raises_nothing(text: str) -> None:
    assert detect(text) == [], text


@pytest.mark.parametrize("text", [
    "geldproblemen? ja heel erg",
    "ik kan de laptop niet betalen",
    "ik wil stoppen met school",
    "ik heb echt geen zelfvertrouwen",
])
def test_the_concern_itself_still_counts(text: str) -> None:
    assert [s for s in detect(text) if s.severity == "attention" and not s.unsure], text


@pytest.mark.parametrize("text", [
    "ik mag van thuis niet naar buiten en als ik mijn telefoon niet afgeef word ik geslagen",
    "mijn arm zit vol met sneetjes, daarom draag ik altijd lange mouwen",
    "'s avonds lig ik te bedenken wie er op mijn begrafenis zou komen",
    "thuis is een hel, ik blijf zo lang mogelijk op school",
    "mama d'r vriend gooit met dingen naar ons",
    "ik weet niet waarom ik hier nog ben eigenlijk",  # the "niet" belongs to "weet"
])
def test_violence_and_self_harm_in_other_words_are_a_crisis(text: str) -> None:
    """A negation before the gap ("niet afgeef word ik geslagen") is not a negation of the
    violence itself: the pattern's core word decides."""
    assert any(s.category == "crisis" and s.severity == "urgent" for s in detect(text)), text


def test_a_crisis_cannot_be_reassured_away(tmp_path) -> None:
    text = SIGNAL_RULES_FILE.read_text(encoding="utf-8").replace(
        "  crisis:\n    negatie: true\n",
        "  crisis:\n    negatie: true\n    geruststelling: ['geen zorgen']\n", 1)
    path = tmp_path / "rules.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match="geruststelling"):
        load_rules(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("op mijn stage noemen ze me een aap omdat ik zwart ben", {"discriminatie", "stage_probleem"}),
    ("mijn stagebegeleider zegt dat meisjes niet kunnen lassen", {"discriminatie",
                                                                   "stage_probleem"}),
    ("de docent op school zegt dat meisjes niet kunnen lassen", {"discriminatie"}),
    ("op stage word ik niet gediscrimineerd", set()),
])
def test_discrimination_at_the_internship_is_an_internship_problem_too(
        text: str, expected: set[str]) -> None:
    """`ook_bij` in the rules: the school takes discrimination at the internship up with the
    company, so the mentor sees both flags; elsewhere it stays discrimination alone."""
    assert {s.category for s in detect(text) if not s.unsure} == expected


def test_the_conversation_sets_are_screened_answer_by_answer(tmp_path) -> None:
    """`bot eval signals --gesprekken`: each student message of a conversation set is screened
    as the answer to its question; a crisis counts as the crisis reply or the check question."""
    from bot.text.signals_eval import conversation_signals

    path = tmp_path / "set.yml"
    path.write_text('gesprekken:\n  - id: g1\n    berichten:\n'
                    '      - ervaring: "ik heb stage gelopen bij een bakker"\n'
                    '      - rol: "ik wil niet meer leven"\n', encoding="utf-8")
    messages, counts = conversation_signals([path])
    assert messages == 2
    assert counts == {"crisisantwoord": 1}
