"""The baselines: the lookup table's answers, full distributions, the estimator contract, deterministic ties."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from app.recommend.baselines import MostFrequentNextAction, NGramBackoff
from app.recommend.features import PAD


def frame(*histories: str) -> pd.DataFrame:
    """Feature rows from histories written oldest first, e.g. "a b c"."""
    rows = []
    for history in histories:
        steps = history.split()
        last = [steps[-j] if j <= len(steps) else PAD for j in (1, 2, 3)]
        rows.append({"last_1": last[0], "last_2": last[1], "last_3": last[2], "prefix_length": float(len(steps))})
    return pd.DataFrame(rows)


TRAIN_X = frame("a", "a", "a", "x a", "x a", "y a", "y a", "b c d", "b c d", "z c d")
TRAIN_Y = ["b", "b", "c", "c", "c", "b", "d", "e", "e", "f"]


def test_most_frequent_ranks_by_training_frequency():
    model = MostFrequentNextAction().fit(TRAIN_X, TRAIN_Y)
    proba = model.predict_proba(frame("a", "q"))
    assert list(model.classes_) == ["b", "c", "d", "e", "f"]
    np.testing.assert_allclose(proba[0], [0.3, 0.3, 0.1, 0.2, 0.1])
    assert model.predict(frame("q")).tolist() == ["b"]  # b and c tie at 3: the first class wins


def test_ngram_answers_from_the_longest_known_context():
    model = NGramBackoff().fit(TRAIN_X, TRAIN_Y)
    # After "x a" the bigram context decides; "y a" is a tie (b, d) broken by the shorter context (after "a": b 3,
    # c 3, d 1), and after "b c d" the trigram says e; unseen "q a" backs off to the unigram "a".
    assert model.predict(frame("x a", "y a", "b c d", "z c d", "q a", "q")).tolist() == ["c", "b", "e", "f", "b", "b"]


def test_ngram_without_start_anchoring_ignores_padded_contexts():
    X, y = frame("a", "a", "k a"), ["b", "b", "c"]
    # A one-event prefix is only its last activity: the padded "<none> a" context is not a context of its own.
    assert NGramBackoff().fit(X, y).predict(frame("a")).tolist() == ["b"]
    anchored = NGramBackoff(anchor_start=True).fit(X, ["c", "c", "b"])
    assert anchored.predict(frame("a")).tolist() == ["c"]


def test_ngram_gives_every_class_some_probability_and_rows_sum_to_one():
    model = NGramBackoff().fit(TRAIN_X, TRAIN_Y)
    proba = model.predict_proba(frame("b c d", "q", "x a"))
    assert proba.shape == (3, 5)
    assert (proba > 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_smoothing_below_one_keeps_the_lookup_tables_answer():
    X = frame(*(["a b"] * 3), *(["c b"] * 50), *(["c b"] * 60))
    y = ["x"] * 2 + ["y"] + ["y"] * 50 + ["z"] * 60
    # After "a b" the bigram says x (2 of 3) while the unigram "b" strongly prefers z.
    for smoothing in (0.1, 0.5, 0.99):
        assert NGramBackoff(smoothing=smoothing).fit(X, y).predict(frame("a b")).tolist() == ["x"]


def test_estimator_contract():
    for model in (MostFrequentNextAction(), NGramBackoff(order=2, smoothing=0.3)):
        with pytest.raises(NotFittedError):
            model.predict_proba(TRAIN_X)
        copy = clone(model)
        assert copy.get_params() == model.get_params()
        assert model.fit(TRAIN_X, TRAIN_Y) is model
        np.testing.assert_array_equal(model.predict_proba(TRAIN_X), clone(model).fit(TRAIN_X, TRAIN_Y)
                                      .predict_proba(TRAIN_X))
        assert not hasattr(copy, "classes_")


def test_ngram_needs_the_history_columns_and_sane_parameters():
    with pytest.raises(ValueError, match="needs columns"):
        NGramBackoff().fit(TRAIN_X.drop(columns="last_3"), TRAIN_Y)
    with pytest.raises(ValueError, match="smoothing"):
        NGramBackoff(smoothing=0).fit(TRAIN_X, TRAIN_Y)
    assert NGramBackoff(order=0).fit(TRAIN_X, TRAIN_Y).predict(frame("b c d")).tolist() == ["b"]
