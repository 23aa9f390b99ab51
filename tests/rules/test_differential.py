"""Differential test: the production evaluator (engine plus composition) against the plain-Python reference.

Random rulesets are drawn as YAML documents and go through the validator; random cases come from
small value domains, so that matches, ties, equal times and missing values actually happen.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import count
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules.compiler import compile_ruleset
from app.rules.evaluation import Evaluator, RuleConsequenceError
from app.rules.facts import CaseData, EventData, fact_schema
from app.rules.model import Ruleset
from app.rules.validator import load_ruleset
from tests.rules.reference import reference_evaluate

T0 = datetime(2025, 1, 1, tzinfo=UTC)
EVENT_TYPES = ("submitted", "reviewed", "approved", "rejected")
ACTORS = ("alice", "bob")
TAGS = ("a", "b", "c")
ACTIONS = ("approve", "pay", "escalate", "close")
FLAG_CODES = ("f1", "f2", "f3")
CASE_ATTRIBUTES = {"amount": "number", "region": "text", "vip": "boolean", "due": "timestamp", "tags": "list"}
EVENT_ATTRIBUTES = {"amount": "number", "channel": "text", "urgent": "boolean", "due": "timestamp", "docs": "list"}
DERIVED_FIELDS = {"n": "number", "label": "text", "at": "timestamp", "ok": "boolean", "tags": "list"}
DERIVED_TYPES = ("d1", "d2", "d3")
BASE_TYPES = ("case", "event", "history")

_SCHEMA = fact_schema(CASE_ATTRIBUTES, EVENT_ATTRIBUTES, dict.fromkeys(DERIVED_TYPES, DERIVED_FIELDS))
FIELDS: dict[str, dict[str, str]] = {fact: dict(types) for fact, types in _SCHEMA.types.items()}
FIELDS["history"].update({f"counts.{kind}": "number" for kind in (*EVENT_TYPES, "closed")})
# Fields every fact of the type has: quoting them never fails.
PRESENT = {
    "case": ("case_id", "case_type", "status", "opened_at", "age_days"),
    "event": ("event_id", "type", "at", "index", "age_days"),
    "history": ("event_count", "days_open", *(f"counts.{kind}" for kind in (*EVENT_TYPES, "closed"))),
}

NUMBERS: dict[str, tuple[float, ...]] = {
    # -0.0 and the exponent-only doubles (1e-05, 1e+16) once crashed or fooled the engine: kept in the pool.
    "amount": (0, -0.0, 100, 250, 1000, 1e-05, 1e16),
    "n": (0, 1, 100, 250),
    "index": (0, 1, 2, 3),
    "event_count": (0, 1, 2, 3),
    "age_days": (0, 1, 2.5, 3, 4),
    "days_open": (3, 3.5, 4),
    "days_since_last_event": (0, 0.5, 1, 2),
    "hours_since_last_event": (0, 12, 24, 48),
}
COUNT_VALUES = (0, 1, 2)
TEXTS: dict[str, tuple[str, ...]] = {
    "type": EVENT_TYPES,
    "last_event_type": EVENT_TYPES,
    "actor": ACTORS,
    "last_actor": ACTORS,
    "status": ("open", "closed"),
    "case_type": ("claim", "other"),
    "case_id": ("C1", "C2"),
    "event_id": ("e1", "e2", "e3"),
    "region": ("north", "south", "east"),
    "channel": ("web", "phone"),
    "label": ("x", "y"),
}
REGEXES = ("^sub", "ed$", "e", "^(north|east)$", "[0-9]", "o.*e", "^$", "ALICE|bob", r"\d$")
# A 12-hour grid from T0, written as dates, UTC times and times with an offset (all on the grid).
GRID = tuple(T0 + timedelta(hours=12 * k) for k in range(9))
NUMBER_OFFSETS = (" + 5", " - 1", " + 0.5", " + 100", " - 250")
TIME_OFFSETS = (" + 2 days", " - 3 hours", " + 12 hours", " - 1 day", " + 30 minutes", " + 0 seconds")
OPERATORS = {
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "exists"),
    "timestamp": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "exists"),
    "text": ("eq", "ne", "in", "not_in", "matches", "exists"),
    "boolean": ("eq", "ne", "exists"),
    "list": ("contains", "not_contains", "exists"),
}
JOINABLE = frozenset({"eq", "ne", "gt", "gte", "lt", "lte"})
EVENT_COUNTS = (0, 1, 2, 3, 3, 4, 4, 5, 6)  # the reference enumerates assignments: keep cases small
OTHER_RULES = (1, 3)  # rules besides the producers of derived types, at least and at most


# -- rulesets -----------------------------------------------------------------------------------------


def timestamp_text(moment: datetime, style: int) -> str:
    if style == 0 and moment.hour == 0:
        return moment.date().isoformat()
    if style == 1:
        return moment.astimezone(timezone(timedelta(hours=1))).isoformat()
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def timestamps(draw) -> str:
    return timestamp_text(draw(st.sampled_from(GRID)), draw(st.integers(0, 2)))


def literal(draw, name: str, kind: str) -> Any:
    """A literal for the field, from the small domain its values come from."""
    if kind == "number":
        pool = COUNT_VALUES if name.startswith("counts.") else NUMBERS.get(name, (0, 1, 2, 100))
        return draw(st.sampled_from(pool))
    if kind == "text":
        return draw(st.sampled_from(TEXTS.get(name, ("x", "y"))))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "timestamp":
        return draw(timestamps())
    return draw(st.sampled_from((*TAGS, "z")))


def reference_text(draw, kind: str, names: dict[str, str], present_only: bool = False) -> str | None:
    """`$name.field` (maybe with an offset) for a field of the same type of a bound name; None if there is none."""
    options = sorted((alias, name) for alias, fact in names.items() for name, other in FIELDS[fact].items()
                     if other == kind and (not present_only or name in PRESENT.get(fact, ())))
    if not options:
        return None
    alias, name = draw(st.sampled_from(options))
    text = f"${alias}.{name}"
    if kind == "number" and draw(st.booleans()):
        text += draw(st.sampled_from(NUMBER_OFFSETS))
    elif kind == "timestamp" and draw(st.booleans()):
        text += draw(st.sampled_from(TIME_OFFSETS))
    return text


def operand(draw, fact: str, name: str, kind: str, op: str, names: dict[str, str]) -> Any:
    if op in JOINABLE and kind != "list" and draw(st.integers(0, 2)) == 0:
        joined = reference_text(draw, kind, names)
        if joined is not None:
            return joined
    if op == "between":
        return [operand(draw, fact, name, kind, "gte", names), operand(draw, fact, name, kind, "lte", names)]
    if op in ("in", "not_in"):
        return [literal(draw, name, kind) for _ in range(draw(st.integers(1, 3)))]
    if op == "exists":
        # `exists: false` on a field every fact has can never hold: ask it of optional fields only
        return name in PRESENT.get(fact, ()) or draw(st.booleans())
    if op == "matches":
        return draw(st.sampled_from(REGEXES))
    return literal(draw, name, kind)


def condition(draw, fact: str, name: str, kind: str, names: dict[str, str]) -> Any:
    """One field's condition: a bare value (equality or a join) or a mapping of one or two operators."""
    if kind != "list" and draw(st.integers(0, 3)) == 0:
        return operand(draw, fact, name, kind, "eq", names)
    size = draw(st.sampled_from((1, 1, 1, 2)))
    ops = draw(st.lists(st.sampled_from(OPERATORS[kind]), min_size=size, max_size=size, unique=True))
    return {op: operand(draw, fact, name, kind, op, names) for op in ops}


def pattern_body(draw, fact: str, names: dict[str, str], alias: str | None = None,
                 negated: bool = False) -> dict[str, Any]:
    """A pattern's mapping: `as` when named, and conditions on a few fields (a `no` pattern mostly has some)."""
    body: dict[str, Any] = {} if alias is None or alias == fact else {"as": alias}
    size = draw(st.sampled_from((1, 1, 2) if negated and draw(st.integers(0, 4)) else (0, 0, 1, 1, 1, 2)))
    chosen = draw(st.lists(st.sampled_from(sorted(FIELDS[fact])), min_size=size, max_size=size, unique=True))
    if fact == "event" and "type" not in chosen and draw(st.integers(0, 2)) == 0:
        chosen.insert(0, "type")  # most real event patterns name the event type
    for name in chosen:
        body[name] = condition(draw, fact, name, FIELDS[fact][name], names)
    return body


@dataclass
class RuleScope:
    """The names the rule being drawn has bound so far, so that every new one is fresh."""

    used: set[str] = field(default_factory=set)
    counter: count = field(default_factory=lambda: count(1))

    def alias(self, draw, fact: str) -> str:
        if fact not in self.used and draw(st.booleans()):
            self.used.add(fact)
            return fact
        name = f"p{next(self.counter)}"
        self.used.add(name)
        return name


def fact_type(draw, readable: tuple[str, ...], names: dict[str, str], positive: bool = True) -> str:
    """A readable fact type, events and derived facts more often; case and history rarely bound twice."""
    weighted = [fact for fact in readable for _ in range(1 if fact in ("case", "history") else 3)]
    if positive and draw(st.integers(0, 5)) > 0:
        weighted = [fact for fact in weighted if fact not in ("case", "history") or fact not in names.values()]
    return draw(st.sampled_from(weighted or readable))


def conditions(draw, scope: RuleScope, readable: tuple[str, ...], bound: dict[str, str],
               first: str | None = None, most: int = 3) -> tuple[list[Any], dict[str, str]]:
    """A `when` or `until` list of up to `most` elements, and the names every alternative binds (`bound` included)."""
    names = dict(bound)
    items: list[Any] = []
    for index in range(draw(st.integers(1, most))):
        kind = "pattern" if index == 0 and first else draw(st.sampled_from(("pattern",) * 5 + ("no", "no", "any")))
        if kind == "pattern":
            fact = first if index == 0 and first else fact_type(draw, readable, names)
            alias = scope.alias(draw, fact)
            items.append({fact: pattern_body(draw, fact, names, alias)})
            names[alias] = fact
        elif kind == "no":
            fact = fact_type(draw, readable, names, positive=False)
            items.append({f"no {fact}": pattern_body(draw, fact, names, negated=True)})
        else:
            items.append({"any": any_options(draw, scope, readable, names)})
    if not any(fact in names.values() for fact in readable) and draw(st.integers(0, 3)) > 0:
        # mostly keep a positive pattern, so consequences can quote something
        fact = fact_type(draw, readable, names)
        alias = scope.alias(draw, fact)
        items.append({fact: pattern_body(draw, fact, names, alias)})
        names[alias] = fact
    return items, names


def any_options(draw, scope: RuleScope, readable: tuple[str, ...], names: dict[str, str]) -> list[Any]:
    """Two or three alternatives; when `shared`, each binds one new name to the same fact type."""
    shared = draw(st.booleans())
    fact = fact_type(draw, readable, names)
    alias = scope.alias(draw, fact) if shared else ""
    options: list[Any] = []
    for _ in range(draw(st.integers(2, 3))):
        local = dict(names)
        if shared:
            parts: list[Any] = [{fact: pattern_body(draw, fact, local, alias)}]
            local[alias] = fact
        else:
            parts = []
        for _ in range(draw(st.integers(0 if shared else 1, 2))):
            negated = draw(st.integers(0, 2)) == 0
            other = fact_type(draw, readable, local, positive=not negated)
            if negated:
                parts.append({f"no {other}": pattern_body(draw, other, local, negated=True)})
            else:
                name = scope.alias(draw, other)
                parts.append({other: pattern_body(draw, other, local, name)})
                local[name] = other
        options.append(parts[0] if len(parts) == 1 else {"all": parts})
    if shared:
        names[alias] = fact
    return options


def message(draw, prefix: str, common: dict[str, str]) -> str:
    """Text quoting matched facts; mostly fields every fact has, sometimes one that may be missing."""
    parts = [prefix]
    # derived facts lack the fields their asserting rule left out: quote them less often
    quotable = sorted(alias for alias, fact in common.items() if fact in PRESENT or draw(st.integers(0, 3)) == 0)
    for _ in range(draw(st.integers(0, 2)) if quotable else 0):
        alias = draw(st.sampled_from(quotable))
        fact = common[alias]
        present = PRESENT.get(fact, ())
        pool = present if present and draw(st.integers(0, 5)) > 0 else tuple(sorted(FIELDS[fact]))
        parts.append("{" + f"{alias}.{draw(st.sampled_from(pool))}" + "}")
    if draw(st.integers(0, 9)) == 0:
        parts.append("{{literal}}")
    return " ".join(parts)


def assertion(draw, fact: str, common: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, kind in DERIVED_FIELDS.items():
        mode = draw(st.sampled_from(("omit", "literal", "literal", "ref", "ref")))
        if mode == "ref" or (mode == "literal" and kind == "list"):
            value = reference_text(draw, kind, common, present_only=draw(st.integers(0, 4)) > 0)
            if value is not None:
                fields[name] = value
        elif mode == "literal":
            fields[name] = literal(draw, name, kind)
    return {"assert": {"fact": fact, "fields": fields}}


def consequence(draw, scope: RuleScope, common: dict[str, str], until_readable: tuple[str, ...],
                checkpoints: count) -> dict[str, Any]:
    kind = draw(st.sampled_from(("flag", "flag", "checkpoint", "checkpoint", "require_action", "require_action",
                                 "forbid_action", "forbid_action", "recommend_action")))
    if kind == "flag":
        body: dict[str, Any] = {"code": draw(st.sampled_from(FLAG_CODES)), "message": message(draw, "flag", common)}
        if draw(st.booleans()):
            body["severity"] = draw(st.sampled_from(("info", "warning", "critical")))
        return {"flag": body}
    if kind == "checkpoint":
        body = {"id": f"c{next(checkpoints)}",
                "blocks": draw(st.lists(st.sampled_from(ACTIONS), max_size=2, unique=True)),
                "message": message(draw, "checkpoint", common)}
        if draw(st.integers(0, 4)) > 0:
            body["until"], _ = conditions(draw, scope, until_readable, common, most=2)
        return {"checkpoint": body}
    # require and forbid share two actions, so conflicts happen
    actions = ACTIONS if kind == "recommend_action" else ACTIONS[:2]
    body = {"action": draw(st.sampled_from(actions)), "reason": message(draw, "because", common)}
    if kind == "recommend_action" and draw(st.booleans()):
        body["weight"] = draw(st.sampled_from((0.5, 1, 2, 3)))
    return {kind: body}


def rule(draw, rule_id: str, reads: tuple[str, ...], asserts: tuple[str, ...], derived: tuple[str, ...],
         checkpoints: count, first: str | None = None) -> dict[str, Any]:
    """A rule reading `reads` (its `until` also derived types it cannot feed back into) and asserting `asserts`."""
    scope = RuleScope()
    when, common = conditions(draw, scope, reads, {}, first=first)
    lowest = min((derived.index(fact) for fact in asserts), default=len(derived))
    until_readable = BASE_TYPES + derived[:lowest]
    then = [consequence(draw, scope, common, until_readable, checkpoints) for _ in range(draw(st.integers(0, 2)))]
    then += [assertion(draw, fact, common) for fact in asserts]
    if not then:
        then.append(consequence(draw, scope, common, until_readable, checkpoints))
    then = draw(st.permutations(then))
    body: dict[str, Any] = {"id": rule_id}
    if draw(st.booleans()):
        body["priority"] = draw(st.sampled_from((-1, 0, 5, 10)))
    return {**body, "when": when, "then": list(then)}


@st.composite
def ruleset_documents(draw) -> dict[str, Any]:
    """A valid ruleset document: up to three derived types chained d1 -> d2 -> d3, each with a producer."""
    derived = DERIVED_TYPES[:draw(st.integers(0, 3))]
    checkpoints = count(1)
    rules = []
    for k, fact in enumerate(derived):
        # the producer of d(k+1) mostly reads d(k), so chains get deep
        first = derived[k - 1] if k and draw(st.integers(0, 2)) > 0 else None
        rules.append(rule(draw, f"make_{fact}", BASE_TYPES + derived[:k], (fact,), derived, checkpoints, first))
    for index in range(draw(st.integers(*OTHER_RULES))):
        tier = draw(st.integers(0, len(derived)))
        feeds = derived[tier:]
        asserts = (draw(st.sampled_from(feeds)),) if feeds and draw(st.integers(0, 3)) == 0 else ()
        rules.append(rule(draw, f"r{index}", BASE_TYPES + derived[:tier], asserts, derived, checkpoints))
    document: dict[str, Any] = {
        "name": "generated",
        "case_type": "claim",
        "actions": [{"id": action, "label": action.title()} for action in ACTIONS],
        "case_attributes": dict(CASE_ATTRIBUTES),
        "event_attributes": dict(EVENT_ATTRIBUTES),
    }
    if derived:
        document["derived"] = {fact: dict(DERIVED_FIELDS) for fact in derived}
    document["rules"] = list(draw(st.permutations(rules)))
    return document


# -- cases ----------------------------------------------------------------------------------------------

MISSING = object()
WRONG = {
    "number": ("100", True),
    "text": (5, ["north"]),
    "boolean": ("yes", 1),
    "timestamp": ("2025-01-02", "not a time", 5, "2025-01-02T00:00:00"),
    "list": ("a", ["a", 1]),
}


def attribute_values(name: str, kind: str) -> st.SearchStrategy:
    """A valid value from the small domain, a value of the wrong type, or nothing."""
    if kind == "number":
        valid = st.sampled_from(NUMBERS[name])
    elif kind == "text":
        valid = st.sampled_from(TEXTS[name])
    elif kind == "boolean":
        valid = st.booleans()
    elif kind == "timestamp":
        valid = st.builds(timestamp_text, st.sampled_from(GRID), st.integers(1, 2))
    else:
        valid = st.lists(st.sampled_from(TAGS), max_size=3, unique=True)
    # one_of would not pick its branches evenly: choose by weight, mostly valid values
    return st.integers(0, 9).flatmap(
        lambda pick: st.just(MISSING) if pick == 0 else st.sampled_from(WRONG[kind]) if pick == 1 else valid)


def attributes(declared: dict[str, str]) -> st.SearchStrategy:
    values = st.fixed_dictionaries({name: attribute_values(name, kind) for name, kind in declared.items()})
    return values.map(lambda drawn: {name: value for name, value in drawn.items() if value is not MISSING})


@st.composite
def cases(draw) -> tuple[CaseData, CaseData]:
    """A case with a few events (some identical but for their ids), and the same case with its events shuffled."""
    drafts: list[tuple] = []
    for _ in range(draw(st.sampled_from(EVENT_COUNTS))):
        if drafts and draw(st.integers(0, 4)) == 0:
            drafts.append(draw(st.sampled_from(drafts)))
        else:
            drafts.append((draw(st.sampled_from(EVENT_TYPES)), draw(st.sampled_from(GRID[:8])),
                           draw(st.sampled_from((None, *ACTORS))), draw(attributes(EVENT_ATTRIBUTES))))
    ids = draw(st.permutations([f"e{i}" for i in range(1, len(drafts) + 1)]))
    events = tuple(EventData(event_id, kind, at, actor, values)
                   for event_id, (kind, at, actor, values) in zip(ids, drafts, strict=True))
    case = CaseData(case_id=draw(st.sampled_from(("C1", "C2"))), case_type="claim",
                    status=draw(st.sampled_from(("open", "closed"))),
                    opened_at=draw(st.sampled_from(GRID[:2])), attributes=draw(attributes(CASE_ATTRIBUTES)),
                    events=events)
    return case, replace(case, events=tuple(draw(st.permutations(events))))


as_of_times = st.sampled_from((T0 + timedelta(days=4), datetime(2025, 1, 5, 14, tzinfo=timezone(timedelta(hours=2)))))


# -- the property ---------------------------------------------------------------------------------------


def result(evaluate: Callable[[], Any]) -> dict[str, Any]:
    """The outcome as plain data, or which rule's consequence failed."""
    try:
        outcome = evaluate()
    except RuleConsequenceError as error:
        return {"error": error.rule_id}
    # RuleOutcome has been a pydantic model and a dataclass; either way compare its plain data
    return outcome.to_dict() if hasattr(outcome, "to_dict") else outcome.model_dump()


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    keys = sorted(set(expected) | set(actual))
    return "\n".join(f"{key}:\n  reference:  {expected.get(key)!r}\n  production: {actual.get(key)!r}"
                     for key in keys if expected.get(key) != actual.get(key))


def described(text: str, case: CaseData, as_of: datetime) -> str:
    return f"ruleset:\n{text}\ncase: {case!r}\nas_of: {as_of.isoformat()}\n"


def agreed(text: str, ruleset: Ruleset, evaluator: Evaluator, case: CaseData, as_of: datetime) -> dict[str, Any]:
    """Production's result for the case, after checking it equals the reference's."""
    expected = result(lambda: reference_evaluate(ruleset, case, as_of))
    try:
        actual = result(lambda: evaluator.evaluate(case, as_of=as_of))
    except Exception as error:
        raise AssertionError(described(text, case, as_of) + f"production raised {error!r}") from error
    assert actual == expected, described(text, case, as_of) + differences(expected, actual)
    return actual


def check_against_reference(document: dict[str, Any], cases: tuple[CaseData, CaseData], as_of: datetime) -> None:
    """Production equals the reference for the case, and for a smaller case evaluated next by the same
    evaluator (nothing of the first leaks into it); the case with its events in another order gives the same."""
    text = yaml.safe_dump(document, sort_keys=False)
    ruleset = load_ruleset(text)
    evaluator = Evaluator(compile_ruleset(ruleset))
    case, shuffled = cases
    first = agreed(text, ruleset, evaluator, case, as_of)
    agreed(text, ruleset, evaluator, replace(case, case_id="C9", attributes={}, events=case.events[::2]), as_of)
    reordered = result(lambda: evaluator.evaluate(shuffled, as_of=as_of))
    assert reordered == first, described(text, case, as_of) + "events reordered:\n" + differences(first, reordered)


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=ruleset_documents(), cases=cases(), as_of=as_of_times)
def test_production_matches_reference(document, cases, as_of):
    check_against_reference(document, cases, as_of)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, derandomize=False, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(document=ruleset_documents(), cases=cases(), as_of=as_of_times)
def test_production_matches_reference_soak(document, cases, as_of):
    check_against_reference(document, cases, as_of)
