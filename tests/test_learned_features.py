"""Feature sets build and fit; unknown ones are refused."""

from __future__ import annotations

import pytest

from core.routing.features import FEATURE_SETS, make_features

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
