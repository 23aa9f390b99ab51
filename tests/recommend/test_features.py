"""Feature rows: one code path for training and serving, stable columns, unseen values handled."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from app.recommend.features import MISSING, PAD, FeatureBuilder, outcome_features
from app.rules.facts import CaseData, EventData
from app.rules.outcome import ActionConstraintOut, CheckpointOut, FlagOut, Reason, RecommendationOut, RuleOutcome

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)  # a Monday


def case(case_id: str, steps: list[tuple[str, float, str | None]], **attributes) -> CaseData:
    """A case whose events are (type, hours after T0, actor)."""
    events = tuple(EventData(f"{i:03d}", kind, T0 + timedelta(hours=h), actor, {})
                   for i, (kind, h, actor) in enumerate(steps))
    return CaseData(case_id, "ticket", "closed", T0, attributes, events)


CASES = [
    case("A", [("open", 0, "ann"), ("check", 2, "bob"), ("check", 5, "bob"), ("close", 30, "ann")],
         amount=100.0, region="north", vip=True),
    case("B", [("open", 1, "cid"), ("close", 3, "cid")], amount="250", region="south", vip=False),
    case("C", [("open", 2, None), ("check", 4, "bob"), ("close", 6, "bob")], region="north"),
]


@pytest.fixture
def builder() -> FeatureBuilder:
    return FeatureBuilder().fit(CASES)


def test_every_prefix_with_a_next_event_is_an_example(builder):
    examples = builder.examples(CASES)
    assert len(examples) == 3 + 1 + 2  # the end of a case is never a target
    assert examples.y.tolist() == ["check", "check", "close", "close", "check", "close"]
    assert examples.meta["prefix_length"].tolist() == [1, 2, 3, 1, 1, 2]
    assert examples.meta["case_id"].tolist() == ["A", "A", "A", "B", "C", "C"]
    assert examples.meta["prefix_end"].iloc[2] == pd.Timestamp(T0 + timedelta(hours=5))
    assert examples.meta["case_end"].iloc[0] == pd.Timestamp(T0 + timedelta(hours=30))
    assert builder.examples(CASES, min_prefix_length=2).meta["prefix_length"].tolist() == [2, 3, 2]


def test_history_and_timing_features(builder):
    row = builder.examples(CASES).X.iloc[2]  # case A after open, check, check
    assert (row["last_1"], row["last_2"], row["last_3"]) == ("check", "check", "open")
    assert row["trigram"] == "open > check > check"
    assert row["count:check"] == 2 and row["count:open"] == 1 and row["count:close"] == 0
    assert row["prefix_length"] == 3
    assert row["elapsed_hours"] == 5 and row["since_last_hours"] == 0 and row["prev_gap_hours"] == 3
    assert row["hour"] == 14 and row["weekday"] == 0
    assert (row["actor"], row["prev_actor"], row["first_actor"]) == ("bob", "bob", "ann")
    assert row["distinct_actors"] == 2
    first = builder.examples(CASES).X.iloc[0]
    assert (first["last_2"], first["last_3"]) == (PAD, PAD)
    assert math.isnan(first["prev_gap_hours"])


def test_case_attributes_numeric_and_categorical(builder):
    assert builder.case_kinds_ == {"amount": "numeric", "region": "categorical", "vip": "numeric"}
    X = builder.examples(CASES).X
    assert X["case:amount"].tolist()[:4] == [100.0, 100.0, 100.0, 250.0]  # numeric text is read as a number
    assert math.isnan(X["case:amount"].iloc[4])
    assert X["case:vip"].tolist()[:4] == [1.0, 1.0, 1.0, 0.0]
    assert X["case:region"].iloc[0] == "north"
    assert "case:region" in builder.categorical_features_ and "case:amount" in builder.numeric_features_


def test_identifiers_constants_and_whole_trace_attributes_are_left_out():
    cases = [case(f"K{i}", [("a", 0, None), ("b", 1, None)], ticket=f"T-{i}", creator="Disco", variant=f"V{i % 2}",
                  size=i) for i in range(60)]
    builder = FeatureBuilder().fit(cases)
    assert builder.case_kinds_ == {"size": "numeric"}


def test_serving_rows_equal_training_rows(builder):
    examples = builder.examples(CASES)
    for i, (case_id, length) in enumerate(examples.meta[["case_id", "prefix_length"]].itertuples(index=False)):
        data = next(c for c in CASES if c.case_id == case_id)
        row = builder.row(data, data.events[:length])
        pd.testing.assert_frame_equal(row.reset_index(drop=True), examples.X.iloc[[i]].reset_index(drop=True))


def test_serving_time_moves_the_clock_only(builder):
    data = CASES[0]
    later = builder.row(data, data.events[:2], as_of=T0 + timedelta(hours=12))
    now = builder.row(data, data.events[:2])
    assert later["since_last_hours"].iloc[0] == 10 and later["elapsed_hours"].iloc[0] == 12
    unchanged = [c for c in builder.feature_names_ if c not in ("since_last_hours", "elapsed_hours")]
    pd.testing.assert_frame_equal(later[unchanged], now[unchanged])


def test_columns_are_stable_and_unseen_values_do_not_break_rows(builder):
    novel = case("N", [("escalate", 0, "zed"), ("open", 1, "zed")], region="west", extra=1)
    row = builder.row(novel)
    assert list(row.columns) == builder.feature_names_
    assert row["count:<other>"].iloc[0] == 1  # an activity never seen in training
    assert row["last_2"].iloc[0] == "escalate" and row["case:region"].iloc[0] == "west"
    assert "case:extra" not in row.columns
    unordered = CaseData("B", "ticket", "open", T0, CASES[1].attributes, tuple(reversed(CASES[1].events)))
    pd.testing.assert_frame_equal(builder.row(unordered), builder.row(CASES[1]))


def test_missing_categoricals_are_a_token_and_the_actor_may_be_absent(builder):
    row = builder.row(CASES[2], CASES[2].events[:1])
    assert row["actor"].iloc[0] == MISSING
    assert builder.row(case("Z", [("open", 0, "ann")]))["case:region"].iloc[0] == MISSING


def test_rule_outcomes_become_columns():
    outcome = RuleOutcome(
        ruleset="r", ruleset_version="v", case_id="A", as_of=T0,
        flags=[FlagOut("late", "warning", "m", "r1")],
        checkpoints=[CheckpointOut("signoff", "open", ["pay"], "m", "r2", 1, 1),
                     CheckpointOut("docs", "satisfied", [], "m", "r3", 0, 1)],
        required_actions=[ActionConstraintOut("check", [Reason("r4", "x")])],
        forbidden_actions=[ActionConstraintOut("pay", [Reason("r5", "x")])],
        recommended_actions=[RecommendationOut("close", 2.5, [Reason("r6", "x")])],
        blocked_actions={"pay": ["signoff"]}, conflicts=[], derived_facts=[], trace=[])
    assert outcome_features(outcome) == {"rule:flag:late": 1.0, "rule:open:signoff": 1.0, "rule:required:check": 1.0,
                                         "rule:forbidden:pay": 1.0, "rule:blocked:pay": 1.0,
                                         "rule:recommended:close": 2.5}
    builder = FeatureBuilder().fit(CASES, outcomes=[outcome])
    with_outcome = builder.row(CASES[0], outcome=outcome)
    assert with_outcome["rule:recommended:close"].iloc[0] == 2.5 and with_outcome["rule:open:signoff"].iloc[0] == 1
    assert builder.row(CASES[0])[builder.rule_columns_].to_numpy().sum() == 0
    examples = builder.examples(CASES, outcome_for=lambda prefix, as_of: outcome)
    assert (examples.X["rule:blocked:pay"] == 1).all()


def test_a_ruleset_declares_the_attributes_and_the_rule_columns():
    from app.rules.validator import load_ruleset_file

    ruleset = load_ruleset_file(__import__("pathlib").Path(__file__).resolve().parents[2] / "rulesets"
                                / "motor_claim.yaml")
    builder = FeatureBuilder(ruleset=ruleset).fit(CASES)
    assert builder.case_kinds_["claim_amount"] == "numeric"
    assert "rule:open:supervisor_signoff" in builder.rule_columns_
    assert "rule:required:payment_issued" in builder.rule_columns_


def test_examples_of_many_cases_are_fast():
    rng = np.random.default_rng(0)
    kinds = [f"a{i}" for i in range(12)]
    many = [case(f"C{i}", [(kinds[k], h, f"r{k % 5}") for h, k in enumerate(rng.integers(0, 12, 6))],
                 amount=float(i)) for i in range(2000)]
    builder = FeatureBuilder().fit(many)
    started = datetime.now()
    examples = builder.examples(many)
    assert len(examples) == 2000 * 5
    assert (datetime.now() - started).total_seconds() < 5


def test_an_unfitted_builder_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureBuilder().examples(CASES)
