"""The safety layer in the NLU pipeline: the detector alone decides a crisis."""

from rasa.shared.nlu.training_data.message import Message

from bot.rasa_plugins.components import SafetyOverride


def message(text: str, ranking: list[tuple[str, float]]) -> Message:
    ranked = [{"name": n, "confidence": c} for n, c in ranking]
    return Message(data={"text": text, "intent": ranked[0], "intent_ranking": ranked})


def test_detected_crisis_overrides_the_classifier() -> None:
    (m,) = SafetyOverride().process([message("ik wil niet meer leven", [("vertellen", 0.9)])])
    assert m.get("intent") == {"name": "signaal_crisis", "confidence": 1.0}


def test_classifier_alone_cannot_raise_a_crisis() -> None:
    unsure = message("mijn baas scheldt me steeds uit",
                     [("signaal_crisis", 0.99), ("frustratie", 0.01)])
    sure = message("ik ga dood van de honger", [("signaal_crisis", 0.5), ("vertellen", 0.5)])
    first, second = SafetyOverride().process([unsure, sure])
    assert first.get("intent") == {"name": "vertellen", "confidence": 1.0}
    assert second.get("intent") == {"name": "vertellen", "confidence": 0.5}


def test_other_intents_pass_through() -> None:
    (m,) = SafetyOverride().process([message("hoi", [("begroeten", 0.97)])])
    assert m.get("intent") == {"name": "begroeten", "confidence": 0.97}


def test_the_parse_of_the_nlu_pipeline_is_reused(monkeypatch) -> None:
    from bot.text import signals
    from bot.text.nlp import get_nlp

    text = "ik wil niet meer leven"
    m = message(text, [("vertellen", 0.9)])
    m.set("text_spacy_doc", get_nlp()(text))
    detector = signals.get_detector()
    calls: list[str] = []
    original = detector._analyse
    monkeypatch.setattr(detector, "_analyse", lambda t: calls.append(t) or original(t))
    (out,) = SafetyOverride().process([m])
    assert out.get("intent")["name"] == "signaal_crisis" and calls == []


def test_every_signal_travels_with_the_message_for_the_action_server() -> None:
    from bot.text.signals import PARSE_DATA_KEY, Signal, detect

    text = "mijn ouders willen dat ik dokter word maar ik wil kapper worden"
    (m,) = SafetyOverride().process([message(text, [("vertellen", 0.9)])])
    handed = m.get(PARSE_DATA_KEY)
    assert [Signal.from_parse_data(s) for s in handed] == detect(text)
    assert [s["category"] for s in handed] == ["druk_omgeving"]
    assert PARSE_DATA_KEY in m.as_dict(only_output_properties=True)  # reaches the tracker
    (quiet,) = SafetyOverride().process([message("hoi", [("begroeten", 0.97)])])
    assert quiet.get(PARSE_DATA_KEY) == []


def test_the_action_servers_pipeline_reads_as_rasas_and_as_the_full_one() -> None:
    """Rasa's SpacyNLP and bot.text.nlp both leave out the dependency parser; the lemmas and
    vectors the assistant uses are the full pipeline's."""
    import numpy as np
    import spacy
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    from bot.text.nlp import get_nlp, pipeline_name

    full = spacy.load(pipeline_name())
    rasas = SpacyNLP.load_model(pipeline_name()).model
    texts = ["Ik heb op mijn stage bij de bakker brood gesneden en klanten geholpen.",
             "mn ouders willen dat ik dokter word. maar ik wil kapper worden!",
             "ik zie het niet meer zitten"]
    for text in texts:
        docs = [full(text), rasas(text), get_nlp()(text)]
        lemmas = [[token.lemma_ for token in doc] for doc in docs]
        assert lemmas[0] == lemmas[1] == lemmas[2]
        assert all(np.allclose(docs[0].tensor, doc.tensor) for doc in docs[1:])
    assert "parser" not in get_nlp().pipe_names
