"""Off-policy estimates: the first-slot probabilities of the policy, and IPS / SNIPS recovering a known rate."""

from datetime import UTC, datetime

import numpy as np
import pytest

from app.recommend.policy import PolicySettings, first_slot
from app.rules.outcome import RuleOutcome
from training.offpolicy import _estimate

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_first_slot_matches_the_epsilon_greedy_policy():
    catalog = {"a": "A", "b": "B", "c": "C"}
    probs = first_slot(catalog=catalog, scores={"a": 0.2, "b": 0.7, "c": 0.1}, outcome=RuleOutcome.ungoverned("x", NOW),
                       settings=PolicySettings(exploration=0.3, shown=3))
    assert probs == pytest.approx({"b": 0.7 + 0.1, "a": 0.1, "c": 0.1})
    assert sum(probs.values()) == pytest.approx(1.0)


def test_ips_and_snips_recover_the_acceptance_rate_of_a_policy_never_run():
    # Logged: epsilon-greedy (epsilon 0.4) between two actions, favouring "a"; workers accept "a" 30% of the time
    # and "b" 80%. The target always shows "b" first: its true acceptance rate is 0.8.
    rng = np.random.default_rng(1)
    n, epsilon = 20_000, 0.4
    explore = rng.random(n) < epsilon
    shows_b = np.where(explore, rng.random(n) < 0.5, False)
    propensity = np.where(shows_b, epsilon / 2, 1 - epsilon / 2)
    reward = np.where(shows_b, rng.random(n) < 0.8, rng.random(n) < 0.3).astype(float)
    target = shows_b.astype(float)  # the target's probability of showing what was logged first
    result = _estimate(reward, target / propensity, seed=0)
    assert result.observed_rate == pytest.approx(0.3 * 0.8 + 0.8 * 0.2, abs=0.02)
    assert result.ips == pytest.approx(0.8, abs=0.05) and result.snips == pytest.approx(0.8, abs=0.02)
    assert result.snips_interval[0] < result.snips < result.snips_interval[1]
    assert result.not_worse


def test_no_decisions_estimate_nothing_and_object_to_nothing():
    result = _estimate(np.array([]), np.array([]), seed=0)
    assert (result.decisions, result.snips, result.not_worse) == (0, None, True)
