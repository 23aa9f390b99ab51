"""Evaluating one case: facts in, engine answers composed into a complete, deterministic RuleOutcome.

The engine answers positive queries; this module does the rest of the semantics of docs/rules.md:
`no` patterns (a query's bindings minus those a blocker query extends), alternatives (one firing per
distinct match), checkpoints (an instance is satisfied when an `until` query extends it), levels of
derived facts, and the consequences themselves.
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.errors import CasewiseError
from app.rules.compiler import Conjunction, Plan, RulePlan
from app.rules.engine import Binding, RuleEngine
from app.rules.facts import CaseData, Fact, FactSchema, build_facts, fact_schema
from app.rules.model import SEVERITY_RANK, ActionConstraint, Assert, Checkpoint, ConstraintKind, Flag, Ref, Rule
from app.rules.outcome import (
    ActionConstraintOut,
    CheckpointOut,
    ConflictOut,
    DerivedFactOut,
    Firing,
    FlagOut,
    Reason,
    RecommendationOut,
    RuleOutcome,
)

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")

Identity = frozenset[tuple[str, str]]


class RuleConsequenceError(CasewiseError):
    """A consequence could not be carried out for this case; the evaluation returns nothing."""

    status_code = 422
    code = "rule_consequence_failed"

    def __init__(self, rule_id: str, problem: str) -> None:
        self.rule_id = rule_id
        super().__init__(f"rule {rule_id}: {problem}",
                         detail=[{"field": f"rule {rule_id}", "problem": problem, "type": "consequence_failed"}])


@dataclass(frozen=True)
class Match:
    rule: Rule
    binding: Binding

    @property
    def identity(self) -> Identity:
        return frozenset((alias, fact.key) for alias, fact in self.binding.items())


def identity_of(binding: Mapping[str, Fact], aliases: Iterable[str] | None = None) -> Identity:
    names = binding.keys() if aliases is None else aliases
    return frozenset((alias, binding[alias].key) for alias in names)


class Evaluator:
    """Evaluates cases under one compiled ruleset. Thread-safe; holds the engine handles."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.engine = RuleEngine(plan)
        ruleset = plan.ruleset
        self.schema = fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived)

    def evaluate(self, case: CaseData, *, as_of: datetime) -> RuleOutcome:
        """The outcome of the ruleset for `case` as of `as_of`; raises RuleConsequenceError or EngineError."""
        ruleset = self.plan.ruleset
        facts = build_facts(case, case_attributes=ruleset.case_attributes,
                            event_attributes=ruleset.event_attributes, as_of=as_of)
        collector = OutcomeBuilder(self.schema, ruleset.version)
        derived: list[Fact] = []
        for level in range(self.plan.levels):
            answers = self.engine.answer(level, facts + derived)
            for rule_plan in self.plan.rules:
                if rule_plan.level == level:
                    satisfied = {cid: satisfied_matches(rule_plan, cid, answers) for cid in rule_plan.until}
                    for match in matches_of(rule_plan, answers):
                        derived += collector.fire(match, satisfied, derived_so_far=len(derived))
        return collector.outcome(ruleset.name, case.case_id, as_of.astimezone(UTC))


def solve(conjunction: Conjunction, answers: Mapping[str, list[Binding]]) -> list[Binding]:
    """The bindings of the conjunction's positive patterns that no `no` pattern excludes."""
    aliases = conjunction.main.aliases
    blocked = {identity_of(binding, aliases) for blocker in conjunction.blockers
               for binding in answers[blocker.name]}
    return [binding for binding in answers[conjunction.main.name] if identity_of(binding) not in blocked]


def matches_of(rule_plan: RulePlan, answers: Mapping[str, list[Binding]]) -> list[Match]:
    """The rule's distinct matches across its alternatives, in a fixed order."""
    distinct: dict[Identity, Binding] = {}
    for conjunction in rule_plan.when:
        for binding in solve(conjunction, answers):
            distinct.setdefault(identity_of(binding), binding)
    return [Match(rule_plan.rule, distinct[identity]) for identity in sorted(distinct, key=sorted)]


def satisfied_matches(rule_plan: RulePlan, checkpoint_id: str, answers: Mapping[str, list[Binding]]) -> set[Identity]:
    """The matches of the rule that some `until` alternative extends."""
    return {identity_of(binding, when.main.aliases)
            for when, untils in zip(rule_plan.when, rule_plan.until[checkpoint_id], strict=True)
            for until in untils for binding in solve(until, answers)}


class OutcomeBuilder:
    """Carries out consequences match by match and assembles the outcome."""

    def __init__(self, schema: FactSchema, version: str) -> None:
        self.schema = schema
        self.version = version
        self.flags: list[tuple[tuple, FlagOut]] = []
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.constraints: dict[ConstraintKind, dict[str, list[tuple[Rule, str, float]]]] = defaultdict(dict)
        self.derived: list[tuple[Fact, str]] = []
        self.trace: list[tuple[tuple, Firing]] = []

    def fire(self, match: Match, satisfied: Mapping[str, set[Identity]], *, derived_so_far: int) -> list[Fact]:
        """Carry out the rule's consequences for one match; returns the facts it derives."""
        rule = match.rule
        order = (-rule.priority, rule.id, sorted(match.identity))
        self.trace.append((order, Firing(rule_id=rule.id, ruleset_version=self.version,
                                         matched={alias: fact.key for alias, fact in sorted(match.binding.items())})))
        new_facts: list[Fact] = []
        for consequence in rule.then:
            if isinstance(consequence, Flag):
                self.flags.append(((-SEVERITY_RANK[consequence.severity], *order), FlagOut(
                    code=consequence.code, severity=consequence.severity.value, rule_id=rule.id,
                    message=self.render(rule, consequence.message, match.binding))))
            elif isinstance(consequence, Checkpoint):
                self.checkpoint(rule, consequence, match, match.identity in satisfied[consequence.id])
            elif isinstance(consequence, ActionConstraint):
                reason = self.render(rule, consequence.reason, match.binding)
                self.constraints[consequence.kind].setdefault(consequence.action, []).append(
                    (rule, reason, consequence.weight))
            elif isinstance(consequence, Assert):
                fact = self.assertion(rule, consequence, match.binding, derived_so_far + len(new_facts))
                new_facts.append(fact)
                self.derived.append((fact, rule.id))
        return new_facts

    def checkpoint(self, rule: Rule, checkpoint: Checkpoint, match: Match, is_satisfied: bool) -> None:
        entry = self.checkpoints.setdefault(checkpoint.id, {"rule": rule, "checkpoint": checkpoint, "open": [],
                                                            "instances": 0})
        entry["instances"] += 1
        message = self.render(rule, checkpoint.message, match.binding)
        if not is_satisfied:
            entry["open"].append(message)
        entry.setdefault("first_message", message)

    def assertion(self, rule: Rule, assertion: Assert, binding: Binding, index: int) -> Fact:
        fields: dict[str, Any] = {}
        for name, value in assertion.fields:
            if isinstance(value, Ref):
                resolved = binding[value.alias].get(value.field)
                if resolved is None:
                    source = f"{value.alias}.{value.field}"
                    raise RuleConsequenceError(rule.id, f"asserts {assertion.fact}.{name} from {source}, which "
                                                        f"{binding[value.alias].key} lacks")
                value = resolved + value.offset if value.offset else resolved
            fields[name] = value
        return Fact(assertion.fact, f"{assertion.fact}#{index + 1}", fields)

    def render(self, rule: Rule, template: str, binding: Binding) -> str:
        def substitute(match: re.Match) -> str:
            if match[1] is None:
                return match[0][0]
            alias, _, field = match[1].strip().partition(".")
            fact = binding[alias]
            value = fact.get(field)
            if value is None:
                raise RuleConsequenceError(rule.id, f"its text quotes {alias}.{field}, which {fact.key} lacks")
            return _display(value, self.schema.field_type(fact.type, field))

        return PLACEHOLDER.sub(substitute, template)

    def outcome(self, ruleset: str, case_id: str, as_of: datetime) -> RuleOutcome:
        checkpoints = []
        blocked: dict[str, list[str]] = defaultdict(list)
        for checkpoint_id in sorted(self.checkpoints, key=lambda c: (-self.checkpoints[c]["rule"].priority, c)):
            entry = self.checkpoints[checkpoint_id]
            is_open = bool(entry["open"])
            checkpoints.append(CheckpointOut(
                id=checkpoint_id, status="open" if is_open else "satisfied", blocks=list(entry["checkpoint"].blocks),
                message=entry["open"][0] if is_open else entry["first_message"], rule_id=entry["rule"].id,
                open_instances=len(entry["open"]), instances=entry["instances"]))
            if is_open:
                for action in entry["checkpoint"].blocks:
                    blocked[action].append(checkpoint_id)
        required, forbidden, conflicts = self.resolve_conflicts()
        recommended = [
            RecommendationOut(action=action, weight=sum(w for _, _, w in entries), reasons=_reasons(entries))
            for action, entries in self.constraints[ConstraintKind.RECOMMEND].items()
        ]
        return RuleOutcome(
            ruleset=ruleset, ruleset_version=self.version, case_id=case_id, as_of=as_of,
            flags=[flag for _, flag in sorted(self.flags, key=lambda item: item[0])],
            checkpoints=checkpoints,
            required_actions=_by_priority(required),
            forbidden_actions=_by_priority(forbidden),
            recommended_actions=sorted(recommended, key=lambda r: (-r.weight, r.action)),
            blocked_actions={action: sorted(ids) for action, ids in sorted(blocked.items())},
            conflicts=conflicts,
            derived_facts=[DerivedFactOut(type=fact.type, key=fact.key, fields=dict(fact.fields), rule_id=rule_id)
                           for fact, rule_id in self.derived],
            trace=[firing for _, firing in sorted(self.trace, key=lambda item: item[0])],
        )

    def resolve_conflicts(self) -> tuple[dict, dict, list[ConflictOut]]:
        required = dict(self.constraints[ConstraintKind.REQUIRE])
        forbidden = dict(self.constraints[ConstraintKind.FORBID])
        conflicts = []
        for action in sorted(set(required) & set(forbidden)):
            top_required = max(rule.priority for rule, _, _ in required[action])
            top_forbidden = max(rule.priority for rule, _, _ in forbidden[action])
            resolution = "required" if top_required > top_forbidden else "forbidden"
            conflicts.append(ConflictOut(action=action, required_by=sorted({r.id for r, _, _ in required[action]}),
                                         forbidden_by=sorted({r.id for r, _, _ in forbidden[action]}),
                                         resolution=resolution))
            del (forbidden if resolution == "required" else required)[action]
        return required, forbidden, conflicts


def _reasons(entries: list[tuple[Rule, str, float]]) -> list[Reason]:
    return sorted({Reason(rule_id=rule.id, reason=reason) for rule, reason, _ in entries},
                  key=lambda r: (r.rule_id, r.reason))


def _by_priority(constraints: Mapping[str, list[tuple[Rule, str, float]]]) -> list[ActionConstraintOut]:
    ordered = sorted(constraints.items(), key=lambda item: (-max(rule.priority for rule, _, _ in item[1]), item[0]))
    return [ActionConstraintOut(action=action, reasons=_reasons(entries)) for action, entries in ordered]


def _display(value: Any, kind: str | None) -> str:
    if kind == "timestamp":
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, tuple | list):
        return ", ".join(value)
    return str(value)
