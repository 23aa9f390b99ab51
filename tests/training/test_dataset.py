"""Splits: the strict temporal split and the Tax et al. protocol, on cases with known times."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from app.rules.facts import CaseData, EventData
from training.dataset import build_dataset, demo_cases, rule_outcomes, tax_split, temporal_split

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def case(case_id: str, start: timedelta, offsets: list[timedelta], kinds: str = "abcdefgh") -> CaseData:
    events = tuple(EventData(f"{i:03d}", kinds[i], T0 + start + offset) for i, offset in enumerate(offsets))
    return CaseData(case_id, "t", "closed", T0 + start, {}, events)


def log() -> list[CaseData]:
    """Case i starts on day i and lasts a day (events at 0, 12 and 24 hours); one more case lasts 100 days."""
    cases = [case(f"C{i:02d}", i * DAY, [timedelta(0), DAY / 2, DAY]) for i in range(20)]
    cases.append(case("LONG", 3 * DAY, [timedelta(0), 50 * DAY, 100 * DAY]))
    return cases


def test_temporal_split_drops_long_cases_and_splits_at_the_start_quantile():
    split = temporal_split(log())
    # 95th percentile of durations is 1 day: the 100-day case goes. The split is the 80% quantile of the
    # remaining starts (days 0..19): day 15.2.
    assert split.details["dropped_long_cases"] == 1
    assert split.test_after == T0 + 15.2 * DAY
    assert [c.case_id for c in split.train] == [f"C{i:02d}" for i in range(15)]  # end on day i + 1 < 15.2
    assert [c.case_id for c in split.test] == [f"C{i:02d}" for i in range(15, 20)]
    assert all(c.events[-1].at < split.test_after for c in split.train)


def test_temporal_test_prefixes_end_after_the_split_and_never_target_the_end():
    data = build_dataset(temporal_split(log()))
    meta = data.test.meta
    assert (meta["prefix_end"] > pd.Timestamp(T0 + 15.2 * DAY)).all()
    # C15: only the prefix ending at 15.5 days qualifies; C16..C19: prefixes of 1 and 2 events.
    assert meta.groupby("case_id")["prefix_length"].apply(list).to_dict() == {
        "C15": [2], "C16": [1, 2], "C17": [1, 2], "C18": [1, 2], "C19": [1, 2]}
    assert set(data.test.y) == {"b", "c"}
    assert len(data.train) == 15 * 2
    assert (data.train.meta["case_end"] < pd.Timestamp(T0 + 15.2 * DAY)).all()


def test_the_feature_builder_is_fitted_on_training_cases_only():
    cases = log()
    cases[19] = case("C19", 19 * DAY, [timedelta(0), DAY / 2, DAY], kinds="xyz")
    data = build_dataset(temporal_split(cases))
    assert "x" not in data.builder.activities_
    assert data.test.X["count:<other>"].max() >= 1


def test_tax_split_is_by_file_order_with_test_prefixes_of_two_or_more():
    cases = [case(f"K{i}", (9 - i) * DAY, [timedelta(0), DAY, 2 * DAY, 3 * DAY]) for i in range(9)]
    split = tax_split(cases)
    assert [c.case_id for c in split.train] == [f"K{i}" for i in range(6)]
    assert [c.case_id for c in split.test] == ["K6", "K7", "K8"]
    data = build_dataset(split)
    assert set(data.test.meta["prefix_length"]) == {2, 3}
    assert set(data.train.meta["prefix_length"]) == {1, 2, 3}


def test_demo_claims_get_rule_outcome_features():
    from pathlib import Path

    from app.rules.validator import load_ruleset_file

    ruleset = load_ruleset_file(Path(__file__).resolve().parents[2] / "rulesets" / "motor_claim.yaml")
    cases = demo_cases(12)
    assert cases[0].events and cases[0].case_type == "motor_claim"
    from app.recommend.features import FeatureBuilder

    builder = FeatureBuilder(ruleset=ruleset).fit(cases)
    examples = builder.examples(cases, outcome_for=rule_outcomes(ruleset))
    assert examples.X[builder.rule_columns_].to_numpy().sum() > 0
