"""Fitted prompt features applied to one prompt fast: the learned ranker's decision path.

Scikit-learn's ``transform`` validates its input on every call, which costs milliseconds for one
short text, and each vectorizer runs its own analyzer over the text. ``compiled(featurizer)``
turns a fitted feature set of ``core.routing.features`` (TF-IDF over words or characters,
hashed words, length features, or a union of them) into the same arithmetic on one text, from
the fitted vocabulary, idf weights and scales; ``rows(text, compiled_forms)`` gives each form's
row of that text, splitting the text into words once for every form that tokenises alike (the
quality features and the similarity index: only their n-grams and vocabularies differ). Each
row equals scikit-learn's ``transform`` of the text (the tests check this, to 1e-12).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import murmurhash3_32

from core.routing.features import LENGTH_FEATURES, LengthFeatures, length_row

Row = tuple[NDArray[np.int64], NDArray[np.float64]]
"""One text's sparse feature row: (column indices, ascending; their values)."""

_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_WORD_RUNS = re.compile(r"\w\w+")
"""Finds what scikit-learn's default token pattern finds (a greedy run of two or more word
characters found left to right always starts and ends at a word boundary), a third sooner."""
_INT32_MIN = -(2**31)


class Words:
    """One text, split into words at most once per way of tokenising (``tokenizing`` key)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._split: dict[tuple[object, ...], list[str]] = {}

    def of(self, key: tuple[object, ...], split: Callable[[str], list[str]]) -> list[str]:
        """The text's words by ``split``, done once for all the splits with this ``key``."""
        words = self._split.get(key)
        if words is None:
            words = self._split[key] = split(self.text)
        return words


class Compiled(Protocol):
    """A fitted featurizer's arithmetic on one text."""

    width: int

    def row(self, words: Words) -> Row:
        """The text's feature row."""
        ...


def _stop_words(vectorizer: TfidfVectorizer | HashingVectorizer) -> frozenset[str] | None:
    words = vectorizer.get_stop_words()
    return None if words is None else frozenset(words)


class WordAnalysis:
    """A fitted text vectorizer's analyzer: the terms of a text and how often each occurs. For
    a word analyzer the words come from ``Words`` (split once, shared), then its own n-grams."""

    def __init__(self, vectorizer: TfidfVectorizer | HashingVectorizer) -> None:
        self.analyze = vectorizer.build_analyzer()
        self.stop_words = _stop_words(vectorizer)
        self.ngram_range: tuple[int, int] = tuple(vectorizer.ngram_range)
        self.tokenizing: tuple[object, ...] | None = None
        if vectorizer.analyzer == "word":  # what the words depend on; equal keys split alike
            self.tokenizing = (vectorizer.input, vectorizer.encoding, vectorizer.decode_error,
                               vectorizer.strip_accents, vectorizer.lowercase,
                               vectorizer.preprocessor, vectorizer.tokenizer,
                               vectorizer.token_pattern, self.stop_words)
        self._decode = vectorizer.decode
        self._preprocess = vectorizer.build_preprocessor()
        default = vectorizer.tokenizer is None and vectorizer.token_pattern == _DEFAULT_TOKEN_PATTERN
        self._tokenize = _WORD_RUNS.findall if default else vectorizer.build_tokenizer()

    def tokens(self, text: str) -> list[str]:
        """The text's words, stop words dropped, before n-grams (word analyzers only)."""
        words: list[str] = list(self._tokenize(self._preprocess(self._decode(text))))
        if self.stop_words is None:
            return words
        return [w for w in words if w not in self.stop_words]

    def counts(self, words: Words) -> Counter[str]:
        """How often each term occurs: for a word analyzer, the words' n-grams joined by a
        space, as scikit-learn builds them."""
        if self.tokenizing is None:
            return Counter(self.analyze(words.text))
        tokens = words.of(self.tokenizing, self.tokens)
        low, high = self.ngram_range
        counts: Counter[str] = Counter()
        for n in range(low, high + 1):
            counts.update(tokens if n == 1
                          else map(" ".join, zip(*(tokens[k:] for k in range(n)))))
        return counts


def _weighted(columns: dict[int, float], idf: NDArray[np.float64], sublinear: bool) -> Row:
    """Term counts by column to an L2-normalised (sublinear) tf-idf row."""
    if not columns:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    index = np.fromiter(columns, dtype=np.int64, count=len(columns))
    tf = np.fromiter(columns.values(), dtype=np.float64, count=len(columns))
    order = np.argsort(index)
    index, tf = index[order], tf[order]
    if sublinear:
        tf = 1.0 + np.log(tf)
    values = tf * idf[index]
    return index, values / np.sqrt(values @ values)


def _check_tfidf(norm: object, use_idf: bool) -> None:
    if norm != "l2" or not use_idf:
        raise ValueError("only l2-normalised, idf-weighted vectorizers compile")


class CompiledTfidf:
    """A fitted ``TfidfVectorizer``: its analyzer, vocabulary, idf, sublinear tf, L2 norm."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        _check_tfidf(vectorizer.norm, vectorizer.use_idf)
        if vectorizer.binary:
            raise ValueError("binary vectorizers do not compile")
        self.analysis = WordAnalysis(vectorizer)
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.width = len(self.idf)

    def row(self, words: Words) -> Row:
        """The text's TF-IDF row."""
        vocabulary = self.vocabulary
        found = {vocabulary[t]: float(n) for t, n in self.analysis.counts(words).items()
                 if t in vocabulary}
        return _weighted(found, self.idf, self.sublinear)


class CompiledHashed:
    """A fitted ``HashingVectorizer`` (unsigned, unnormalised counts) then ``TfidfTransformer``:
    each term's murmurhash3 column, as scikit-learn hashes it, counts summed per column."""

    def __init__(self, hasher: HashingVectorizer, weights: TfidfTransformer) -> None:
        _check_tfidf(weights.norm, weights.use_idf)
        if hasher.alternate_sign or hasher.norm is not None or hasher.binary:
            raise ValueError("only unsigned, unnormalised hashed counts compile")
        self.analysis = WordAnalysis(hasher)
        self.idf = np.asarray(weights.idf_, dtype=np.float64)
        self.sublinear = bool(weights.sublinear_tf)
        self.width = int(hasher.n_features)

    def _column(self, term: str) -> int:
        h = int(murmurhash3_32(term, seed=0))
        return (2**31 - 1 - (self.width - 1)) % self.width if h == _INT32_MIN else abs(h) % self.width

    def row(self, words: Words) -> Row:
        """The text's hashed TF-IDF row."""
        columns: dict[int, float] = {}
        for term, n in self.analysis.counts(words).items():
            column = self._column(term)
            columns[column] = columns.get(column, 0.0) + n
        return _weighted(columns, self.idf, self.sublinear)


class CompiledLength:
    """Fitted ``LengthFeatures`` then ``StandardScaler(with_mean=False)``: five scaled numbers."""

    def __init__(self, scaler: StandardScaler) -> None:
        if scaler.with_mean:
            raise ValueError("only scaling without centring compiles")
        scale = scaler.scale_
        self.inverse = (np.ones(LENGTH_FEATURES) if scale is None
                        else 1.0 / np.asarray(scale, dtype=np.float64))
        self.width = LENGTH_FEATURES

    def row(self, words: Words) -> Row:
        """The text's scaled length features."""
        return (np.arange(LENGTH_FEATURES, dtype=np.int64),
                np.asarray(length_row(words.text), dtype=np.float64) * self.inverse)


class CompiledUnion:
    """A fitted ``FeatureUnion`` of compilable parts: their rows side by side."""

    def __init__(self, union: FeatureUnion) -> None:
        if union.transformer_weights:
            raise ValueError("weighted unions do not compile")
        parts = [compiled(part) for _, part in union.transformer_list]
        if any(p is None for p in parts):
            raise ValueError("every part of a union must compile")
        self.parts: list[Compiled] = [p for p in parts if p is not None]
        self.offsets = np.cumsum([0, *(p.width for p in self.parts)])
        self.width = int(self.offsets[-1])

    def row(self, words: Words) -> Row:
        """The parts' rows, each part's columns after the previous parts'."""
        pieces = [p.row(words) for p in self.parts]
        return (np.concatenate([i + o for (i, _), o in zip(pieces, self.offsets)]),
                np.concatenate([v for _, v in pieces]))


def _pipeline(pipeline: Pipeline) -> Compiled:
    steps = [step for _, step in pipeline.steps]
    match steps:
        case [HashingVectorizer() as hasher, TfidfTransformer() as weights]:
            return CompiledHashed(hasher, weights)
        case [LengthFeatures(), StandardScaler() as scaler]:
            return CompiledLength(scaler)
    raise ValueError("no compiled form for this pipeline")


def compiled(featurizer: Any) -> Compiled | None:
    """The compiled form of a fitted feature set (None when it has none)."""
    try:
        if isinstance(featurizer, TfidfVectorizer):
            return CompiledTfidf(featurizer)
        if isinstance(featurizer, FeatureUnion):
            return CompiledUnion(featurizer)
        if isinstance(featurizer, Pipeline):
            return _pipeline(featurizer)
    except ValueError:
        return None
    return None


def rows(text: str, forms: tuple[Compiled | None, ...] | list[Compiled | None]) -> list[Row | None]:
    """Each compiled form's row for ``text`` (None for None), the text split into words once for
    all the forms that tokenise alike."""
    words = Words(text)
    return [None if form is None else form.row(words) for form in forms]
