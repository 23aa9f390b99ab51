"""Training and test sets from cases, under the two protocols the reference figures use.

`temporal_split` (../shared/data/README.md): drop cases longer than the 95th percentile of durations, put the split
time at the 80% quantile of the remaining case starts, train on the cases that end before it, test on every prefix
whose last event is after it. `tax_split` (Tax et al. 2017): first 2/3 of the cases in file order for training,
the rest for testing on prefixes of at least 2 events. In both, the end of a case is never a target, and the
feature builder learns its columns from the training cases only.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from app.demo.claims import DemoCase, generate_claims
from app.recommend.features import Examples, FeatureBuilder, OutcomeFor
from app.rules.facts import CaseData, EventData
from app.rules.model import Ruleset
from app.rules.outcome import RuleOutcome

Protocol = Literal["temporal", "tax"]


@dataclass(frozen=True)
class Split:
    """Which cases train, which cases test, and from when (test prefixes end strictly after `test_after`)."""

    protocol: str
    train: list[CaseData]
    test: list[CaseData]
    test_after: datetime | None = None
    min_test_prefix: int = 1
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """Fitted feature builder and the examples of a split."""

    split: Split
    builder: FeatureBuilder
    train: Examples
    test: Examples

    def summary(self) -> dict[str, Any]:
        """Sizes and split details, as plain data."""
        return {
            "protocol": self.split.protocol, "train_cases": len(self.split.train), "test_cases": len(self.split.test),
            "train_examples": len(self.train), "test_examples": len(self.test),
            "test_after": self.split.test_after.isoformat() if self.split.test_after else None,
            "features": len(self.builder.feature_names_), **self.split.details,
        }


def _bounds(case: CaseData) -> tuple[float, float]:
    times = [e.at.timestamp() for e in case.events]
    return min(times), max(times)


def temporal_split(cases: Sequence[CaseData], *, duration_quantile: float = 0.95,
                   split_quantile: float = 0.8) -> Split:
    """The strict temporal split: no training case ends after the split time, every test prefix ends after it."""
    cases = [c for c in cases if c.events]
    if not cases:
        raise ValueError("no case has events")
    bounds = np.array([_bounds(c) for c in cases])
    start, end = bounds[:, 0], bounds[:, 1]
    duration = end - start
    cutoff = float(np.quantile(duration, duration_quantile))
    kept = duration <= cutoff
    split_at = float(np.quantile(start[kept], split_quantile))
    train = [c for c, k, e in zip(cases, kept, end, strict=True) if k and e < split_at]
    test = [c for c, k, e in zip(cases, kept, end, strict=True) if k and e > split_at]
    details = {"duration_cutoff_days": cutoff / 86_400, "dropped_long_cases": int((~kept).sum()),
               "cases_across_split_in_test": sum(1 for c in test if _bounds(c)[0] <= split_at)}
    return Split("temporal", train, test, datetime.fromtimestamp(split_at, tz=UTC), 1, details)


def tax_split(cases: Sequence[CaseData], *, train_share: float = 2 / 3, min_test_prefix: int = 2) -> Split:
    """Tax et al. 2017: cases in file order, the first `train_share` for training, the rest for testing."""
    cases = [c for c in cases if c.events]
    n_train = int(round(len(cases) * train_share))
    return Split("tax", list(cases[:n_train]), list(cases[n_train:]), None, min_test_prefix,
                 {"train_share": train_share})


def build_dataset(split: Split, *, builder: FeatureBuilder | None = None, outcome_for: OutcomeFor | None = None,
                  progress: bool = False) -> Dataset:
    """Fit the feature builder on the training cases, then build training and test examples."""
    builder = (builder or FeatureBuilder()).fit(split.train)
    train = builder.examples(split.train, outcome_for=outcome_for, progress=progress)
    test = builder.examples(split.test, min_prefix_length=split.min_test_prefix, outcome_for=outcome_for,
                            progress=progress)
    if split.test_after is not None:
        test = test.subset(test.meta["prefix_end"] > split.test_after)
    return Dataset(split, builder, train, test)


def split_cases(cases: Sequence[CaseData], protocol: Protocol = "temporal") -> Split:
    """The split of `protocol`."""
    if protocol == "temporal":
        return temporal_split(cases)
    if protocol == "tax":
        return tax_split(cases)
    raise ValueError(f"unknown protocol {protocol!r}: use 'temporal' or 'tax'")


def case_from_demo(demo: DemoCase) -> CaseData:
    """A generated demo claim as the canonical CaseData."""
    case = demo.case
    events = tuple(EventData(e.event_id, e.type, e.at, e.actor, dict(e.attributes)) for e in demo.events)
    opened = case.opened_at or (events[0].at if events else datetime.now(UTC))
    return CaseData(demo.case_id, case.case_type, case.status, opened, dict(case.attributes), events)


def demo_cases(count: int, seed: int = 7) -> list[CaseData]:
    """The first `count` demo claims as CaseData."""
    return [case_from_demo(demo) for demo in generate_claims(count, seed)]


def rule_outcomes(ruleset: Ruleset) -> OutcomeFor:
    """An `outcome_for` that evaluates `ruleset` on a history prefix as of the prefix's last event."""
    from app.rules.registry import evaluator_for

    evaluator = evaluator_for(ruleset)

    def outcome_for(case: CaseData, as_of: datetime) -> RuleOutcome:
        return evaluator.evaluate(case, as_of=as_of)

    return outcome_for
