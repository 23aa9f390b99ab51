"""Judging a challenger on logged decisions before anyone sees it: off-policy estimates of its acceptance rate.

The logged policy showed action a first with the recorded propensity p (epsilon-greedy, rules first). The reward is
1 when the worker then took a (accepted it, or overrode to it), else 0. The challenger, run on the same recorded
case, rules and policy settings, would have shown a first with probability q. Then
- IPS  = mean(r * q / p)                 (unbiased; high variance when q / p is large),
- SNIPS = sum(r * q / p) / sum(q / p)    (self-normalised: slightly biased, far steadier),
each with a 95% bootstrap interval over decisions, beside the logged policy's observed rate mean(r).
Decisions whose first shown action was blocked (nothing was offered) are left out.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.models import Decision, Suggestion
from app.recommend.catalog import catalog_for
from app.recommend.policy import PolicySettings, first_slot
from app.recommend.ranker import TrainedRanker
from app.recommend.service import case_from_snapshot
from app.rules.outcome import RuleOutcome
from app.rules.registry import evaluator_for
from app.rules.versions import recorded_ruleset

BOOTSTRAP_ROUNDS = 1000


@dataclass(frozen=True)
class OffPolicyEstimate:
    decisions: int
    observed_rate: float | None
    ips: float | None
    ips_interval: tuple[float, float] | None
    snips: float | None
    snips_interval: tuple[float, float] | None
    snips_minus_observed_interval: tuple[float, float] | None

    @property
    def not_worse(self) -> bool:
        """Whether the challenger is not shown worse than the logged policy (no decisions: nothing says it is)."""
        interval = self.snips_minus_observed_interval
        return interval is None or interval[1] >= 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "not_worse": self.not_worse}


def estimate(*, session: Session, pairs: Sequence[tuple[Decision, Suggestion]], challenger: TrainedRanker,
             seed: int = 0) -> OffPolicyEstimate:
    """The challenger's estimated acceptance rate on the logged decisions `pairs`, beside the observed one."""
    rewards, weights = [], []
    rulesets: dict[str, Any] = {}
    for decision, suggestion in pairs:
        shown = suggestion.response["actions"]
        if not shown or shown[0]["status"] == "blocked" or not shown[0]["propensity"]:
            continue
        first, propensity = shown[0]["action"], shown[0]["propensity"]
        case = case_from_snapshot(suggestion.case_snapshot)
        version = suggestion.ruleset_version
        if version and version not in rulesets:
            rulesets[version] = recorded_ruleset(session=session, version=version)
        ruleset = rulesets.get(version) if version else None
        outcome = (evaluator_for(ruleset).evaluate(case, as_of=suggestion.as_of) if ruleset
                   else RuleOutcome.ungoverned(case.case_id, suggestion.as_of))
        scores = challenger.score(case, as_of=suggestion.as_of, outcome=outcome, top=0)[0] if case.events else {}
        catalog = catalog_for(suggestion.case_type, ruleset, seen=[*scores, *(e.type for e in case.events)])
        settings = PolicySettings(suggestion.policy["exploration"], suggestion.policy["shown"])
        q = first_slot(catalog=catalog.labels, scores=scores, outcome=outcome, settings=settings).get(first, 0.0)
        rewards.append(1.0 if decision.outcome != "dismissed" and decision.action == first else 0.0)
        weights.append(q / propensity)
    return _estimate(np.array(rewards), np.array(weights), seed)


def _estimate(r: np.ndarray, w: np.ndarray, seed: int) -> OffPolicyEstimate:
    n = len(r)
    if n == 0:
        return OffPolicyEstimate(0, None, None, None, None, None, None)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, n, size=(BOOTSTRAP_ROUNDS, n))
    ips = (r * w)[samples].mean(axis=1)
    total = w[samples].sum(axis=1)
    snips = np.divide((r * w)[samples].sum(axis=1), total, out=np.zeros(BOOTSTRAP_ROUNDS), where=total > 0)
    observed = r[samples].mean(axis=1)
    point_snips = float((r * w).sum() / w.sum()) if w.sum() > 0 else 0.0
    return OffPolicyEstimate(n, float(r.mean()), float((r * w).mean()), _interval(ips), point_snips,
                             _interval(snips), _interval(snips - observed))


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
