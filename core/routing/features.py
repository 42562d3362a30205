"""Prompt features for the learned ranker, built from scikit-learn parts.

Each feature set is a name (``FEATURE_SETS``) that ``make_features`` turns into a fresh, unfitted
scikit-learn transformer from prompt texts to a sparse matrix. Which set wins is measured by
cross-validation on training data (``core.routing.evaluation``; the figures are in
bench/README.md), never assumed. ``similarity_features`` is the fixed space in which "how close
is this prompt to anything seen" is measured: word TF-IDF, cosine distance. The decision path
applies the fitted transformers through ``core.routing.compiled``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURE_SETS: tuple[str, ...] = (
    "tfidf_word", "tfidf_char", "hashed", "length", "tfidf_word+length", "tfidf_word+char",
)
_DIGITS = re.compile(r"\d")


LENGTH_FEATURES = 5


def length_row(text: str) -> list[float]:
    """Shape of a prompt: log characters, log words, lines, digit and question-mark shares."""
    chars = max(len(text), 1)
    return [float(np.log1p(len(text))), float(np.log1p(len(text.split()))),
            float(np.log1p(text.count("\n"))), len(_DIGITS.findall(text)) / chars,
            text.count("?") / chars * 100]


class LengthFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Shape of a prompt (``length_row``), as a scikit-learn transformer."""

    def fit(self, texts: Iterable[str], y: object = None) -> "LengthFeatures":
        """Stateless: nothing to learn."""
        return self

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        """One row of ``LENGTH_FEATURES`` numbers per text."""
        rows = [length_row(text) for text in texts]
        return sparse.csr_matrix(np.asarray(rows, dtype=np.float64).reshape(-1, LENGTH_FEATURES))


def _document_limits(n_docs: int) -> dict[str, float]:
    """Drop rare and near-universal terms (a shared few-shot preamble) once there is enough
    text to tell; keep every term of a small corpus."""
    return {"min_df": 2 if n_docs >= 100 else 1, "max_df": 0.9 if n_docs >= 20 else 1.0}


def _word_tfidf(n_docs: int) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float64,
                           **_document_limits(n_docs))


def _char_tfidf(n_docs: int) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                           max_features=50_000, dtype=np.float64, **_document_limits(n_docs))


def _hashed(n_docs: int) -> Pipeline:
    return make_pipeline(HashingVectorizer(ngram_range=(1, 2), n_features=2**18,
                                           alternate_sign=False, norm=None),
                         TfidfTransformer(sublinear_tf=True))


def _length(n_docs: int) -> Pipeline:
    return make_pipeline(LengthFeatures(), StandardScaler(with_mean=False))


def make_features(name: str, n_docs: int) -> TransformerMixin:
    """A fresh transformer for the feature set ``name`` (one of ``FEATURE_SETS``), sized for a
    training corpus of ``n_docs`` prompts."""
    parts = {"tfidf_word": _word_tfidf, "tfidf_char": _char_tfidf, "hashed": _hashed,
             "length": _length}
    names = name.split("+")
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)}")
    expanded = [("tfidf_char" if part == "char" else part) for part in names]
    if len(expanded) == 1:
        return parts[expanded[0]](n_docs)
    return FeatureUnion([(part, parts[part](n_docs)) for part in expanded])


def similarity_features(n_docs: int) -> TfidfVectorizer:
    """The space where prompt distance is measured (word TF-IDF, L2-normalised rows)."""
    limits = _document_limits(n_docs)
    return TfidfVectorizer(ngram_range=(1, 1), sublinear_tf=True, dtype=np.float64,
                           max_df=limits["max_df"])


def as_texts(prompts: Sequence[str]) -> list[str]:
    """Prompts as plain strings (None and non-strings become text)."""
    return [p if isinstance(p, str) else ("" if p is None else str(p)) for p in prompts]
