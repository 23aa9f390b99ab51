"""The compiled serving path gives scikit-learn's probabilities, including for values the trees never saw."""

from pathlib import Path

import joblib
import numpy as np
import pytest

from app.recommend.features import FeatureBuilder
from app.recommend.ranker import NextActionRanker
from app.rules.registry import FolderRegistry
from training.dataset import build_dataset, demo_cases, rule_outcomes, temporal_split


@pytest.fixture(scope="module")
def fitted():
    """A calibrated ranker on demo claims with rule outcome features (categorical, numeric and n-gram columns)."""
    ruleset = FolderRegistry(Path("rulesets")).active("motor_claim")
    split = temporal_split(demo_cases(160))
    data = build_dataset(split, builder=FeatureBuilder(ruleset=ruleset), outcome_for=rule_outcomes(ruleset))
    ranker = NextActionRanker(max_iter=25, min_samples_leaf=10, n_threads=1)
    return ranker.fit(data.train.X, data.train.y, groups=data.train.meta["case_id"]), data


def sklearn_proba(ranker: NextActionRanker, X) -> np.ndarray:
    serving, ranker.serving_ = ranker.serving_, None
    try:
        return ranker.predict_proba(X)
    finally:
        ranker.serving_ = serving


def test_the_compiled_path_serves_and_equals_scikit_learn_on_unseen_rows(fitted):
    ranker, data = fitted
    assert ranker.serving_ is not None
    np.testing.assert_allclose(ranker.predict_proba(data.test.X), sklearn_proba(ranker, data.test.X), rtol=0,
                               atol=1e-12)


def test_unknown_categories_and_missing_values_follow_scikit_learn(fitted):
    ranker, data = fitted
    X = data.test.X.head(40).reset_index(drop=True).copy()
    categorical = [c for c in ranker.categorical_features_ if c not in ranker.constant_features_]
    numeric = [c for c in ranker.numeric_features_ if c not in ranker.constant_features_]
    X.loc[::2, categorical[0]] = "never-seen-before"
    X.loc[1::3, categorical[-1]] = None
    X.loc[::4, numeric[0]] = np.nan
    X.loc[::5, "last_1"] = "an-action-nobody-took"
    np.testing.assert_allclose(ranker.predict_proba(X), sklearn_proba(ranker, X), rtol=0, atol=1e-12)


def test_a_two_class_ranker_is_served_by_scikit_learn(fitted):
    _, data = fitted
    two = data.train.y.value_counts().index[:2]
    keep = data.train.y.isin(two).to_numpy()
    X, y = data.train.X[keep].reset_index(drop=True), data.train.y[keep].to_numpy()
    ranker = NextActionRanker(max_iter=10, min_samples_leaf=10, n_threads=1).fit(X, y)
    assert ranker.serving_ is None  # binary boosting has another link: not compiled
    proba = ranker.predict_proba(X.head(20))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ranker.predict_proba_explained(X.head(3))[1][0].action in set(two)


def test_the_compiled_path_survives_the_artifact_round_trip(fitted, tmp_path):
    ranker, data = fitted
    joblib.dump(ranker, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert loaded.serving_ is not None
    np.testing.assert_array_equal(loaded.predict_proba(data.test.X), ranker.predict_proba(data.test.X))
