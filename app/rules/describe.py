"""Readable text for the parts of a ruleset, as an officer would write them in a sentence:
`event as fnol: type = fnol_received, age_days > 2`, `flag late_first_contact (warning)`.

Given the ruleset's fact schema, timestamps read as dates or ISO-8601 times and time offsets in days,
hours, minutes or seconds; without it, values read as they are stored.
"""

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.rules.facts import FactSchema
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
    Test,
)

SYMBOLS = {Op.EQ: "=", Op.NE: "!=", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
WORDS = {Op.IN: "in", Op.NOT_IN: "not in", Op.MATCHES: "matches", Op.CONTAINS: "contains",
         Op.NOT_CONTAINS: "does not contain"}
UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60))
PLAIN_TEXT = re.compile(r"^[\w.:@/+-]+$")


def value_text(value: Any, kind: FieldType | None = None) -> str:
    """A literal, a list of literals or a reference, as it would be written in a ruleset."""
    if isinstance(value, Ref):
        return ref_text(value, kind)
    if isinstance(value, tuple):
        return "[" + ", ".join(value_text(item, kind) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if kind == "timestamp":
            return _time(value)
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value if PLAIN_TEXT.match(value) else json.dumps(value)
    return str(value)


def ref_text(ref: Ref, kind: FieldType | None = None) -> str:
    """`$name.field`, with its offset (`+ 2 days` on timestamps)."""
    text = f"${ref.alias}.{ref.field}"
    if not ref.offset:
        return text
    sign, amount = ("-" if ref.offset < 0 else "+"), abs(ref.offset)
    if kind == "timestamp":
        unit, size = next(((unit, size) for unit, size in UNITS if amount % size == 0), ("second", 1))
        count = amount / size
        return f"{text} {sign} {value_text(count)} {unit}{'' if count == 1 else 's'}"
    return f"{text} {sign} {value_text(amount)}"


def test_text(test: Test, kind: FieldType | None = None) -> str:
    """One field condition: `claim_amount > 10000`, `region in [north, east]`, `reason is missing`."""
    if test.op is Op.EXISTS:
        return f"{test.field} exists"
    if test.op is Op.MISSING:
        return f"{test.field} is missing"
    if test.op is Op.MATCHES:
        return f"{test.field} matches {json.dumps(test.value)}"
    word = SYMBOLS.get(test.op) or WORDS[test.op]
    return f"{test.field} {word} {value_text(test.value, kind)}"


def pattern_text(pattern: Pattern, schema: FactSchema | None = None) -> str:
    """`event as fnol: type = fnol_received, age_days > 2`; `no event: type = coverage_verified`."""
    head = ("no " if pattern.negated else "") + pattern.fact
    if not pattern.negated and pattern.alias != pattern.fact:
        head += f" as {pattern.alias}"
    tests = ", ".join(test_text(test, _kind(schema, pattern.fact, test.field)) for test in pattern.tests)
    return f"{head}: {tests}" if tests else head


def alternative_text(alternative: Alternative, schema: FactSchema | None = None) -> str:
    """The patterns of one alternative, all of which must hold, separated by semicolons."""
    return "; ".join(pattern_text(pattern, schema) for pattern in alternative)


def conditions_text(alternatives: Iterable[Alternative], schema: FactSchema | None = None) -> str:
    """Alternatives joined by `or`, each in parentheses when it has several patterns."""
    parts = [alternative_text(alternative, schema) for alternative in alternatives]
    if len(parts) == 1:
        return parts[0]
    return " or ".join(f"({part})" if ";" in part else part for part in parts)


def consequence_text(consequence: Consequence, schema: FactSchema | None = None, *, with_text: bool = False) -> str:
    """`flag late_first_contact (warning)`, `require_action fraud_escalated`, ...; `with_text` adds the
    message or reason the officer wrote."""
    if isinstance(consequence, Flag):
        text = f"flag {consequence.code} ({consequence.severity.value})"
        return text + (f", message {json.dumps(consequence.message)}" if with_text else "")
    if isinstance(consequence, Checkpoint):
        until = (f"until {conditions_text(consequence.until, schema)}" if consequence.until
                 else "with no `until` (never lifts)")
        text = f"checkpoint {consequence.id} blocks {', '.join(consequence.blocks)} {until}"
        return text + (f", message {json.dumps(consequence.message)}" if with_text else "")
    if isinstance(consequence, ActionConstraint):
        text = f"{consequence.kind.value} {consequence.action}"
        if consequence.kind is ConstraintKind.RECOMMEND and consequence.weight != 1:
            text += f" (weight {value_text(consequence.weight)})"
        return text + (f", reason {json.dumps(consequence.reason)}" if with_text else "")
    assert isinstance(consequence, Assert)
    fields = ", ".join(f"{name} = {value_text(value, _kind(schema, consequence.fact, name))}"
                       for name, value in consequence.fields)
    return f"assert {consequence.fact}" + (f": {fields}" if fields else "")


def _kind(schema: FactSchema | None, fact: str, field: str) -> FieldType | None:
    return schema.field_type(fact, field) if schema is not None else None


def _time(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")
