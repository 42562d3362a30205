"""Feature sets build and fit, and the compiled TF-IDF path (one split into words shared by the
quality features and the similarity index) equals scikit-learn's transform."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn.feature_extraction.text import TfidfVectorizer

from core.routing.features import (
    FEATURE_SETS,
    compiled,
    make_features,
    rows,
    similarity_features,
)
from core.routing.learned import Hyper, Neighbourhood, OutcomeTable, QualityModel

TEXTS = [f"Question {i}: what is the {w} of {v}? Answer with one word."
         for i, (w, v) in enumerate([("capital", "France"), ("colour", "the sky"),
                                     ("square root", "81"), ("capital", "Spain"),
                                     ("author", "Hamlet"), ("colour", "grass")] * 5)]


@pytest.mark.parametrize("name", FEATURE_SETS)
def test_every_feature_set_fits_and_transforms(name):
    featurizer = make_features(name, len(TEXTS))
    matrix = featurizer.fit_transform(TEXTS)
    assert matrix.shape[0] == len(TEXTS) and matrix.shape[1] > 0
    assert featurizer.transform(["an unseen prompt"]).shape == (1, matrix.shape[1])


def test_unknown_feature_set_is_refused():
    with pytest.raises(ValueError, match="unknown feature set"):
        make_features("bag_of_vibes", 10)


UNSEEN = ["What is the capital of Italy?", "zzz unseen words only", TEXTS[3], "",
          "The capital of France, the capital of Spain: what is the capital?"]
TRICKY = "Ça_va? l'été 2024 x-ray a b c 東京 e-mail QUESTION__1 naïve déjà-vu 42 I'm\nok\ttab"


def _dense(row, width):
    index, values = row
    assert np.all(np.diff(index) > 0), "column indices ascending"
    out = np.zeros(width)
    out[index] = values
    return out


def _assert_same(vectorizer, row, text):
    expected = vectorizer.transform([text]).toarray()[0]
    np.testing.assert_allclose(_dense(row, expected.size), expected, atol=1e-12)


@pytest.mark.parametrize("vectorizer", [make_features("tfidf_word", 30), similarity_features(30),
                                        make_features("tfidf_char", 30),
                                        TfidfVectorizer(ngram_range=(1, 3), stop_words="english")])
def test_compiled_tfidf_equals_sklearn(vectorizer):
    vectorizer.fit([*TEXTS, TRICKY])
    fast = compiled(vectorizer)
    assert fast is not None
    for text in [*UNSEEN, TRICKY]:
        _assert_same(vectorizer, fast.vector(text), text)


def test_word_tokens_are_sklearns_words():
    """The faster pattern for scikit-learn's default token pattern finds the same words."""
    vectorizer = make_features("tfidf_word", 30).fit(TEXTS)
    fast = compiled(vectorizer)
    assert fast is not None
    split = vectorizer.build_tokenizer()
    for text in [TRICKY, TRICKY.lower(), *UNSEEN, "a", "ab", "_", "__", "x1 1x é"]:
        assert fast.tokens(text) == split(text.lower())


def test_one_split_serves_the_quality_features_and_the_similarity_index():
    quality, near = make_features("tfidf_word", 30).fit(TEXTS), similarity_features(30).fit(TEXTS)
    fast_quality, fast_near = compiled(quality), compiled(near)
    assert fast_quality is not None and fast_near is not None
    assert fast_quality.tokenizing == fast_near.tokenizing
    for text in UNSEEN:
        near_row, quality_row, missing = rows(text, [fast_near, fast_quality, None])
        assert missing is None and near_row is not None and quality_row is not None
        _assert_same(near, near_row, text)
        _assert_same(quality, quality_row, text)


def test_vectorizers_that_tokenise_differently_do_not_share_words():
    plain = similarity_features(30).fit(TEXTS)
    cased = TfidfVectorizer(lowercase=False).fit(TEXTS)
    stopped = TfidfVectorizer(stop_words=["the", "of"]).fit(TEXTS)
    chars = make_features("tfidf_char", 30).fit(TEXTS)
    vectorizers = [plain, cased, stopped, chars]
    fast = [compiled(v) for v in vectorizers]
    keys = [f.tokenizing for f in fast if f is not None]
    assert len(set(keys[:3])) == 3 and keys[3] is None
    for text in ["The capital OF France", *UNSEEN]:
        for vectorizer, row in zip(vectorizers, rows(text, fast)):
            _assert_same(vectorizer, row, text)


def test_other_transformers_do_not_compile():
    assert compiled(make_features("hashed", 30).fit(TEXTS)) is None


def test_neighbourhood_fast_path_matches_and_counts_similar_prompts():
    scores = np.ones((len(TEXTS), 2))
    scores[:15, 1] = np.nan
    table = OutcomeTable(TEXTS, ["a", "b"], scores, np.ones_like(scores))
    near = Neighbourhood.fit(table)
    fast = compiled(near.vectorizer)
    assert fast is not None
    for text in ["what is the capital of France?", "nothing alike here"]:
        slow_d, slow_counts = near.similar(text, 0.5)
        fast_d, fast_counts = near.similar(text, 0.5, fast.vector(text))
        assert fast_d == pytest.approx(slow_d)
        np.testing.assert_array_equal(fast_counts, slow_counts)
    distance, counts = near.similar("what is the capital of France?", 0.5,
                                    fast.vector("what is the capital of France?"))
    assert distance < 0.5 and counts[0] > counts[1] > 0
    assert near.similar("nothing alike here", 0.5, fast.vector("nothing alike here"))[0] == 1.0


def test_quality_fast_path_matches_sklearns_predictions():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 2, size=(len(TEXTS), 3)).astype(np.float64)
    table = OutcomeTable(TEXTS, ["a", "b", "c"], scores, np.ones_like(scores))
    model = QualityModel.fit(table, Hyper("tfidf_word", 1.0, 0.5))
    fast = compiled(model.featurizer)
    assert fast is not None
    for text in UNSEEN:
        np.testing.assert_allclose(model.predict_one(text, fast.vector(text)),
                                   model.predict([text])[0], atol=1e-12)
