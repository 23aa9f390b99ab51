"""A validated ruleset as data: what the validator produces and the compiler, engine and tests consume.

Every node keeps the line it was written on (not part of its identity), so later stages can point
at the source. Conditions are in disjunctive normal form: a rule's `when` is a tuple of
alternatives, each an ordered tuple of patterns, all of which must hold.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

FieldType = Literal["number", "text", "boolean", "timestamp", "list"]
FIELD_TYPES: tuple[FieldType, ...] = ("number", "text", "boolean", "timestamp", "list")


class Op(StrEnum):
    """The closed list of field operators (`between` is written as gte + lte)."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    EXISTS = "exists"
    MISSING = "missing"  # written `exists: false`
    MATCHES = "matches"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"


ORDERING_OPS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
JOIN_OPS = frozenset({Op.EQ, Op.NE, *ORDERING_OPS})


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Ref:
    """A field of another pattern in the same rule, plus a constant offset (seconds for timestamps)."""

    alias: str
    field: str
    offset: float = 0.0


@dataclass(frozen=True)
class Test:
    """One condition on one field. `value` is a literal, a Ref, or a tuple of literals for in/not_in."""

    field: str
    op: Op
    value: Any = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Pattern:
    """Conditions on one fact of type `fact`, bound to `alias`; negated means "no such fact"."""

    fact: str
    alias: str
    tests: tuple[Test, ...]
    negated: bool = False
    line: int = field(default=0, compare=False)


Alternative = tuple[Pattern, ...]


@dataclass(frozen=True)
class Flag:
    code: str
    severity: Severity
    message: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Checkpoint:
    """Blocks actions until `until` holds; an empty `until` never holds."""

    id: str
    blocks: tuple[str, ...]
    until: tuple[Alternative, ...]
    message: str
    line: int = field(default=0, compare=False)


class ConstraintKind(StrEnum):
    REQUIRE = "require_action"
    FORBID = "forbid_action"
    RECOMMEND = "recommend_action"


@dataclass(frozen=True)
class ActionConstraint:
    kind: ConstraintKind
    action: str
    reason: str
    weight: float = 1.0
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Assert:
    """Adds one `fact` per match; field values are literals or Refs to matched facts."""

    fact: str
    fields: tuple[tuple[str, Any], ...]
    line: int = field(default=0, compare=False)


Consequence = Flag | Checkpoint | ActionConstraint | Assert


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    priority: int
    when: tuple[Alternative, ...]
    then: tuple[Consequence, ...]
    line: int = field(default=0, compare=False)

    def asserts(self) -> tuple[Assert, ...]:
        return tuple(c for c in self.then if isinstance(c, Assert))

    def checkpoints(self) -> tuple[Checkpoint, ...]:
        return tuple(c for c in self.then if isinstance(c, Checkpoint))


@dataclass(frozen=True)
class Action:
    id: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class Ruleset:
    """A validated ruleset. `version` is the sha256 of its source text."""

    name: str
    case_type: str
    description: str
    actions: tuple[Action, ...]
    case_attributes: dict[str, FieldType]
    event_attributes: dict[str, FieldType]
    derived: dict[str, dict[str, FieldType]]
    rules: tuple[Rule, ...]
    version: str
    source: str = field(default="", compare=False, repr=False)

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.id == rule_id)
