"""Static analysis of a validated ruleset: conditions that can never hold, rules that repeat or shadow
others, actions both required and forbidden at one priority, and derived facts nobody reads.

Every check is conservative in the direction that keeps the example rulesets quiet: a condition is
called impossible, or one rule said to imply another, only when that follows from literal values and
the fact schema. A comparison with another fact (`$opened.at`) tells the analysis only that the field
is present, and two such comparisons are taken as equal only when they are written identically.
"""

import operator
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.rules.describe import consequence_text, pattern_text, test_text, value_text
from app.rules.facts import COUNTS_PREFIX, FactSchema, fact_schema
from app.rules.model import (
    ActionConstraint,
    Alternative,
    Assert,
    Checkpoint,
    Consequence,
    ConstraintKind,
    FieldType,
    Flag,
    Op,
    Pattern,
    Ref,
    Rule,
    Ruleset,
    Test,
)

SINGLETONS = frozenset({"case", "history"})  # one fact of each per evaluation
# Fields build_facts always writes; the others may be missing. History counts read 0 when absent.
ALWAYS_PRESENT = {
    "case": frozenset({"case_id", "case_type", "status", "opened_at", "age_days"}),
    "event": frozenset({"event_id", "type", "at", "index", "age_days"}),
    "history": frozenset({"event_count", "days_open"}),
}
KINDS = ("impossible_condition", "contradiction", "duplicate_rule", "shadowed_rule", "unused_derived_fact",
         "unasserted_derived_fact")
ERRORS = frozenset({"impossible_condition", "contradiction"})
_NEGATIONS = {
    Op.EQ: (Op.MISSING, Op.NE), Op.NE: (Op.MISSING, Op.EQ), Op.GT: (Op.MISSING, Op.LTE),
    Op.GTE: (Op.MISSING, Op.LT), Op.LT: (Op.MISSING, Op.GTE), Op.LTE: (Op.MISSING, Op.GT),
    Op.IN: (Op.MISSING, Op.NOT_IN), Op.NOT_IN: (Op.MISSING, Op.IN), Op.CONTAINS: (Op.MISSING, Op.NOT_CONTAINS),
    Op.NOT_CONTAINS: (Op.MISSING, Op.CONTAINS), Op.EXISTS: (Op.MISSING,), Op.MISSING: (Op.EXISTS,),
}
_PRESENT = object()  # an asserted value only known at evaluation time (a reference), never missing
_ORDER = {Op.GT: operator.gt, Op.GTE: operator.ge, Op.LT: operator.lt, Op.LTE: operator.le}


@dataclass(frozen=True)
class Finding:
    """One thing the analysis found; `rule_ids` name the rules involved, the one it is about first."""

    kind: str
    severity: Literal["error", "warning"]
    rule_ids: tuple[str, ...]
    message: str
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "rule_ids": list(self.rule_ids),
                "message": self.message, "line": self.line}


def analyze(ruleset: Ruleset) -> list[Finding]:
    """Every finding for `ruleset`, ordered by line, then kind, then rule ids."""
    analyzer = _Analyzer(ruleset)
    findings = [*analyzer.impossible_conditions(), *analyzer.repeated_rules(), *analyzer.contradictions(),
                *analyzer.unused_derived_facts()]
    return sorted(findings, key=lambda f: (f.line, KINDS.index(f.kind), f.rule_ids, f.message))


def _finding(kind: str, rule_ids: Iterable[str], message: str, line: int) -> Finding:
    return Finding(kind, "error" if kind in ERRORS else "warning", tuple(rule_ids), message, line)


# -- tests on one field ------------------------------------------------------------------------------


def holds(test: Test, value: Any) -> bool:
    """Whether a literal test holds for `value` (None: the field is missing)."""
    if value is None:
        return test.op is Op.MISSING
    op, operand = test.op, test.value
    if op is Op.EQ:
        return value == operand
    if op is Op.NE:
        return value != operand
    if op in _ORDER:
        return _ORDER[op](value, operand)
    if op is Op.IN:
        return value in operand
    if op is Op.NOT_IN:
        return value not in operand
    if op is Op.MATCHES:
        return re.search(operand, value) is not None
    if op is Op.CONTAINS:
        return operand in value
    if op is Op.NOT_CONTAINS:
        return operand not in value
    return op is Op.EXISTS


def can_hold(tests: Iterable[Test], kind: FieldType | None, *, always_present: bool = False) -> bool:
    """Whether one field's tests can all hold at once: False only when they provably cannot."""
    tests = list(tests)
    if any(test.op is Op.MISSING for test in tests):
        # A missing field satisfies `exists: false` and nothing else, joins included.
        return not always_present and all(test.op is Op.MISSING for test in tests)
    literal = [t for t in tests if not isinstance(t.value, Ref) and t.op is not Op.EXISTS]
    candidates: set | None = {True, False} if kind == "boolean" else None
    for test in literal:
        if test.op in (Op.EQ, Op.IN):
            allowed = {test.value} if test.op is Op.EQ else set(test.value)
            candidates = allowed if candidates is None else {v for v in candidates if v in allowed}
    if candidates is not None:
        return any(all(holds(test, value) for test in literal) for value in candidates)
    if kind == "list":
        return not ({t.value for t in literal if t.op is Op.CONTAINS}
                    & {t.value for t in literal if t.op is Op.NOT_CONTAINS})
    if kind in ("number", "timestamp"):
        return _range_holds(literal)
    return True


def _range_holds(tests: list[Test]) -> bool:
    lows = [(t.value, t.op is Op.GT) for t in tests if t.op in (Op.GT, Op.GTE)]
    highs = [(t.value, t.op is Op.LT) for t in tests if t.op in (Op.LT, Op.LTE)]
    if not lows or not highs:
        return True
    low, low_strict = max(lows)  # of equal bounds the strict one is the tighter, and sorts last
    high, high_strict = min(highs, key=lambda bound: (bound[0], not bound[1]))
    if low != high:
        return low < high
    excluded = {t.value for t in tests if t.op is Op.NE} | {v for t in tests if t.op is Op.NOT_IN for v in t.value}
    return not low_strict and not high_strict and low not in excluded


def implies(tests: Iterable[Test], test: Test, kind: FieldType | None, *, always_present: bool = False) -> bool:
    """Whether one field's `tests` guarantee `test`; a join is implied only by the identical join."""
    tests = list(tests)
    if test in tests:
        return True
    if isinstance(test.value, Ref) or test.op is Op.MATCHES:
        return False
    return not any(can_hold([*tests, Test(test.field, negation, test.value)], kind, always_present=always_present)
                   for negation in _NEGATIONS[test.op])


# -- the analysis ------------------------------------------------------------------------------------


class _Analyzer:
    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.schema: FactSchema = fact_schema(ruleset.case_attributes, ruleset.event_attributes, ruleset.derived)
        self.asserts: dict[str, list[Assert]] = {}
        for rule in ruleset.rules:
            for assertion in rule.asserts():
                self.asserts.setdefault(assertion.fact, []).append(assertion)

    # -- schema helpers -----------------------------------------------------------------------------

    def kind(self, fact: str, field: str) -> FieldType | None:
        return self.schema.field_type(fact, field)

    def always_present(self, fact: str, field: str) -> bool:
        return field in ALWAYS_PRESENT.get(fact, ()) or (fact == "history" and field.startswith(COUNTS_PREFIX))

    def fields_hold(self, fact: str, tests: Iterable[Test]) -> str | None:
        """The first field whose tests cannot all hold on one fact of type `fact`, or None."""
        for field, group in _by_field(tests).items():
            if not can_hold(group, self.kind(fact, field), always_present=self.always_present(fact, field)):
                return field
        return None

    def implied(self, fact: str, tests: Iterable[Test], test: Test) -> bool:
        same = [t for t in tests if t.field == test.field]
        return implies(same, test, self.kind(fact, test.field), always_present=self.always_present(fact, test.field))

    def text(self, pattern: Pattern) -> str:
        return f"`{pattern_text(pattern, self.schema)}`"

    def tests_text(self, fact: str, tests: Iterable[Test]) -> str:
        return " and ".join(test_text(t, self.kind(fact, t.field)) for t in tests)

    # -- impossible conditions ----------------------------------------------------------------------

    def impossible_conditions(self) -> Iterator[Finding]:
        for rule in self.ruleset.rules:
            yield from self._impossible(rule, rule.when, (), "", "the rule never fires", "that alternative never holds")
            bound = [frozenset(p.fact for p in alternative if not p.negated and p.fact in SINGLETONS)
                     for alternative in rule.when]
            always_bound = frozenset.intersection(*bound) if bound else frozenset()
            sometimes_bound = frozenset().union(*bound)
            for checkpoint in rule.checkpoints():
                yield from self._impossible(
                    rule, checkpoint.until, (always_bound, sometimes_bound), f"checkpoint {checkpoint.id}: `until` ",
                    "the checkpoint never lifts", "that alternative of `until` never holds")

    def _impossible(self, rule: Rule, alternatives: tuple[Alternative, ...], bound: tuple, prefix: str,
                    all_fail: str, one_fails: str) -> Iterator[Finding]:
        reasons: dict[str, int] = {}
        failing = 0
        for alternative in alternatives:
            found = self.why_impossible(alternative, *bound)
            if found:
                failing += 1
                reasons.setdefault(found[0], found[1])
        outcome = all_fail if failing == len(alternatives) else one_fails
        for reason, line in reasons.items():
            yield _finding("impossible_condition", [rule.id], f"rule {rule.id}: {prefix}{reason}, so {outcome}",
                           line or rule.line)

    def why_impossible(self, alternative: Alternative, always_bound: frozenset[str] = frozenset(),
                       sometimes_bound: frozenset[str] = frozenset()) -> tuple[str, int] | None:
        """Why the alternative can never hold, and the line to point at; None when it may hold.
        `always_bound` / `sometimes_bound`: singleton types every / some `when` alternative binds, for `until`."""
        positives = [p for p in alternative if not p.negated]
        for fact in sorted(SINGLETONS):
            same = [p for p in positives if p.fact == fact]
            if len(same) > 1:
                names = " and ".join(self.text(p) for p in same)
                return (f"{names} each bind a `{fact}` fact, but there is one per evaluation and one fact binds at "
                        "most one name in a match", same[1].line)
            if same and fact in always_bound:
                return (f"{self.text(same[0])} binds a `{fact}` fact, but `when` already binds the only one and "
                        "`until` adds facts the match does not hold", same[0].line)
        for pattern in positives:
            field = self.fields_hold(pattern.fact, pattern.tests)
            if field is not None:
                tests = [t for t in pattern.tests if t.field == field]
                why = (" contradict each other" if len(tests) > 1
                       else f" is never true: {pattern.fact}.{field} is always present")
                return f"{self.text(pattern)} can never hold: {self.tests_text(pattern.fact, tests)}{why}", pattern.line
            if reason := self.never_asserted(pattern):
                return reason, pattern.line
        for pattern in alternative:
            if (pattern.negated and not pattern.tests and pattern.fact in SINGLETONS
                    and all(p.fact != pattern.fact for p in positives) and pattern.fact not in sometimes_bound):
                return (f"{self.text(pattern)} never holds: every evaluation has a `{pattern.fact}` fact",
                        pattern.line)
        return None

    def never_asserted(self, pattern: Pattern) -> str | None:
        """Why no asserted fact of a derived type can satisfy the pattern, or None."""
        if pattern.fact not in self.ruleset.derived:
            return None
        for field, tests in _by_field(pattern.tests).items():
            values = self.asserted_values(pattern.fact, field)
            kind = self.kind(pattern.fact, field)
            if values and not any(_satisfiable_by(tests, value, kind) for value in values):
                shown = ", ".join("missing" if v is None else "a value from the match" if v is _PRESENT
                                  else value_text(v, kind) for v in values)
                return (f"{self.text(pattern)} can never hold: every assert of {pattern.fact} sets {field} to "
                        f"{shown}, and none satisfies {self.tests_text(pattern.fact, tests)}")
        return None

    def asserted_values(self, fact: str, field: str) -> list[Any]:
        """The distinct values asserts give `field`: literals, _PRESENT for references, None when left out."""
        values: list[Any] = []
        for assertion in self.asserts.get(fact, []):
            value = dict(assertion.fields).get(field)
            value = _PRESENT if isinstance(value, Ref) else value
            if not any(v is value or (type(v) is type(value) and v == value) for v in values):
                values.append(value)
        return values

    def possible(self, alternative: Alternative) -> bool:
        return self.why_impossible(alternative) is None

    # -- duplicates and shadowing -------------------------------------------------------------------

    def repeated_rules(self) -> Iterator[Finding]:
        rules = self.ruleset.rules
        for i, first in enumerate(rules):
            for second in rules[i + 1:]:
                second_in_first = self.shadows(first, second)
                first_in_second = self.shadows(second, first)
                if second_in_first and first_in_second:
                    yield _finding("duplicate_rule", [second.id, first.id],
                                   f"rule {second.id} repeats rule {first.id}: equivalent conditions, the same effects",
                                   second.line)
                elif second_in_first or first_in_second:
                    shadowed, by = (second, first) if second_in_first else (first, second)
                    effects = "; ".join(consequence_text(c, self.schema) for c in shadowed.then)
                    yield _finding("shadowed_rule", [shadowed.id, by.id],
                                   f"rule {shadowed.id} never adds anything: whenever it fires, rule {by.id} fires "
                                   f"too with the same effect ({effects})", shadowed.line)

    def shadows(self, general: Rule, specific: Rule) -> bool:
        """Whether every firing of `specific` comes with a firing of `general` having all its effects."""
        if any(isinstance(c, ActionConstraint) and c.kind is not ConstraintKind.RECOMMEND for c in specific.then) \
                and specific.priority > general.priority:
            return False  # a higher priority settles conflicts differently: that is an effect of its own
        effects = {_effect(c) for c in general.then}
        if not all(_effect(c) in effects for c in specific.then):
            return False
        # Aliases quoted by asserted values must name the same facts in both rules.
        pinned = frozenset(v.alias for c in general.then if isinstance(c, Assert)
                           for _, v in c.fields if isinstance(v, Ref))
        return all(any(self.alternative_implies(b, a, pinned) for a in general.when) for b in specific.when)

    def alternative_implies(self, specific: Alternative, general: Alternative, pinned: frozenset[str]) -> bool:
        """Whether every match of `specific` extends to a match of `general` on the same facts."""
        wanted = [p for p in general if not p.negated]
        offered = [p for p in specific if not p.negated]

        def assign(index: int, mapping: dict[str, Pattern]) -> bool:
            if index == len(wanted):
                return self.negations_implied(specific, general, mapping)
            pattern = wanted[index]
            for candidate in offered:
                if candidate.fact != pattern.fact or any(c is candidate for c in mapping.values()):
                    continue
                if pattern.alias in pinned and candidate.alias != pattern.alias:
                    continue
                renamed = _renamed(pattern.tests, mapping)
                if (all(self.implied(pattern.fact, candidate.tests, t) for t in renamed)
                        and assign(index + 1, {**mapping, pattern.alias: candidate})):
                    return True
            return False

        return assign(0, {})

    def negations_implied(self, specific: Alternative, general: Alternative, mapping: Mapping[str, Pattern]) -> bool:
        """Whether each `no` of `general` holds whenever `specific` holds, given the positive patterns paired."""
        extra = [p for p in specific if not p.negated and not any(p is c for c in mapping.values())]
        for negation in (p for p in general if p.negated):
            renamed = _renamed(negation.tests, mapping)
            if not any(own.negated and own.fact == negation.fact
                       and all(self.implied(own.fact, renamed, t) for t in own.tests) for own in specific):
                return False
            # `no` ignores facts the match holds: one that `specific` binds beyond `general` could satisfy it.
            if any(p.fact == negation.fact and self.fields_hold(p.fact, (*p.tests, *renamed)) is None for p in extra):
                return False
        return True

    # -- contradictions ------------------------------------------------------------------------------

    def contradictions(self) -> Iterator[Finding]:
        required: dict[str, dict[str, Rule]] = {}
        forbidden: dict[str, dict[str, tuple[Rule, ActionConstraint]]] = {}
        for rule in self.ruleset.rules:
            for consequence in rule.then:
                if isinstance(consequence, ActionConstraint) and consequence.kind is ConstraintKind.REQUIRE:
                    required.setdefault(consequence.action, {}).setdefault(rule.id, rule)
                elif isinstance(consequence, ActionConstraint) and consequence.kind is ConstraintKind.FORBID:
                    forbidden.setdefault(consequence.action, {}).setdefault(rule.id, (rule, consequence))
        for action, requiring in required.items():
            for rule in requiring.values():
                for other, forbid in forbidden.get(action, {}).values():
                    if rule.priority != other.priority or not self.fire_together(rule, other):
                        continue
                    if rule is other:
                        yield _finding("contradiction", [rule.id], f"rule {rule.id} both requires and forbids action "
                                       f"{action}, so forbidden wins and the requirement is never shown", forbid.line)
                    else:
                        yield _finding(
                            "contradiction", [rule.id, other.id],
                            f"rule {rule.id} requires action {action} and rule {other.id} forbids it, both at "
                            f"priority {rule.priority}, and they can fire together: forbidden wins the tie; give "
                            "them different priorities to say which should", forbid.line)

    def fire_together(self, first: Rule, second: Rule) -> bool:
        """Whether some alternative of each may hold for one case (True unless provably not)."""
        return any(self.possible(a) and self.possible(b) and self.jointly_possible(a, b)
                   for a in first.when for b in second.when)

    def jointly_possible(self, first: Alternative, second: Alternative) -> bool:
        for fact in SINGLETONS:
            merged = [t for alternative in (first, second) for p in alternative
                      if p.fact == fact and not p.negated for t in p.tests]
            if self.fields_hold(fact, merged) is not None:
                return False
        return not (self.excludes(first, second) or self.excludes(second, first))

    def excludes(self, positive_side: Alternative, negative_side: Alternative) -> bool:
        """Whether a fact `positive_side` needs is one a `no` of `negative_side` forbids."""
        for pattern in (p for p in positive_side if not p.negated):
            for negation in (p for p in negative_side if p.negated and p.fact == pattern.fact):
                if any(isinstance(t.value, Ref) for t in negation.tests):
                    continue
                if not all(self.implied(pattern.fact, pattern.tests, t) for t in negation.tests):
                    continue
                # The `no` ignores facts its own match binds: the needed fact might be one of them.
                if all(self.fields_hold(p.fact, (*p.tests, *pattern.tests)) is not None
                       for p in negative_side if not p.negated and p.fact == pattern.fact):
                    return True
        return False

    # -- derived facts -------------------------------------------------------------------------------

    def unused_derived_facts(self) -> Iterator[Finding]:
        matched = {p.fact for rule in self.ruleset.rules for p in _patterns(rule)}
        for fact in self.ruleset.derived:
            producers = [rule for rule in self.ruleset.rules if any(a.fact == fact for a in rule.asserts())]
            if not producers:
                yield _finding("unasserted_derived_fact", [], f"derived fact {fact} is declared but no rule asserts "
                               "it", 0)
            elif fact not in matched:
                names = ", ".join(rule.id for rule in producers)
                yield _finding("unused_derived_fact", [rule.id for rule in producers],
                               f"derived fact {fact} is asserted by rule(s) {names} but no rule's `when` or `until` "
                               "matches it", min(a.line for a in self.asserts[fact]))


def _satisfiable_by(tests: list[Test], value: Any, kind: FieldType | None) -> bool:
    """Whether one field's tests can hold when an assert gives it `value` (_PRESENT: known only at evaluation)."""
    if value is _PRESENT:
        return can_hold(tests, kind, always_present=True)
    if value is None:
        return all(test.op is Op.MISSING for test in tests)
    # A join's other side is unknown here: only its need for a present field counts, and it is present.
    return all(holds(test, value) for test in tests if not isinstance(test.value, Ref))


def _by_field(tests: Iterable[Test]) -> dict[str, list[Test]]:
    groups: dict[str, list[Test]] = {}
    for test in tests:
        groups.setdefault(test.field, []).append(test)
    return groups


def _renamed(tests: Sequence[Test], mapping: Mapping[str, Pattern]) -> tuple[Test, ...]:
    """`tests` with joins on the general rule's names rewritten to the names they are paired with."""
    renamed = []
    for test in tests:
        value = test.value
        if isinstance(value, Ref) and value.alias in mapping:
            value = Ref(mapping[value.alias].alias, value.field, value.offset)
        renamed.append(Test(test.field, test.op, value))
    return tuple(renamed)


def _effect(consequence: Consequence) -> tuple:
    """What a consequence changes in an outcome, for comparing rules: not its wording."""
    if isinstance(consequence, Flag):
        return ("flag", consequence.code, consequence.severity)
    if isinstance(consequence, Checkpoint):
        return ("checkpoint", consequence.id, consequence.blocks)
    if isinstance(consequence, ActionConstraint):
        return (consequence.kind, consequence.action)
    return ("assert", consequence.fact, consequence.fields)


def _patterns(rule: Rule) -> Iterator[Pattern]:
    for alternative in rule.when:
        yield from alternative
    for checkpoint in rule.checkpoints():
        for alternative in checkpoint.until:
            yield from alternative

