"""Evaluating one case: facts in, engine answers composed into a complete, deterministic RuleOutcome.

The engine answers positive queries; this module does the rest of the semantics of docs/rules.md:
`no` patterns and `until` alternatives (Extensions: an answer row that agrees with a binding on its
anchors and adds facts the binding does not hold), alternatives (one firing per distinct match),
levels of derived facts, and the consequences themselves.
"""

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from app.core.errors import CasewiseError
from app.rules.compiler import Conjunction, Extension, Plan, Query, RulePlan
from app.rules.engine import Row, RuleEngine
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

Binding = dict[str, Fact]
Identity = tuple[tuple[str, str], ...]
Answers = Mapping[str, list[Row]]


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
    """One distinct match of a rule: its names bound to facts; `identity` is (name, fact key) sorted."""

    rule: Rule
    binding: Binding
    identity: Identity


def identity_of(binding: Mapping[str, Fact]) -> Identity:
    return tuple(sorted((alias, fact.key) for alias, fact in binding.items()))


class Evaluator:
    """Evaluates cases under one compiled ruleset. Thread-safe; holds the engine handles."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.engine = RuleEngine(plan)
        ruleset = plan.ruleset
        self.schema = fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived)

    def evaluate(self, case: CaseData, *, as_of: datetime) -> RuleOutcome:
        """The outcome of the ruleset for `case` as of `as_of`; raises RuleConsequenceError or EngineError."""
        return self.evaluate_facts(self.facts(case, as_of=as_of), case_id=case.case_id, as_of=as_of)

    def facts(self, case: CaseData, *, as_of: datetime) -> list[Fact]:
        """The facts the ruleset sees of `case` as of `as_of`."""
        ruleset = self.plan.ruleset
        return build_facts(case, case_attributes=ruleset.case_attributes, event_attributes=ruleset.event_attributes,
                           as_of=as_of)

    def evaluate_facts(self, facts: list[Fact], *, case_id: str, as_of: datetime) -> RuleOutcome:
        """The outcome of the ruleset for the facts of one case (from `facts`)."""
        ruleset = self.plan.ruleset
        builder = OutcomeBuilder(self.schema, ruleset.version)
        projected: list[str] = []
        for level in range(self.plan.levels):
            answers = self.engine.answer(level, facts + builder.derived_facts, projected)
            for rule_plan in self.plan.rules:
                if rule_plan.level == level:
                    matches = matches_of(rule_plan, answers)
                    if matches:
                        builder.fire_rule(matches, satisfied_of(rule_plan, answers))
        return builder.outcome(ruleset.name, case_id, as_of.astimezone(UTC))


class _Extensions:
    """Answers of one Extension indexed by the anchor facts' keys, for quick `extends` checks."""

    def __init__(self, extension: Extension, answers: Answers) -> None:
        self.extension = extension
        self.width = len(extension.anchors)
        self.index: dict[tuple[str, ...], list[Row]] = defaultdict(list)
        for row in rows_of(extension.query, answers):
            self.index[tuple(fact.key for fact in row[:self.width])].append(row[self.width:])
        self.nested = [_Extensions(excluder, answers) for excluder in extension.excluders]

    def extends(self, binding: Binding, held: set[str]) -> bool:
        """Whether some answer agrees with `binding` on the anchors and adds only facts not `held`."""
        key = tuple(binding[alias].key for alias in self.extension.anchors)
        for added in self.index.get(key, ()):
            if any(fact.key in held for fact in added):
                continue
            if not self.nested:
                return True
            wider = {**binding, **dict(zip(self.extension.added, added, strict=True))}
            wider_held = held | {fact.key for fact in added}
            if not any(nested.extends(wider, wider_held) for nested in self.nested):
                return True
        return False


def rows_of(query: Query, answers: Answers) -> list[Row]:
    """The query's answers; a query of no patterns (a rule of `no`s alone) has one, the empty row."""
    return answers[query.name] if query.patterns else [()]


def solve(conjunction: Conjunction, answers: Answers) -> list[Row]:
    """The rows of the conjunction's positive patterns that no `no` pattern excludes."""
    rows = rows_of(conjunction.main, answers)
    if not rows or not conjunction.excluders:
        return rows
    aliases = conjunction.main.aliases
    excluders = [_Extensions(excluder, answers) for excluder in conjunction.excluders]
    kept = []
    for row in rows:
        binding = dict(zip(aliases, row, strict=True))
        held = {fact.key for fact in row}
        if not any(excluder.extends(binding, held) for excluder in excluders):
            kept.append(row)
    return kept


def matches_of(rule_plan: RulePlan, answers: Answers) -> list[Match]:
    """The rule's distinct matches across its alternatives, in a fixed order (by identity)."""
    keyed: dict[Identity, tuple[tuple[str, ...], Row]] = {}
    for conjunction in rule_plan.when:
        main = conjunction.main
        aliases, by_name = main.aliases, main.by_name
        for row in solve(conjunction, answers):
            # The first alternative to produce a match keeps it: one firing per distinct match.
            keyed.setdefault(tuple([(aliases[i], row[i].key) for i in by_name]), (aliases, row))
    rule = rule_plan.rule
    return [Match(rule, dict(zip(aliases, row, strict=True)), identity)
            for identity, (aliases, row) in sorted(keyed.items(), key=_first)]


def _first(item: tuple) -> Any:
    return item[0]


def satisfied_of(rule_plan: RulePlan, answers: Answers) -> Mapping[str, Any]:
    """Per checkpoint id, a test of whether an `until` alternative extends a match."""
    tests = {}
    for checkpoint_id, extensions in rule_plan.until.items():
        indexed = [_Extensions(extension, answers) for extension in extensions]
        tests[checkpoint_id] = lambda match, indexed=indexed: any(
            ext.extends(match.binding, {fact.key for fact in match.binding.values()}) for ext in indexed)
    return tests


class OutcomeBuilder:
    """Carries out consequences match by match and assembles the outcome."""

    def __init__(self, schema: FactSchema, version: str) -> None:
        self.schema = schema
        self.version = version
        self.derived_facts: list[Fact] = []
        self.flags: list[tuple[tuple, FlagOut]] = []
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.constraints: dict[ConstraintKind, dict[str, list[tuple[Rule, str, float]]]] = defaultdict(dict)
        self.derived: list[tuple[Fact, str]] = []
        self.trace: list[tuple[tuple, Firing]] = []
        self._kinds: dict[tuple[str, str], str | None] = {}

    def fire_rule(self, matches: list[Match], satisfied: Mapping[str, Any]) -> None:
        """Carry out the rule's consequences for each of its matches."""
        for match in matches:
            self.fire(match, satisfied)

    def fire(self, match: Match, satisfied: Mapping[str, Any]) -> None:
        """Carry out the rule's consequences for one match (derived facts join `derived_facts`)."""
        rule = match.rule
        order = (-rule.priority, rule.id, match.identity)
        self.trace.append((order, Firing(rule.id, self.version, dict(match.identity))))
        for consequence in rule.then:
            if isinstance(consequence, Flag):
                self.flags.append(((-SEVERITY_RANK[consequence.severity], *order), FlagOut(
                    consequence.code, consequence.severity.value, self.render(rule, consequence.message, match.binding),
                    rule.id)))
            elif isinstance(consequence, Checkpoint):
                self.checkpoint(rule, consequence, match, satisfied[consequence.id](match))
            elif isinstance(consequence, ActionConstraint):
                reason = self.render(rule, consequence.reason, match.binding)
                self.constraints[consequence.kind].setdefault(consequence.action, []).append(
                    (rule, reason, consequence.weight))
            elif isinstance(consequence, Assert):
                fact = self.assertion(rule, consequence, match.binding, len(self.derived_facts))
                self.derived_facts.append(fact)
                self.derived.append((fact, rule.id))

    def checkpoint(self, rule: Rule, checkpoint: Checkpoint, match: Match, is_satisfied: bool) -> None:
        entry = self.checkpoints.setdefault(checkpoint.id, {"rule": rule, "checkpoint": checkpoint, "open": 0,
                                                            "instances": 0, "first": match, "first_open": None})
        entry["instances"] += 1
        if not is_satisfied:
            entry["open"] += 1
            entry["first_open"] = entry["first_open"] or match
        # Only the reported instance's message is rendered, but every instance must be renderable.
        self.render(rule, checkpoint.message, match.binding)

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
        parts = []
        for part in _template(template):
            if isinstance(part, str):
                parts.append(part)
                continue
            alias, field = part
            fact = binding[alias]
            value = fact.get(field)
            if value is None:
                raise RuleConsequenceError(rule.id, f"its text quotes {alias}.{field}, which {fact.key} lacks")
            parts.append(_display(value, self._kinds.get((fact.type, field)) or self._kind(fact.type, field)))
        return "".join(parts)

    def _kind(self, fact_type: str, field: str) -> str | None:
        kind = self._kinds[(fact_type, field)] = self.schema.field_type(fact_type, field)
        return kind

    def outcome(self, ruleset: str, case_id: str, as_of: datetime) -> RuleOutcome:
        checkpoints = []
        blocked: dict[str, list[str]] = defaultdict(list)
        for checkpoint_id in sorted(self.checkpoints, key=lambda c: (-self.checkpoints[c]["rule"].priority, c)):
            entry = self.checkpoints[checkpoint_id]
            rule, checkpoint = entry["rule"], entry["checkpoint"]
            reported = entry["first_open"] or entry["first"]
            checkpoints.append(CheckpointOut(
                checkpoint_id, "open" if entry["open"] else "satisfied", list(checkpoint.blocks),
                self.render(rule, checkpoint.message, reported.binding), rule.id, entry["open"], entry["instances"]))
            if entry["open"]:
                for action in checkpoint.blocks:
                    blocked[action].append(checkpoint_id)
        required, forbidden, conflicts = self.resolve_conflicts()
        recommended = sorted(
            (RecommendationOut(action, sum(w for _, _, w in entries), _reasons(entries))
             for action, entries in self.constraints[ConstraintKind.RECOMMEND].items()),
            key=lambda r: (-r.weight, r.action))
        return RuleOutcome(
            ruleset=ruleset, ruleset_version=self.version, case_id=case_id, as_of=as_of,
            flags=[flag for _, flag in sorted(self.flags, key=lambda item: item[0])],
            checkpoints=checkpoints,
            required_actions=_by_priority(required),
            forbidden_actions=_by_priority(forbidden),
            recommended_actions=recommended,
            blocked_actions={action: sorted(ids) for action, ids in sorted(blocked.items())},
            conflicts=conflicts,
            derived_facts=[DerivedFactOut(fact.type, fact.key, dict(fact.fields), rule_id)
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
            conflicts.append(ConflictOut(action, sorted({r.id for r, _, _ in required[action]}),
                                         sorted({r.id for r, _, _ in forbidden[action]}), resolution))
            del (forbidden if resolution == "required" else required)[action]
        return required, forbidden, conflicts


@lru_cache(maxsize=4096)
def _template(text: str) -> tuple[str | tuple[str, str], ...]:
    """A message split into literal text and (name, field) placeholders, parsed once."""
    parts: list[str | tuple[str, str]] = []
    position = 0
    for match in PLACEHOLDER.finditer(text):
        parts.append(text[position:match.start()])
        if match[1] is None:
            parts.append(match[0][0])
        else:
            alias, _, field = match[1].strip().partition(".")
            parts.append((alias, field))
        position = match.end()
    parts.append(text[position:])
    return tuple(part for part in parts if part != "")


def _reasons(entries: list[tuple[Rule, str, float]]) -> list[Reason]:
    return [Reason(rule_id, reason) for rule_id, reason in sorted({(rule.id, reason) for rule, reason, _ in entries})]


def _by_priority(constraints: Mapping[str, list[tuple[Rule, str, float]]]) -> list[ActionConstraintOut]:
    ordered = sorted(constraints.items(), key=lambda item: (-max(rule.priority for rule, _, _ in item[1]), item[0]))
    return [ActionConstraintOut(action, _reasons(entries)) for action, entries in ordered]


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
