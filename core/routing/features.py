"""Prompt features for the learned ranker, built from scikit-learn parts.

Each feature set is a name (``FEATURE_SETS``) that ``make_features`` turns into a fresh, unfitted
scikit-learn transformer from prompt texts to a sparse matrix. Which set wins is measured by
cross-validation on training data (``core.routing.evaluation``; the figures are in
bench/README.md), never assumed. ``similarity_features`` is the fixed space in which "how close
is this prompt to anything seen" is measured: word TF-IDF, cosine distance.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURE_SETS: tuple[str, ...] = (
    "tfidf_word", "tfidf_char", "hashed", "length", "tfidf_word+length", "tfidf_word+char",
)
_DIGITS = re.compile(r"\d")


class LengthFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Shape of a prompt: log characters, log words, lines, digit and question-mark shares."""

    def fit(self, texts: Iterable[str], y: object = None) -> "LengthFeatures":
        """Stateless: nothing to learn."""
        return self

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        """One row of five numbers per text."""
        rows = []
        for text in texts:
            chars = max(len(text), 1)
            rows.append([np.log1p(len(text)), np.log1p(len(text.split())),
                         np.log1p(text.count("\n")), len(_DIGITS.findall(text)) / chars,
                         text.count("?") / chars * 100])
        return sparse.csr_matrix(np.asarray(rows, dtype=np.float64).reshape(-1, 5))


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


Row = tuple[NDArray[np.int64], NDArray[np.float64]]
"""One text's sparse feature row: (column indices, ascending; their values)."""

_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_WORD_RUNS = re.compile(r"\w\w+")
"""Finds what scikit-learn's default token pattern finds (a greedy run of two or more word
characters found left to right always starts and ends at a word boundary), a third sooner."""


def _tokenizing(vectorizer: TfidfVectorizer) -> tuple[object, ...] | None:
    """What a word vectorizer's tokens depend on (two vectorizers with equal keys split a text
    into the same words); None for character and custom analyzers."""
    if vectorizer.analyzer != "word":
        return None
    return (vectorizer.input, vectorizer.encoding, vectorizer.decode_error,
            vectorizer.strip_accents, vectorizer.lowercase, vectorizer.preprocessor,
            vectorizer.tokenizer, vectorizer.token_pattern, _stop_words(vectorizer))


def _stop_words(vectorizer: TfidfVectorizer) -> frozenset[str] | None:
    words = vectorizer.get_stop_words()
    return None if words is None else frozenset(words)


class CompiledTfidf:
    """A fitted ``TfidfVectorizer`` applied to one text without scikit-learn's per-call input
    validation (which costs milliseconds on one short text): the vectorizer's own
    preprocessing, vocabulary and idf weights, sublinear tf and L2 norm as it was fitted. It
    gives the same vector as ``vectorizer.transform([text])`` (the tests check this); routing a
    prompt needs it under a millisecond. For a word analyzer a text is split into words
    (``tokens``) once and the words can serve another vectorizer that tokenises alike
    (``rows``): only the n-grams and the vocabulary differ between them."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        if vectorizer.norm != "l2" or vectorizer.binary or not vectorizer.use_idf:
            raise ValueError("only l2-normalised, idf-weighted, non-binary vectorizers compile")
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.tokenizing = _tokenizing(vectorizer)
        self.analyze = vectorizer.build_analyzer()
        self.ngram_range: tuple[int, int] = tuple(vectorizer.ngram_range)
        self.stop_words = _stop_words(vectorizer)
        self._decode = vectorizer.decode
        self._preprocess = vectorizer.build_preprocessor()
        default = vectorizer.tokenizer is None and vectorizer.token_pattern == _DEFAULT_TOKEN_PATTERN
        self._tokenize = _WORD_RUNS.findall if default else vectorizer.build_tokenizer()

    def tokens(self, text: str) -> list[str]:
        """The text's words, stop words dropped, before n-grams (word analyzers only)."""
        if self.tokenizing is None:
            raise ValueError("only a word analyzer splits a text into tokens")
        words: list[str] = list(self._tokenize(self._preprocess(self._decode(text))))
        if self.stop_words is None:
            return words
        return [w for w in words if w not in self.stop_words]

    def _counts(self, tokens: list[str]) -> Counter[str]:
        """How often each of the word analyzer's terms occurs: the tokens' n-grams, joined by a
        space, as scikit-learn builds them."""
        low, high = self.ngram_range
        counts: Counter[str] = Counter()
        for n in range(low, high + 1):
            counts.update(tokens if n == 1
                          else map(" ".join, zip(*(tokens[k:] for k in range(n)))))
        return counts

    def vector(self, text: str, tokens: list[str] | None = None) -> Row:
        """The text's TF-IDF row. ``tokens``, when given, are the text's ``tokens`` (perhaps
        from another vectorizer that tokenises alike): the text is not split again."""
        if self.tokenizing is None:
            counts = Counter(self.analyze(text))
        else:
            counts = self._counts(self.tokens(text) if tokens is None else tokens)
        vocabulary = self.vocabulary
        found = {vocabulary[t]: n for t, n in counts.items() if t in vocabulary}
        if not found:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        index = np.fromiter(found, dtype=np.int64, count=len(found))
        tf = np.fromiter(found.values(), dtype=np.float64, count=len(found))
        order = np.argsort(index)
        index, tf = index[order], tf[order]
        if self.sublinear:
            tf = 1.0 + np.log(tf)
        values = tf * self.idf[index]
        return index, values / np.sqrt(values @ values)


def rows(text: str, vectorizers: Sequence[CompiledTfidf | None]) -> list[Row | None]:
    """Each compiled vectorizer's row for ``text`` (None for None), splitting the text into
    words once for all the vectorizers that tokenise alike."""
    shared: dict[tuple[object, ...], list[str]] = {}
    out: list[Row | None] = []
    for fast in vectorizers:
        if fast is None or fast.tokenizing is None:
            out.append(None if fast is None else fast.vector(text))
            continue
        tokens = shared.get(fast.tokenizing)
        if tokens is None:
            tokens = shared[fast.tokenizing] = fast.tokens(text)
        out.append(fast.vector(text, tokens))
    return out


def compiled(featurizer: object) -> CompiledTfidf | None:
    """The compiled form of a plain fitted TF-IDF vectorizer; None for any other transformer."""
    if isinstance(featurizer, TfidfVectorizer):
        try:
            return CompiledTfidf(featurizer)
        except ValueError:
            return None
    return None
