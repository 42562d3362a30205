"""Feature sets build and fit, and the compiled TF-IDF path equals scikit-learn's transform."""

from __future__ import annotations

import numpy as np
import pytest

from core.routing.features import FEATURE_SETS, compiled, make_features, similarity_features
from core.routing.learned import Neighbourhood, OutcomeTable

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


@pytest.mark.parametrize("vectorizer", [make_features("tfidf_word", 30), similarity_features(30)])
def test_compiled_tfidf_equals_sklearn(vectorizer):
    vectorizer.fit(TEXTS)
    fast = compiled(vectorizer)
    assert fast is not None
    for text in ["What is the capital of Italy?", "zzz unseen words only", TEXTS[3]]:
        expected = vectorizer.transform([text]).toarray()[0]
        index, values = fast.vector(text)
        got = np.zeros_like(expected)
        got[index] = values
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_other_transformers_do_not_compile():
    assert compiled(make_features("hashed", 30).fit(TEXTS)) is None


def test_neighbourhood_fast_path_matches_and_counts_similar_prompts():
    scores = np.ones((len(TEXTS), 2))
    scores[:15, 1] = np.nan
    table = OutcomeTable(TEXTS, ["a", "b"], scores, np.ones_like(scores))
    near = Neighbourhood.fit(table)
    fast = compiled(near.vectorizer)
    for text in ["what is the capital of France?", "nothing alike here"]:
        slow_d, slow_counts = near.similar(text, 0.5)
        fast_d, fast_counts = near.similar(text, 0.5, fast)
        assert fast_d == pytest.approx(slow_d)
        np.testing.assert_array_equal(fast_counts, slow_counts)
    distance, counts = near.similar("what is the capital of France?", 0.5, fast)
    assert distance < 0.5 and counts[0] > counts[1] > 0
    assert near.similar("nothing alike here", 0.5, fast)[0] == 1.0
