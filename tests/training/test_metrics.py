"""Metrics on hand-computed examples."""

import math

import numpy as np
import pytest

from training.metrics import confusion, paired_bootstrap, per_action, ranks, reliability, score

CLASSES = ["a", "b", "c"]
PROBA = np.array([[0.5, 0.3, 0.2],
                  [0.2, 0.2, 0.6],
                  [0.1, 0.6, 0.3],
                  [0.4, 0.4, 0.2]])
Y = ["a", "b", "a", "d"]


def test_ranks_break_ties_by_class_order_and_unseen_targets_have_none():
    # Row 2: b ties a at 0.2 and a comes first, so b is third behind c and a. Row 4: d is no class.
    assert ranks(PROBA, CLASSES, Y).tolist() == [1, 3, 3, 0]


def test_scores():
    s = score(PROBA, CLASSES, Y)
    assert s.n == 4 and s.unseen_targets == 1
    assert s.top1 == 0.25 and s.top3 == 0.75
    assert s.mrr == pytest.approx((1 + 1 / 3 + 1 / 3 + 0) / 4)
    assert s.log_loss == pytest.approx(-(math.log(0.5) + math.log(0.2) + math.log(0.1)) / 3)


def test_per_action_and_confusion():
    actions = per_action(PROBA, CLASSES, Y)
    assert list(actions) == ["a", "b", "d"]  # most frequent first, then by name
    assert actions["a"]["n"] == 2 and actions["a"]["top1"] == 0.5 and actions["a"]["mrr"] == pytest.approx(2 / 3)
    assert actions["d"]["log_loss"] is None
    labels, counts = confusion(PROBA, CLASSES, Y)
    assert labels == ["a", "b", "d", "c"]
    # Predictions: a, c, b, a (the 0.4 tie goes to a).
    assert counts.tolist() == [[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_reliability_bins_top1_confidence_against_accuracy():
    result = reliability(PROBA, CLASSES, Y, bins=2)
    # Confidences 0.5, 0.6, 0.6, 0.4; only the first (0.5) is right. Bin [0, 0.5]: 0.5 and 0.4, one right.
    low, high = result["bins"]
    assert (low["n"], low["accuracy"], low["confidence"]) == (2, 0.5, pytest.approx(0.45))
    assert (high["n"], high["accuracy"], high["confidence"]) == (2, 0.0, pytest.approx(0.6))
    assert result["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.6)


def test_paired_bootstrap_resamples_cases():
    a = np.array([1, 1, 1, 0])
    b = np.array([0, 1, 0, 0])
    result = paired_bootstrap(a, b, ["x", "x", "y", "z"], resamples=500)
    assert result["difference"] == 0.5
    assert result["low"] <= 0.5 <= result["high"]
    same = paired_bootstrap(a, a, ["x", "x", "y", "z"])
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}


def test_no_examples_score_as_nan():
    s = score(np.zeros((0, 3)), CLASSES, [])
    assert s.n == 0 and math.isnan(s.top1)
