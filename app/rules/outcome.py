"""What an evaluation returns: flags, checkpoints, action constraints, derived facts and a trace.

Plain frozen dataclasses: the evaluation builds them from data it already checked, so nothing is
validated twice on the hot path; the API serialises them as they are.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class FlagOut:
    code: str
    severity: Literal["info", "warning", "critical"]
    message: str
    rule_id: str


@dataclass(frozen=True, slots=True)
class CheckpointOut:
    """A checkpoint; `blocks` are blocked while it is open; `open_instances` of `instances` matches are open."""

    id: str
    status: Literal["open", "satisfied"]
    blocks: list[str]
    message: str
    rule_id: str
    open_instances: int
    instances: int


@dataclass(frozen=True, slots=True)
class Reason:
    rule_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ActionConstraintOut:
    action: str
    reasons: list[Reason]


@dataclass(frozen=True, slots=True)
class RecommendationOut:
    """A recommended action; `weight` sums the recommending rules' weights."""

    action: str
    weight: float
    reasons: list[Reason]


@dataclass(frozen=True, slots=True)
class ConflictOut:
    action: str
    required_by: list[str]
    forbidden_by: list[str]
    resolution: Literal["required", "forbidden"]


@dataclass(frozen=True, slots=True)
class DerivedFactOut:
    type: str
    key: str
    fields: dict[str, Any]
    rule_id: str


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired: `matched` maps each name it binds to the key of the fact bound."""

    rule_id: str
    ruleset_version: str
    matched: dict[str, str]


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """The complete result of evaluating one case under one ruleset version.

    `blocked_actions` maps an action to the open checkpoints blocking it.
    """

    ruleset: str
    ruleset_version: str
    case_id: str
    as_of: datetime
    flags: list[FlagOut]
    checkpoints: list[CheckpointOut]
    required_actions: list[ActionConstraintOut]
    forbidden_actions: list[ActionConstraintOut]
    recommended_actions: list[RecommendationOut]
    blocked_actions: dict[str, list[str]]
    conflicts: list[ConflictOut]
    derived_facts: list[DerivedFactOut]
    trace: list[Firing]

    @classmethod
    def ungoverned(cls, case_id: str, as_of: datetime) -> "RuleOutcome":
        """The outcome for a case type no ruleset governs: nothing flagged, required, forbidden or blocked."""
        return cls("", "", case_id, as_of, [], [], [], [], [], {}, [], [], [])

    def to_dict(self) -> dict[str, Any]:
        """The outcome as plain data (what the API returns, before JSON)."""
        return asdict(self)


# What an outcome holds, aspect by aspect, as sets of names: what test suites expect and simulations compare.
OUTCOME_ASPECTS: dict[str, Callable[[RuleOutcome], set[str]]] = {
    "flags": lambda o: {f.code for f in o.flags},
    "open_checkpoints": lambda o: {c.id for c in o.checkpoints if c.status == "open"},
    "satisfied_checkpoints": lambda o: {c.id for c in o.checkpoints if c.status == "satisfied"},
    "checkpoints": lambda o: {c.id for c in o.checkpoints},
    "required": lambda o: {a.action for a in o.required_actions},
    "forbidden": lambda o: {a.action for a in o.forbidden_actions},
    "recommended": lambda o: {a.action for a in o.recommended_actions},
    "blocked": lambda o: set(o.blocked_actions),
    "derived": lambda o: {d.type for d in o.derived_facts},
    "fired": lambda o: {f.rule_id for f in o.trace},
}
