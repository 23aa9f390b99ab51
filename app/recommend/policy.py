"""The policy: from rule outcome and ranker scores to the actions shown, in order, with propensities.

- forbidden actions never appear;
- required actions are pinned first, in the order of the rules requiring them (a required action
  that an open checkpoint blocks is pinned too, but marked blocked);
- actions blocked by an open checkpoint appear only as blocked, after the available ones;
- the available actions are ordered by score, with epsilon-greedy exploration: at each rank the best
  remaining action is shown with probability 1 - epsilon, and with epsilon any remaining one, so
  every shown action carries the probability with which it was shown at its rank (its propensity).
The random draws are seeded by the caller (from the suggestion id), so a suggestion replays exactly.
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.rules.outcome import RuleOutcome

Status = Literal["required", "available", "blocked"]


@dataclass(frozen=True)
class Reason:
    """Why an action is where it is: a rule (kind `rule`) or a feature of the case (kind `feature`)."""

    kind: Literal["rule", "feature", "ranker"]
    text: str
    rule_id: str | None = None
    feature: str | None = None
    weight: float | None = None


@dataclass(frozen=True)
class ShownAction:
    action: str
    label: str
    status: Status
    rank: int
    score: float
    propensity: float
    reasons: tuple[Reason, ...] = ()
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySettings:
    exploration: float = 0.05
    shown: int = 5


@dataclass
class _Candidate:
    action: str
    score: float
    reasons: list[Reason] = field(default_factory=list)


def choose(*, catalog: Mapping[str, str], scores: Mapping[str, float],
           explanations: Mapping[str, Sequence[Reason]], outcome: RuleOutcome, settings: PolicySettings,
           rng: random.Random) -> list[ShownAction]:
    """The actions to show for this case, in order; `catalog` maps action ids to labels."""
    forbidden, blocked = _constrained(outcome)
    recommended = {r.action: [Reason("rule", x.reason, rule_id=x.rule_id) for x in r.reasons]
                   for r in outcome.recommended_actions}

    def candidate(action: str) -> _Candidate:
        return _Candidate(action, float(scores.get(action, 0.0)),
                          [*recommended.get(action, []), *explanations.get(action, ())])

    shown: list[ShownAction] = []
    for constraint in outcome.required_actions:
        if constraint.action in forbidden:
            continue
        reasons = [Reason("rule", r.reason, rule_id=r.rule_id) for r in constraint.reasons]
        status: Status = "blocked" if constraint.action in blocked else "required"
        shown.append(_show(candidate(constraint.action), catalog, status, len(shown) + 1, 1.0, reasons,
                           blocked.get(constraint.action, ())))
    pinned = {item.action for item in shown}

    remaining = [candidate(a) for a in _available(catalog, scores, forbidden, blocked, pinned)]
    slots = max(settings.shown - len(shown), 0)
    for _ in range(min(slots, len(remaining))):
        explore = rng.random() < settings.exploration
        index = rng.randrange(len(remaining)) if explore else 0
        propensity = settings.exploration / len(remaining) + (1 - settings.exploration) * (index == 0)
        chosen = remaining.pop(index)
        shown.append(_show(chosen, catalog, "available", len(shown) + 1, propensity, chosen.reasons, ()))

    for action in sorted(blocked, key=lambda a: (-float(scores.get(a, 0.0)), a)):
        if action in pinned or action not in catalog:
            continue
        item = candidate(action)
        shown.append(_show(item, catalog, "blocked", len(shown) + 1, 1.0, item.reasons, blocked[action]))
    return shown


def first_slot(*, catalog: Mapping[str, str], scores: Mapping[str, float], outcome: RuleOutcome,
               settings: PolicySettings) -> dict[str, float]:
    """The probability with which `choose` shows each action first: what an off-policy estimate weighs by."""
    forbidden, blocked = _constrained(outcome)
    required = [c.action for c in outcome.required_actions if c.action not in forbidden]
    if required:
        return {required[0]: 1.0}
    available = _available(catalog, scores, forbidden, blocked, set())
    if not available:
        return {}
    share = settings.exploration / len(available)
    return {action: share + (1 - settings.exploration) * (i == 0) for i, action in enumerate(available)}


def _constrained(outcome: RuleOutcome) -> tuple[set[str], dict[str, tuple[str, ...]]]:
    """The forbidden actions, and the blocked ones (not forbidden) with the checkpoints blocking them."""
    forbidden = {constraint.action for constraint in outcome.forbidden_actions}
    return forbidden, {action: tuple(ids) for action, ids in outcome.blocked_actions.items() if action not in forbidden}


def _available(catalog: Mapping[str, str], scores: Mapping[str, float], forbidden: set[str],
               blocked: Mapping[str, tuple[str, ...]], pinned: set[str]) -> list[str]:
    """The actions free to show, best score first (ties by name)."""
    free = [a for a in catalog if a not in forbidden and a not in blocked and a not in pinned]
    return sorted(free, key=lambda a: (-float(scores.get(a, 0.0)), a))


def _show(candidate: _Candidate, catalog: Mapping[str, str], status: Status, rank: int, propensity: float,
          reasons: Sequence[Reason], blocked_by: tuple[str, ...]) -> ShownAction:
    return ShownAction(action=candidate.action, label=catalog.get(candidate.action, candidate.action), status=status,
                       rank=rank, score=round(candidate.score, 6), propensity=round(propensity, 6),
                       reasons=tuple(reasons), blocked_by=blocked_by)
