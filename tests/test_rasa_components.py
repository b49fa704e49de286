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


def test_rasas_spacy_without_the_unread_tags_gives_the_same_features() -> None:
    """bot.rasa_plugins.speed leaves the morphologizer out of Rasa's SpacyNLP when Rasa hands
    spaCy lowercased text (config.yml): the dense features (the tok2vec tensor), the lemmas
    and the tokens the featurizers read are those of the pipeline with it; with
    case_sensitive the pipe stays."""
    import numpy as np
    import spacy
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    from bot.rasa_plugins import speed
    from bot.text.nlp import pipeline_name

    speed.install()
    config = {"model": pipeline_name(), "case_sensitive": False}
    lowered = SpacyNLP.create(config, None, Resource("nlp"), None)
    kept = SpacyNLP.create({**config, "case_sensitive": True}, None, Resource("nlp"), None)
    assert set(speed.UNREAD_WITH_LOWERCASE) <= set(kept.provide().model.pipe_names)
    assert not set(speed.UNREAD_WITH_LOWERCASE) & set(lowered.provide().model.pipe_names)
    with_tags = spacy.load(pipeline_name(), disable=["parser"])
    texts = ["Ik heb op mijn stage bij de bakker brood gesneden en klanten geholpen.",
             "mn ouders willen dat ik dokter word. maar ik wil kapper worden in Amsterdam!",
             "ik zie het niet meer zitten", "Jan en Fatima hielpen mij bij Albert Heijn"]
    for text in texts:
        text = lowered._preprocess_text(text)
        got, want = lowered.provide().model(text), with_tags(text)
        assert [t.text for t in got] == [t.text for t in want]
        assert [t.lemma_ for t in got] == [t.lemma_ for t in want]
        assert np.allclose(got.tensor, want.tensor)
        assert all(np.allclose(a.vector, b.vector) for a, b in zip(got, want, strict=True))
