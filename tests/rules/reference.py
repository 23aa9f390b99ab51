"""A plain-Python evaluator of docs/rules.md, the oracle of the differential tests: naive, slow, obviously right.

It enumerates every assignment of facts to a rule's names with nested loops and checks the
conditions directly; no engine, no compiled plan. Consequences go through the production
OutcomeBuilder, so a difference in the outcome is a difference in matching, never in formatting.
"""

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import product
from typing import Any

from app.rules.evaluation import Match, OutcomeBuilder
from app.rules.facts import CaseData, Fact, build_facts, fact_schema
from app.rules.model import Alternative, Checkpoint, Op, Pattern, Ref, Rule, Ruleset, Test
from app.rules.outcome import RuleOutcome

Binding = dict[str, Fact]
Identity = tuple[tuple[str, str], ...]

_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.IN: lambda value, options: value in options,
    Op.NOT_IN: lambda value, options: value not in options,
    Op.EXISTS: lambda value, _: True,
    Op.MATCHES: lambda value, pattern: re.search(pattern, value) is not None,
    Op.CONTAINS: lambda value, item: item in value,
    Op.NOT_CONTAINS: lambda value, item: item not in value,
}


def reference_evaluate(ruleset: Ruleset, case: CaseData, as_of: datetime) -> RuleOutcome:
    """The outcome docs/rules.md prescribes for `case` as of `as_of`; raises RuleConsequenceError like production."""
    facts = build_facts(case, case_attributes=ruleset.case_attributes, event_attributes=ruleset.event_attributes,
                        as_of=as_of)
    builder = OutcomeBuilder(fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived),
                             ruleset.version)
    for rule in firing_order(ruleset):
        # Every producer of a type this rule reads (in `when` or `until`) has fired: the facts are all there.
        known = facts + builder.derived_facts
        satisfied = {checkpoint.id: _judge(checkpoint, known) for checkpoint in rule.checkpoints()}
        for binding in rule_matches(rule, known):
            builder.fire(Match(rule, binding, identity(binding)), satisfied)
    return builder.outcome(ruleset.name, case.case_id, as_of.astimezone(UTC))


def firing_order(ruleset: Ruleset) -> list[Rule]:
    """Rules by level (producers of a derived type before its users, `until` included), then ruleset order."""
    levels = rule_levels(ruleset)
    position = {rule.id: index for index, rule in enumerate(ruleset.rules)}
    return sorted(ruleset.rules, key=lambda rule: (levels[rule.id], position[rule.id]))


def rule_levels(ruleset: Ruleset) -> dict[str, int]:
    """Per rule id: 0 when it reads only case, event and history; else 1 + the highest level of a producer it reads."""
    producers: dict[str, list[Rule]] = {}
    for rule in ruleset.rules:
        for assertion in rule.asserts():
            producers.setdefault(assertion.fact, []).append(rule)
    levels: dict[str, int] = {}
    visiting: set[str] = set()

    def level(rule: Rule) -> int:
        if rule.id not in levels:
            if rule.id in visiting:
                raise ValueError(f"derived facts of rule {rule.id} depend on themselves; the validator should refuse")
            visiting.add(rule.id)
            read = {p.fact for alternative in rule.when for p in alternative}
            read |= {p.fact for cp in rule.checkpoints() for alternative in cp.until for p in alternative}
            sources = [producer for fact in sorted(read) for producer in producers.get(fact, [])]
            levels[rule.id] = 1 + max(level(producer) for producer in sources) if sources else 0
        return levels[rule.id]

    for rule in ruleset.rules:
        level(rule)
    return levels


def _judge(checkpoint: Checkpoint, facts: list[Fact]) -> Callable[[Match], bool]:
    return lambda match: is_satisfied(checkpoint, match.binding, facts)


def identity(binding: Mapping[str, Fact]) -> Identity:
    """A match's identity: which fact each name binds, sorted by name."""
    return tuple(sorted((alias, fact.key) for alias, fact in binding.items()))


def rule_matches(rule: Rule, facts: list[Fact]) -> list[Binding]:
    """The rule's distinct matches over all its alternatives, sorted by identity."""
    distinct: dict[Identity, Binding] = {}
    for alternative in rule.when:
        for binding in extensions(alternative, {}, facts):
            distinct.setdefault(identity(binding), binding)
    return [distinct[key] for key in sorted(distinct)]


def is_satisfied(checkpoint: Checkpoint, match: Binding, facts: list[Fact]) -> bool:
    """Whether some `until` alternative extends the match (an empty `until` never holds)."""
    return any(next(extensions(alternative, match, facts), None) is not None for alternative in checkpoint.until)


def extensions(alternative: Alternative, bound: Binding, facts: list[Fact]) -> Iterator[Binding]:
    """`bound` plus each binding of the alternative's positive patterns to distinct facts not in `bound`,
    all tests true, that none of its `no` patterns excludes."""
    positives = [p for p in alternative if not p.negated]
    negatives = [p for p in alternative if p.negated]
    candidates = [[fact for fact in facts if fact.type == pattern.fact] for pattern in positives]
    for chosen in product(*candidates):
        taken = [*bound.values(), *chosen]
        if len({id(fact) for fact in taken}) < len(taken):
            continue
        binding = {**bound, **{pattern.alias: fact for pattern, fact in zip(positives, chosen, strict=True)}}
        if not all(pattern_holds(pattern, fact, binding) for pattern, fact in zip(positives, chosen, strict=True)):
            continue
        if any(excludes(pattern, binding, facts) for pattern in negatives):
            continue
        yield binding


def excludes(negated: Pattern, binding: Binding, facts: list[Fact]) -> bool:
    """Whether a fact not bound in `binding` satisfies the `no` pattern."""
    bound = {id(fact) for fact in binding.values()}
    return any(fact.type == negated.fact and id(fact) not in bound and pattern_holds(negated, fact, binding)
               for fact in facts)


def pattern_holds(pattern: Pattern, fact: Fact, binding: Binding) -> bool:
    """Whether every test of the pattern holds for `fact`, references read from `binding`."""
    return all(condition_holds(test, fact, binding) for test in pattern.tests)


def condition_holds(test: Test, fact: Fact, binding: Binding) -> bool:
    """One field condition; a missing field satisfies only `exists: false`, a missing referenced field nothing."""
    value = fact.get(test.field)
    if test.op == Op.MISSING:
        return value is None
    if value is None:
        return False
    operand = test.value
    if isinstance(operand, Ref):
        other = binding[operand.alias].get(operand.field)
        if other is None:
            return False
        operand = other + operand.offset if operand.offset else other
    return _COMPARE[test.op](value, operand)
