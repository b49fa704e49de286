"""A fitted sklearn TfidfVectorizer's row for one document, computed as sklearn computes it
(counts, 1 + log tf when sublinear, idf, L2 norm) without its checks and sparse matrices per
call: for one short message those took most of the time. Used by the signal model's and the
competency classifier's fast paths; their tests hold both to sklearn's figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def weigh(counts: Mapping[int, int], idf: Any, sublinear: bool) -> tuple[list[int], list[float]]:
    """(columns, values) of one row from its term counts per column."""
    columns = sorted(counts)
    if not columns:
        return [], []
    tf = np.array([counts[c] for c in columns], dtype=np.float64)
    row = (np.log(tf) + 1.0 if sublinear else tf) * idf[columns]
    norm = np.sqrt(np.dot(row, row))
    if norm > 0:
        row /= norm
    return columns, row.tolist()


class TfidfRow:
    """One document's row of a fitted TfidfVectorizer with L2-normalised idf weighting, any
    analyzer; columns shifted by `offset` (the vectorizer's place in an hstack)."""

    def __init__(self, vectorizer: Any, offset: int = 0) -> None:
        if not self.applies(vectorizer):
            raise ValueError("only l2-normalised idf weighting of text is computed here")
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = vectorizer.idf_
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.offset = offset

    @staticmethod
    def applies(vectorizer: Any) -> bool:
        """Whether this computes `vectorizer`'s rows as sklearn does."""
        return (vectorizer.input == "content" and vectorizer.norm == "l2"
                and vectorizer.use_idf and not vectorizer.binary)

    def add(self, doc: str, columns: list[int], values: list[float]) -> None:
        """Append the row of `doc` to `columns` and `values`."""
        counts: dict[int, int] = {}
        for term in self.analyze(doc):
            column = self.vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        append_row(counts, self.idf, self.sublinear, self.offset, columns, values)


def append_row(counts: Mapping[int, int], idf: Any, sublinear: bool, offset: int,
               columns: list[int], values: list[float]) -> None:
    """Append the weighted row of these term counts, its columns shifted by `offset`."""
    found, weights = weigh(counts, idf, sublinear)
    columns.extend(offset + c for c in found)
    values.extend(weights)
