"""The decision path's compiled features give scikit-learn's rows: every feature set, one split
into words shared by the quality features and the similarity index, and the same predictions
and neighbours as the scikit-learn path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.routing.compiled import compiled, rows
from core.routing.features import FEATURE_SETS, make_features, similarity_features
from core.routing.learned import Hyper, Neighbourhood, OutcomeTable, QualityModel

TEXTS = [f"Question {i}: what is the {w} of {v}? Answer with one word.\nThanks."
         for i, (w, v) in enumerate([("capital", "France"), ("colour", "the sky"),
                                     ("square root", "81"), ("capital", "Spain"),
                                     ("author", "Hamlet"), ("colour", "grass")] * 5)]
TRICKY = "Ça_va? l'été 2024 x-ray a b c 東京 e-mail QUESTION__1 naïve déjà-vu 42 I'm\nok\ttab"
UNSEEN = ["What is the capital of Italy?", "zzz unseen words only", TEXTS[3], "", TRICKY,
          "The capital of France, the capital of Spain: what is the capital? " * 3]


def _dense(row, width):
    index, values = row
    assert np.all(np.diff(index) > 0), "column indices ascending"
    out = np.zeros(width)
    out[index] = values
    return out


def _assert_same(featurizer, row, text):
    expected = featurizer.transform([text]).toarray()[0]
    np.testing.assert_allclose(_dense(row, expected.size), expected, atol=1e-12)


def _row(form, text):
    return rows(text, [form])[0]


@pytest.mark.parametrize("featurizer", [
    *(make_features(name, 30) for name in FEATURE_SETS), similarity_features(30),
    TfidfVectorizer(ngram_range=(1, 3), stop_words="english"),
    make_pipeline(HashingVectorizer(n_features=16, alternate_sign=False, norm=None),
                  TfidfTransformer(sublinear_tf=True)),
], ids=[*FEATURE_SETS, "similarity", "trigrams+stop_words", "hashed, colliding"])
def test_every_compiled_form_equals_sklearns_transform(featurizer):
    featurizer.fit([*TEXTS, TRICKY])
    form = compiled(featurizer)
    assert form is not None
    for text in UNSEEN:
        _assert_same(featurizer, _row(form, text), text)


def test_forms_without_a_compiled_equivalent_stay_on_sklearn():
    signed = make_pipeline(HashingVectorizer(), StandardScaler(with_mean=False)).fit(TEXTS)
    assert compiled(signed) is None
    assert compiled(TfidfVectorizer(norm="l1").fit(TEXTS)) is None
    assert compiled(TfidfVectorizer(binary=True).fit(TEXTS)) is None
    assert compiled(StandardScaler().fit([[1.0], [2.0]])) is None


def test_word_tokens_are_sklearns_words():
    """The faster pattern for scikit-learn's default token pattern finds the same words."""
    vectorizer = make_features("tfidf_word", 30).fit(TEXTS)
    form = compiled(vectorizer)
    assert form is not None
    split = vectorizer.build_tokenizer()
    for text in [TRICKY, *UNSEEN, "a", "ab", "_", "__", "x1 1x é", "a\u0301b ñ"]:
        assert form.analysis.tokens(text) == split(text.lower())


def test_one_split_serves_the_quality_features_and_the_similarity_index(monkeypatch):
    quality, near = make_features("tfidf_word", 30).fit(TEXTS), similarity_features(30).fit(TEXTS)
    forms = [compiled(near), compiled(quality), None]
    assert forms[0].analysis.tokenizing == forms[1].analysis.tokenizing
    calls = {"n": 0}
    for form in forms[:2]:
        def counted(text, split=form.analysis.tokens):
            calls["n"] += 1
            return split(text)

        monkeypatch.setattr(form.analysis, "tokens", counted)
    for text in UNSEEN:
        calls["n"] = 0
        near_row, quality_row, missing = rows(text, forms)
        assert calls["n"] == 1, "the text is split into words once"
        assert missing is None
        _assert_same(near, near_row, text)
        _assert_same(quality, quality_row, text)


def test_vectorizers_that_tokenise_differently_do_not_share_words():
    plain = similarity_features(30).fit(TEXTS)
    cased = TfidfVectorizer(lowercase=False).fit(TEXTS)
    stopped = TfidfVectorizer(stop_words=["the", "of"]).fit(TEXTS)
    chars = make_features("tfidf_char", 30).fit(TEXTS)
    both = make_features("tfidf_word+length", 30).fit(TEXTS)
    featurizers = [plain, cased, stopped, chars, both]
    forms = [compiled(f) for f in featurizers]
    keys = [f.analysis.tokenizing for f in forms[:4]]
    assert len(set(keys[:3])) == 3 and keys[3] is None
    for text in ["The capital OF France", *UNSEEN]:
        for featurizer, row in zip(featurizers, rows(text, forms)):
            _assert_same(featurizer, row, text)


def test_neighbourhood_fast_path_matches_and_counts_similar_prompts():
    scores = np.ones((len(TEXTS), 2))
    scores[:15, 1] = np.nan
    table = OutcomeTable(TEXTS, ["a", "b"], scores, np.ones_like(scores))
    near = Neighbourhood.fit(table)
    form = compiled(near.vectorizer)
    for text in ["what is the capital of France?", "nothing alike here", *UNSEEN]:
        slow_d, slow_counts = near.similar(text, 0.5)
        fast_d, fast_counts = near.similar(text, 0.5, _row(form, text))
        assert fast_d == pytest.approx(slow_d, abs=1e-12)
        np.testing.assert_array_equal(fast_counts, slow_counts)
    distance, counts = near.similar("what is the capital of France?", 0.5,
                                    _row(form, "what is the capital of France?"))
    assert distance < 0.5 and counts[0] > counts[1] > 0
    assert near.similar("nothing alike here", 0.5, _row(form, "nothing alike here"))[0] == 1.0


@pytest.mark.parametrize("features", ["tfidf_word", "hashed", "length", "tfidf_word+length"])
def test_quality_fast_path_matches_sklearns_predictions(features):
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 2, size=(len(TEXTS), 3)).astype(np.float64)
    table = OutcomeTable(TEXTS, ["a", "b", "c"], scores, np.ones_like(scores))
    model = QualityModel.fit(table, Hyper(features, 1.0, 0.5))
    form = compiled(model.featurizer)
    assert form is not None
    for text in UNSEEN:
        np.testing.assert_allclose(model.predict_one(text, _row(form, text)),
                                   model.predict([text])[0], atol=1e-12)
