"""From ruleset YAML to a validated Ruleset, or every problem found, each pointing at its line.

One walk over the document checks its shape (keys, operators, values) and its meaning (fact types
and fields, type agreement, names, actions, derived facts, cycles, engine limits). Problems are
collected, not raised one at a time, so an officer sees them all at once.
"""

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import product
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInput
from app.rules.facts import BASE_FACTS, FactSchema, fact_schema
from app.rules.loader import LineDict, LineList, YamlProblem, line_of, load_yaml
from app.rules.model import (
    FIELD_TYPES,
    JOIN_OPS,
    ORDERING_OPS,
    Action,
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
    Severity,
    Test,
)

# Limits of the engine (durable-rules 2.0.28) that a rule must respect; see app/rules/engine.py.
MAX_PATTERNS = 15  # facts in one match, `no` and `until` patterns included (engine frames hold 16)
MAX_JOINS_PER_PATTERN = 24  # comparisons with other facts in one pattern (engine sequences hold 32)
MAX_ALTERNATIVES = 64  # alternatives a rule's `any`s expand to

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
REF = re.compile(
    r"^\$(?P<alias>[A-Za-z][A-Za-z0-9_]*)\.(?P<field>[^\s+]+?)"
    r"(?:\s*(?P<sign>[+-])\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>days?|hours?|minutes?|seconds?)?)?\s*$"
)
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
UNIT_SECONDS = {"day": 86_400.0, "hour": 3_600.0, "minute": 60.0, "second": 1.0}
OPS_BY_TYPE: dict[FieldType, frozenset[Op]] = {
    "number": frozenset({Op.EQ, Op.NE, *ORDERING_OPS, Op.IN, Op.NOT_IN, Op.EXISTS, Op.MISSING}),
    "timestamp": frozenset({Op.EQ, Op.NE, *ORDERING_OPS, Op.EXISTS, Op.MISSING}),
    "text": frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.MATCHES, Op.EXISTS, Op.MISSING}),
    "boolean": frozenset({Op.EQ, Op.NE, Op.EXISTS, Op.MISSING}),
    "list": frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.EXISTS, Op.MISSING}),
}
OPERATOR_WORDS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "exists", "matches", "contains",
                  "not_contains")
CONSEQUENCES = ("flag", "checkpoint", "require_action", "forbid_action", "recommend_action", "assert")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ruleset, where it is, and in which rule."""

    source: str
    line: int
    rule_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: " + (f"rule {self.rule_id}: " if self.rule_id else "") + self.message


class RulesetInvalid(InvalidInput):
    """A ruleset that does not validate; `problems` lists every finding."""

    code = "invalid_ruleset"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            f"the ruleset has {len(problems)} problem(s); first: {problems[0]}",
            detail=[{"field": f"{p.source}, line {p.line}" + (f", rule {p.rule_id}" if p.rule_id else ""),
                     "problem": p.message,
                     "type": "ruleset_problem"} for p in problems],
        )


def load_ruleset(text: str, *, source: str = "<ruleset>") -> Ruleset:
    """The validated ruleset in `text`; raises RulesetInvalid with every problem found."""
    try:
        document = load_yaml(text)
    except YamlProblem as exc:
        raise RulesetInvalid([Problem(source, exc.line, None, exc.message)]) from None
    checker = _Checker(source)
    ruleset = checker.ruleset(document, text)
    if checker.problems:
        raise RulesetInvalid(checker.problems)
    assert ruleset is not None
    return ruleset


def load_ruleset_file(path: Path) -> Ruleset:
    """The validated ruleset in the file at `path` (problems name the file)."""
    return load_ruleset(path.read_text(encoding="utf-8"), source=str(path))


class _Skip(Exception):
    """Raised after a problem has been recorded, to abandon the current element."""


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._seen: set[tuple[int, str | None, str]] = set()
        self.rule_id: str | None = None
        self.schema = FactSchema({})
        self.action_ids: set[str] = set()

    # -- reporting ---------------------------------------------------------------------------------

    def problem(self, line: int, message: str) -> None:
        key = (line, self.rule_id, message)
        if key not in self._seen:  # the same pattern appears in several expanded alternatives
            self._seen.add(key)
            self.problems.append(Problem(self.source, line, self.rule_id, message))

    def fail(self, line: int, message: str) -> _Skip:
        self.problem(line, message)
        return _Skip()

    def mapping(self, value: Any, line: int, what: str) -> LineDict:
        if value is None:
            value = LineDict()
            value.line, value.lines = line, {}
        if not isinstance(value, dict):
            raise self.fail(line, f"{what} must be a mapping, not {_kind(value)}")
        return value

    def sequence(self, value: Any, line: int, what: str) -> LineList:
        if not isinstance(value, list):
            raise self.fail(line, f"{what} must be a list, not {_kind(value)}")
        return value

    def text(self, container: Mapping, key: str, what: str, *, required: bool = True, default: str = "") -> str:
        value = container.get(key)
        if value is None:
            if required:
                raise self.fail(line_of(container), f"{what} needs `{key}`")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(line_of(container, key), f"`{key}` must be non-empty text")
        return value.strip()

    def known_keys(self, container: Mapping, allowed: tuple[str, ...], what: str) -> None:
        for key in container:
            if key not in allowed:
                self.problem(line_of(container, key), f"unknown key {key!r} in {what}; expected one of "
                                                      + ", ".join(allowed))

    # -- the document --------------------------------------------------------------------------------

    def ruleset(self, document: Any, text: str) -> Ruleset | None:
        try:
            top = self.mapping(document, 1, "a ruleset")
        except _Skip:
            return None
        self.known_keys(top, ("name", "case_type", "description", "actions", "case_attributes",
                              "event_attributes", "derived", "rules"), "the ruleset")
        try:
            name = self.identifier(top, "name", "the ruleset")
            case_type = self.text(top, "case_type", "the ruleset")
        except _Skip:
            name, case_type = "", ""
        description = self.optional_text(top, "description")
        actions = self.actions(top.get("actions"), line_of(top, "actions"))
        case_attributes = self.attributes(top, "case_attributes", "case")
        event_attributes = self.attributes(top, "event_attributes", "event")
        derived = self.derived(top.get("derived"), line_of(top, "derived"))
        self.schema = fact_schema(case_attributes, event_attributes, derived)
        self.action_ids = {action.id for action in actions}
        rules = self.rules(top.get("rules"), line_of(top, "rules"))
        self.rule_id = None
        self.check_derivations(rules, derived, line_of(top, "derived"))
        if self.problems:
            return None
        return Ruleset(name=name, case_type=case_type, description=description, actions=actions,
                       case_attributes=case_attributes, event_attributes=event_attributes, derived=derived,
                       rules=rules, version=hashlib.sha256(text.encode()).hexdigest(), source=text)

    def identifier(self, container: Mapping, key: str, what: str) -> str:
        value = self.text(container, key, what)
        if not NAME.match(value):
            raise self.fail(line_of(container, key), f"`{key}` {value!r} must start with a letter and hold only "
                                                     "letters, digits and underscores")
        return value

    def optional_text(self, container: Mapping, key: str) -> str:
        try:
            return self.text(container, key, "", required=False)
        except _Skip:
            return ""

    def actions(self, value: Any, line: int) -> tuple[Action, ...]:
        if value is None:
            return ()
        actions: list[Action] = []
        try:
            items = self.sequence(value, line, "`actions`")
        except _Skip:
            return ()
        for index, item in enumerate(items):
            try:
                entry = self.mapping(item, line_of(items, index), "an action")
                self.known_keys(entry, ("id", "label", "description"), "an action")
                action_id = self.text(entry, "id", "an action")
                if any(a.id == action_id for a in actions):
                    raise self.fail(line_of(entry, "id"), f"action {action_id!r} is listed twice")
                actions.append(Action(action_id, self.text(entry, "label", "an action", required=False,
                                                           default=action_id),
                                      self.optional_text(entry, "description")))
            except _Skip:
                continue
        return tuple(actions)

    def attributes(self, top: Mapping, key: str, fact: str) -> dict[str, FieldType]:
        if top.get(key) is None:
            return {}
        try:
            declared = self.field_types(top[key], line_of(top, key), f"`{key}`")
        except _Skip:
            return {}
        base = {doc.name for doc in BASE_FACTS[fact]}
        for name in declared:
            if name in base:
                self.problem(line_of(top[key], name), f"{name!r} is a built-in {fact} field; pick another name")
        return {name: kind for name, kind in declared.items() if name not in base}

    def field_types(self, value: Any, line: int, what: str) -> dict[str, FieldType]:
        entries = self.mapping(value, line, what)
        types: dict[str, FieldType] = {}
        for name, kind in entries.items():
            if not FIELD.match(name):
                self.problem(line_of(entries, name), f"field name {name!r} must start with a letter and hold only "
                                                     "letters, digits, _ . : -")
            elif kind not in FIELD_TYPES:
                self.problem(line_of(entries, name), f"field {name!r} has unknown type {kind!r}; use one of "
                                                     + ", ".join(FIELD_TYPES))
            else:
                types[name] = kind
        return types

    def derived(self, value: Any, line: int) -> dict[str, dict[str, FieldType]]:
        if value is None:
            return {}
        try:
            entries = self.mapping(value, line, "`derived`")
        except _Skip:
            return {}
        derived: dict[str, dict[str, FieldType]] = {}
        for name, fields in entries.items():
            if not NAME.match(name):
                self.problem(line_of(entries, name), f"derived fact {name!r} must be a simple name")
            elif name in BASE_FACTS:
                self.problem(line_of(entries, name), f"{name!r} is a built-in fact type; pick another name")
            else:
                try:
                    derived[name] = self.field_types(fields, line_of(entries, name), f"derived fact {name!r}")
                except _Skip:
                    continue
        return derived

    # -- rules ---------------------------------------------------------------------------------------

    def rules(self, value: Any, line: int) -> tuple[Rule, ...]:
        if value is None:
            self.problem(line or 1, "the ruleset needs `rules`")
            return ()
        try:
            items = self.sequence(value, line, "`rules`")
        except _Skip:
            return ()
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        checkpoints: dict[str, str] = {}
        for index, item in enumerate(items):
            self.rule_id = None
            rule = self.rule(item, line_of(items, index))
            if rule is None:
                continue
            if rule.id in seen:
                self.rule_id = rule.id
                self.problem(rule.line, f"duplicate rule id (first at line {seen[rule.id]})")
                continue
            seen[rule.id] = rule.line
            for checkpoint in rule.checkpoints():
                if checkpoint.id in checkpoints:
                    self.rule_id = rule.id
                    self.problem(checkpoint.line, f"checkpoint {checkpoint.id!r} is already defined by rule "
                                                  f"{checkpoints[checkpoint.id]}")
                checkpoints[checkpoint.id] = rule.id
            rules.append(rule)
        return tuple(rules)

    def rule(self, item: Any, line: int) -> Rule | None:
        try:
            entry = self.mapping(item, line, "a rule")
            rule_id = self.text(entry, "id", "a rule")
            if not re.match(r"^[A-Za-z][A-Za-z0-9_.-]*$", rule_id):
                raise self.fail(line_of(entry, "id"), f"rule id {rule_id!r} must start with a letter and hold only "
                                                      "letters, digits, _ . -")
            self.rule_id = rule_id
            self.known_keys(entry, ("id", "description", "priority", "when", "then"), "a rule")
            priority = entry.get("priority", 0)
            if not isinstance(priority, int) or isinstance(priority, bool):
                self.problem(line_of(entry, "priority"), "`priority` must be a whole number")
                priority = 0
            if "when" not in entry:
                raise self.fail(entry.line, "a rule needs `when`")
            if "then" not in entry:
                raise self.fail(entry.line, "a rule needs `then`")
            when = self.conditions(entry["when"], line_of(entry, "when"), bound={})
            if not when:
                raise _Skip()
            then = self.consequences(entry["then"], line_of(entry, "then"), when)
            return Rule(id=rule_id, description=self.optional_text(entry, "description"), priority=priority,
                        when=when, then=then, line=entry.line)
        except _Skip:
            return None

    # -- conditions ----------------------------------------------------------------------------------

    def conditions(self, value: Any, line: int, *, bound: Mapping[str, str],
                   reserved: frozenset[str] = frozenset()) -> tuple[Alternative, ...]:
        """The DNF of a `when` (or `until`) list; `bound` maps names already bound to their fact types,
        `reserved` names some alternative of `when` binds, which `until` may not bind again."""
        items = self.sequence(value, line, "conditions")
        if not items:
            raise self.fail(line, "conditions must name at least one pattern")
        groups = [self.element(item, line_of(items, index)) for index, item in enumerate(items)]
        alternatives = []
        for combination in product(*groups):
            flat = tuple(pattern for part in combination for pattern in part)
            alternatives.append(flat)
            if len(alternatives) > MAX_ALTERNATIVES:
                raise self.fail(line, f"the `any`s expand to more than {MAX_ALTERNATIVES} alternatives; split the rule")
        return tuple(self.resolve(alternative, bound, line, reserved) for alternative in alternatives)

    def element(self, item: Any, line: int) -> list[tuple[dict, ...]]:
        """The alternatives of one `when` element, each a tuple of unresolved pattern specs."""
        entry = self.mapping(item, line, "a condition")
        if len(entry) != 1:
            raise self.fail(entry.line, "each condition names one fact type (or `any` / `all`), e.g. `- case: {...}`")
        key, body = next(iter(entry.items()))
        if key == "any":
            options = self.sequence(body, line_of(entry, key), "`any`")
            if not options:
                raise self.fail(line_of(entry, key), "`any` needs at least one alternative")
            return [alternative for index, option in enumerate(options)
                    for alternative in self.element(option, line_of(options, index))]
        if key == "all":
            parts = self.sequence(body, line_of(entry, key), "`all`")
            groups = [self.element(part, line_of(parts, index)) for index, part in enumerate(parts)]
            return [tuple(spec for part in combination for spec in part) for combination in product(*groups)]
        negated = key.startswith("no ")
        fact = key[3:].strip() if negated else key
        return [({"fact": fact, "negated": negated, "body": body, "line": line_of(entry, key)},)]

    def resolve(self, specs: tuple[dict, ...], bound: Mapping[str, str], line: int,
                reserved: frozenset[str]) -> Alternative:
        names = dict(bound)
        patterns = []
        for index, spec in enumerate(specs):
            try:
                patterns.append(self.pattern(spec, names, index, reserved))
            except _Skip:
                continue
        if sum(1 for p in patterns) + len(bound) > MAX_PATTERNS:
            self.problem(line, f"a match may bind at most {MAX_PATTERNS} facts (`no` and `until` patterns "
                               "included); split the rule")
        return tuple(patterns)

    def pattern(self, spec: dict, names: dict[str, str], index: int, reserved: frozenset[str]) -> Pattern:
        fact, line = spec["fact"], spec["line"]
        if fact not in self.schema.types:
            known = ", ".join(sorted(self.schema.types))
            raise self.fail(line, f"unknown fact type {fact!r}; known: {known}")
        body = self.mapping(spec["body"], line, f"the `{fact}` pattern")
        alias = body.get("as", fact)
        if spec["negated"]:
            if "as" in body:
                self.problem(line_of(body, "as"), "a `no` pattern binds no fact, so it takes no `as`")
            alias = f"_no{index}"
        elif not isinstance(alias, str) or not NAME.match(alias):
            raise self.fail(line_of(body, "as"), f"`as` {alias!r} must be a simple name")
        elif alias in names:
            hint = " (name each with `as:`)" if "as" not in body else ""
            raise self.fail(line, f"the name {alias!r} is bound twice in this rule{hint}")
        elif alias in reserved:
            raise self.fail(line, f"the name {alias!r} is bound by `when`; give this pattern another with `as:`")
        tests: list[Test] = []
        for name, condition in body.items():
            if name == "as":
                continue
            try:
                tests.extend(self.field_tests(fact, name, condition, line_of(body, name), names))
            except _Skip:
                continue
        if sum(isinstance(t.value, Ref) for t in tests) > MAX_JOINS_PER_PATTERN:
            self.problem(line, f"a pattern may compare with other facts at most {MAX_JOINS_PER_PATTERN} times")
        if not spec["negated"]:
            names[alias] = fact
        return Pattern(fact=fact, alias=alias, tests=tuple(tests), negated=spec["negated"], line=line)

    def field_tests(self, fact: str, name: str, condition: Any, line: int, names: Mapping[str, str]) -> list[Test]:
        kind = self.schema.field_type(fact, name)
        if kind is None:
            fields = ", ".join(sorted(self.schema.types.get(fact, {})))
            raise self.fail(line, f"`{fact}` has no field {name!r}; its fields: {fields}")
        if isinstance(condition, list):
            raise self.fail(line, f"to test {name!r} against several values use `in: [...]`")
        if not isinstance(condition, dict):
            return [self.test(fact, name, kind, Op.EQ, condition, line, names)]
        if not condition:
            raise self.fail(line, f"no operator given for {name!r}")
        tests = []
        for word, operand in condition.items():
            op_line = line_of(condition, word)
            if word == "between":
                if not isinstance(operand, list) or len(operand) != 2:
                    raise self.fail(op_line, "`between` takes a list of two values: [low, high]")
                tests += [self.test(fact, name, kind, Op.GTE, operand[0], op_line, names),
                          self.test(fact, name, kind, Op.LTE, operand[1], op_line, names)]
            elif word == "exists":
                if not isinstance(operand, bool):
                    raise self.fail(op_line, "`exists` takes true or false")
                tests.append(self.test(fact, name, kind, Op.EXISTS if operand else Op.MISSING, None, op_line, names))
            elif word in OPERATOR_WORDS:
                tests.append(self.test(fact, name, kind, Op(word), operand, op_line, names))
            else:
                raise self.fail(op_line, f"unknown operator {word!r}; use one of " + ", ".join(OPERATOR_WORDS))
        return tests

    def test(self, fact: str, name: str, kind: FieldType, op: Op, operand: Any, line: int,
             names: Mapping[str, str]) -> Test:
        if op not in OPS_BY_TYPE[kind]:
            allowed = ", ".join(sorted(o.value for o in OPS_BY_TYPE[kind]))
            raise self.fail(line, f"`{op.value}` does not apply to {name!r}, a {kind}; use one of {allowed}")
        if op in (Op.EXISTS, Op.MISSING):
            return Test(name, op, None, line)
        if op in (Op.IN, Op.NOT_IN):
            if not isinstance(operand, list) or not operand:
                raise self.fail(line, f"`{op.value}` takes a non-empty list of values")
            values = tuple(self.literal(name, kind, item, line) for item in operand)
            return Test(name, op, tuple(sorted(set(values), key=repr)), line)
        if op == Op.MATCHES:
            if not isinstance(operand, str):
                raise self.fail(line, "`matches` takes a regular expression as text")
            try:
                re.compile(operand)
            except re.error as exc:
                raise self.fail(line, f"invalid regular expression {operand!r}: {exc}") from None
            return Test(name, op, operand, line)
        if op in (Op.CONTAINS, Op.NOT_CONTAINS):
            if not isinstance(operand, str):
                raise self.fail(line, f"`{op.value}` takes one text value")
            return Test(name, op, operand, line)
        if isinstance(operand, str) and operand.startswith("$$"):  # `$$` escapes a text starting with `$`
            operand = operand[1:]
        elif isinstance(operand, str) and operand.startswith("$"):
            return Test(name, op, self.reference(operand, kind, op, line, names), line)
        return Test(name, op, self.literal(name, kind, operand, line), line)

    def literal(self, name: str, kind: FieldType, value: Any, line: int) -> Any:
        if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if kind == "text" and isinstance(value, str):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "timestamp" and isinstance(value, str):
            parsed = _timestamp(value)
            if parsed is None:
                raise self.fail(line, f"{value!r} is not a date or an ISO-8601 time with an offset "
                                      "(2025-01-31, 2025-01-31T12:00:00Z)")
            return parsed
        raise self.fail(line, f"type mismatch: {name!r} is a {kind}, compared with {_kind(value)} {value!r}")

    def reference(self, text: str, kind: FieldType, op: Op, line: int, names: Mapping[str, str]) -> Ref:
        match = REF.match(text)
        if not match:
            raise self.fail(line, f"{text!r} is not a reference; write `$name.field`, optionally `+ 2 days`")
        alias, field, unit = match["alias"], match["field"], match["unit"]
        if alias not in names:
            bound = ", ".join(sorted(n for n in names)) or "none"
            raise self.fail(line, f"{text!r} refers to {alias!r}, which no earlier pattern binds (bound: {bound})")
        other = self.schema.field_type(names[alias], field)
        if other is None:
            raise self.fail(line, f"{text!r}: `{names[alias]}` has no field {field!r}")
        if other != kind:
            raise self.fail(line, f"type mismatch: a {kind} compared with {alias}.{field}, a {other}")
        if op not in JOIN_OPS:
            raise self.fail(line, f"`{op.value}` cannot compare with another fact")
        offset = 0.0
        if match["amount"] is not None:
            if kind not in ("number", "timestamp"):
                raise self.fail(line, f"an offset applies to numbers and timestamps, not to a {kind}")
            if kind == "timestamp" and unit is None:
                raise self.fail(line, "an offset on a time needs a unit: days, hours, minutes or seconds")
            if kind == "number" and unit is not None:
                raise self.fail(line, "an offset on a number takes no unit")
            offset = float(match["amount"]) * (UNIT_SECONDS[unit.rstrip("s")] if unit else 1.0)
            if match["sign"] == "-":
                offset = -offset
        return Ref(alias, field, offset)

    # -- consequences --------------------------------------------------------------------------------

    def consequences(self, value: Any, line: int, when: tuple[Alternative, ...]) -> tuple[Consequence, ...]:
        items = self.sequence(value, line, "`then`")
        if not items:
            raise self.fail(line, "`then` needs at least one consequence")
        common = _common_names(when)
        result: list[Consequence] = []
        for index, item in enumerate(items):
            try:
                entry = self.mapping(item, line_of(items, index), "a consequence")
                if len(entry) != 1 or next(iter(entry)) not in CONSEQUENCES:
                    raise self.fail(entry.line, "a consequence is one of " + ", ".join(CONSEQUENCES))
                kind, body = next(iter(entry.items()))
                body = self.mapping(body, line_of(entry, kind), f"`{kind}`")
                result.append(self.consequence(kind, body, common, when))
            except _Skip:
                continue
        return tuple(result)

    def consequence(self, kind: str, body: LineDict, common: Mapping[str, str],
                    when: tuple[Alternative, ...]) -> Consequence:
        if kind == "flag":
            self.known_keys(body, ("code", "severity", "message"), "a flag")
            severity = body.get("severity", "warning")
            if severity not in tuple(Severity):
                raise self.fail(line_of(body, "severity"), f"severity {severity!r}: use info, warning or critical")
            return Flag(self.identifier(body, "code", "a flag"), Severity(severity),
                        self.template(body, "message", common), body.line)
        if kind == "checkpoint":
            self.known_keys(body, ("id", "blocks", "until", "message"), "a checkpoint")
            blocks = self.action_list(body, "blocks")
            until: tuple[Alternative, ...] = ()
            if body.get("until") is not None:
                when_names = frozenset(p.alias for alternative in when for p in alternative)
                until = self.conditions(body["until"], line_of(body, "until"), bound=common, reserved=when_names)
            if until and max(len(w) for w in when) + max(len(u) for u in until) > MAX_PATTERNS:
                self.problem(line_of(body, "until"), f"`when` and `until` together may bind at most {MAX_PATTERNS} "
                                                     "facts")
            return Checkpoint(self.identifier(body, "id", "a checkpoint"), blocks, until,
                              self.template(body, "message", common), body.line)
        if kind == "assert":
            self.known_keys(body, ("fact", "fields"), "`assert`")
            return self.assertion(body, common)
        self.known_keys(body, ("action", "reason", "weight") if kind == "recommend_action" else ("action", "reason"),
                        f"`{kind}`")
        action = self.text(body, "action", f"`{kind}`")
        if action not in self.action_ids:
            raise self.fail(line_of(body, "action"), f"unknown action {action!r}; add it to `actions`")
        weight = body.get("weight", 1.0)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise self.fail(line_of(body, "weight"), "`weight` must be a positive number")
        return ActionConstraint(ConstraintKind(kind), action, self.template(body, "reason", common), float(weight),
                                body.line)

    def action_list(self, body: LineDict, key: str) -> tuple[str, ...]:
        items = self.sequence(body.get(key), line_of(body, key) or body.line, f"`{key}`")
        for index, action in enumerate(items):
            if action not in self.action_ids:
                self.problem(line_of(items, index), f"unknown action {action!r}; add it to `actions`")
        return tuple(items)

    def template(self, body: LineDict, key: str, common: Mapping[str, str]) -> str:
        text = self.text(body, key, "this consequence")
        for match in PLACEHOLDER.finditer(text):
            if match[1] is None:
                continue
            alias, _, field = match[1].strip().partition(".")
            if alias not in common:
                self.problem(line_of(body, key), f"{{{match[1]}}} quotes {alias!r}, which not every match binds")
            elif self.schema.field_type(common[alias], field) is None:
                self.problem(line_of(body, key), f"{{{match[1]}}}: `{common[alias]}` has no field {field!r}")
        return text

    def assertion(self, body: LineDict, common: Mapping[str, str]) -> Assert:
        fact = self.text(body, "fact", "`assert`")
        fields = self.schema.types.get(fact)
        if fact in BASE_FACTS or fields is None:
            raise self.fail(line_of(body, "fact"), f"{fact!r} is not a declared derived fact; add it to `derived`")
        given = self.mapping(body.get("fields"), line_of(body, "fields") or body.line, "`fields`")
        values: list[tuple[str, Any]] = []
        for name, value in given.items():
            line = line_of(given, name)
            if name not in fields:
                self.problem(line, f"derived fact {fact!r} has no field {name!r}")
                continue
            try:
                if isinstance(value, str) and value.startswith("$"):
                    values.append((name, self.reference(value, fields[name], Op.EQ, line, common)))
                else:
                    values.append((name, self.literal(name, fields[name], value, line)))
            except _Skip:
                continue
        return Assert(fact, tuple(sorted(values)), body.line)

    # -- the whole ruleset ---------------------------------------------------------------------------

    def check_derivations(self, rules: tuple[Rule, ...], derived: Mapping[str, Any], line: int) -> None:
        producers: dict[str, list[Rule]] = {}
        for rule in rules:
            for assertion in rule.asserts():
                producers.setdefault(assertion.fact, []).append(rule)
        for fact in derived:
            if fact not in producers:
                self.problem(line, f"derived fact {fact!r} is declared but no rule asserts it")
        for rule in rules:
            for pattern in _patterns(rule):
                if pattern.fact in derived and pattern.fact not in producers:
                    self.rule_id = rule.id
                    self.problem(pattern.line, f"matches derived fact {pattern.fact!r}, which no rule produces")
        self.rule_id = None
        cycle = _derivation_cycle(rules)
        if cycle:
            involved = sorted(rule.id for rule in rules if any(a.fact in cycle for a in rule.asserts()))
            self.problem(line, "derived facts depend on themselves: " + " -> ".join(cycle)
                         + f" (rules {', '.join(involved)})")


def derivation_inputs(rule: Rule) -> set[str]:
    """The fact types a rule reads, in `when` or a checkpoint's `until`, positively or in `no`: every one
    must be complete before the rule fires."""
    return {pattern.fact for pattern in _patterns(rule)}


def _derivation_cycle(rules: tuple[Rule, ...]) -> list[str]:
    """A derived fact type that depends on itself, as the path `a -> b -> a`; empty when there is none."""
    graph: dict[str, set[str]] = {}
    for rule in rules:
        for assertion in rule.asserts():
            graph.setdefault(assertion.fact, set()).update(derivation_inputs(rule))

    def visit(fact: str, path: list[str]) -> list[str]:
        if fact in path:
            return [*path[path.index(fact):], fact]
        for nxt in sorted(graph.get(fact, ())):
            if found := visit(nxt, [*path, fact]):
                return found
        return []

    for fact in sorted(graph):
        if found := visit(fact, []):
            return found
    return []


def _patterns(rule: Rule) -> Iterator[Pattern]:
    for alternative in rule.when:
        yield from alternative
    for checkpoint in rule.checkpoints():
        for alternative in checkpoint.until:
            yield from alternative


def _common_names(when: tuple[Alternative, ...]) -> dict[str, str]:
    """Names every alternative binds, to the same fact type: what consequences may quote."""
    per_alternative = [{p.alias: p.fact for p in alternative if not p.negated} for alternative in when]
    first = per_alternative[0] if per_alternative else {}
    return {alias: fact for alias, fact in first.items() if all(names.get(alias) == fact for names in per_alternative)}


def _timestamp(text: str) -> float | None:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__
