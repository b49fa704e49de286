"""Small rule component shipped inside nl_loopbaan_sm (packaged with `spacy package --code`).

The edit-tree lemmatizer learns case changes per letter (``M`` -> ``m`` is a separate edit
tree from ``V`` -> ``v``), so capitalised common words at the start of a sentence or in a
headline often keep their capital in the lemma (``Ministers`` -> ``Minister``). In UD Dutch
only proper nouns, nationality adjectives (``Vlaamse`` -> ``Vlaams``) and foreign material keep
the capital, so for other titlecase words the first letter of the lemma is lowercased.
"""

from spacy.language import Language

KEEP_CAPITAL_POS = {"PROPN", "ADJ", "X", "SYM", ""}


@Language.component("loopbaan_lemma_case")
def loopbaan_lemma_case(doc):
    for token in doc:
        text = token.text
        lemma = token.lemma_
        if (
            len(text) > 1
            and text[0].isupper()
            and text[1:].islower()
            and lemma[:1].isupper()
            and token.pos_ not in KEEP_CAPITAL_POS
        ):
            token.lemma_ = lemma[0].lower() + lemma[1:]
    return doc
