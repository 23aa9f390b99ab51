"""Facts from a case: one `case`, one `event` per history entry, one `history` summary.

Times are epoch seconds, durations days and hours, all relative to the evaluation's `as_of`. Only
the case and event attributes a ruleset declares become fact fields, coerced to their declared
type; a value of another type is left out, so it reads as missing.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.schemas import parse_iso8601
from app.rules.model import FieldType

DAY = 86_400.0
HOUR = 3_600.0
COUNTS_PREFIX = "counts."


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: FieldType
    description: str


CASE_FIELDS = (
    FieldDoc("case_id", "text", "the client's case id"),
    FieldDoc("case_type", "text", "the case type"),
    FieldDoc("status", "text", "the case status"),
    FieldDoc("opened_at", "timestamp", "when the case was opened"),
    FieldDoc("age_days", "number", "days from opened_at to the evaluation time"),
)
EVENT_FIELDS = (
    FieldDoc("event_id", "text", "the client's event id"),
    FieldDoc("type", "text", "what happened"),
    FieldDoc("at", "timestamp", "when it happened"),
    FieldDoc("actor", "text", "who did it (missing when not given)"),
    FieldDoc("index", "number", "position in the history, 0 first, in time order (ties by event_id)"),
    FieldDoc("age_days", "number", "days from the event to the evaluation time"),
)
HISTORY_FIELDS = (
    FieldDoc("event_count", "number", "events in the history"),
    FieldDoc(COUNTS_PREFIX + "<type>", "number", "events of that type (0 when none)"),
    FieldDoc("first_event_at", "timestamp", "time of the first event (missing when there are none)"),
    FieldDoc("last_event_at", "timestamp", "time of the last event (missing when there are none)"),
    FieldDoc("last_event_type", "text", "type of the last event (missing when there are none)"),
    FieldDoc("last_actor", "text", "actor of the last event (missing when there is none)"),
    FieldDoc("days_since_last_event", "number", "days from the last event to the evaluation time"),
    FieldDoc("hours_since_last_event", "number", "hours from the last event to the evaluation time"),
    FieldDoc("days_open", "number", "days from opened_at to the evaluation time"),
)
BASE_FACTS: dict[str, tuple[FieldDoc, ...]] = {"case": CASE_FIELDS, "event": EVENT_FIELDS, "history": HISTORY_FIELDS}


@dataclass(frozen=True)
class EventData:
    event_id: str
    type: str
    at: datetime
    actor: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseData:
    """What an evaluation needs of a case, whether stored or sent inline."""

    case_id: str
    case_type: str
    status: str
    opened_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[EventData, ...] = ()


@dataclass(frozen=True)
class Fact:
    """One fact. `key` names it in traces: `case`, `history`, `event:<event_id>`, `<type>#<n>`."""

    type: str
    key: str
    fields: Mapping[str, Any]

    def get(self, name: str) -> Any:
        """The field's value; None when missing (history counts of absent types are 0)."""
        if name.startswith(COUNTS_PREFIX) and self.type == "history":
            return self.fields.get(name, 0)
        return self.fields.get(name)


@dataclass(frozen=True)
class FactSchema:
    """Which fields each fact type has, and their types."""

    types: Mapping[str, Mapping[str, FieldType]]

    def field_type(self, fact: str, name: str) -> FieldType | None:
        if fact == "history" and name.startswith(COUNTS_PREFIX) and len(name) > len(COUNTS_PREFIX):
            return "number"
        return self.types.get(fact, {}).get(name)


def fact_schema(case_attributes: Mapping[str, FieldType], event_attributes: Mapping[str, FieldType],
                derived: Mapping[str, Mapping[str, FieldType]]) -> FactSchema:
    """The schema for a ruleset: base fields, its declared attributes, and its derived fact types."""
    types: dict[str, dict[str, FieldType]] = {
        name: {doc.name: doc.type for doc in docs if not doc.name.startswith(COUNTS_PREFIX)}
        for name, docs in BASE_FACTS.items()
    }
    types["case"] = {**case_attributes, **types["case"]}
    types["event"] = {**event_attributes, **types["event"]}
    for name, fields in derived.items():
        types[name] = dict(fields)
    return FactSchema(types)


def build_facts(case: CaseData, *, case_attributes: Mapping[str, FieldType],
                event_attributes: Mapping[str, FieldType], as_of: datetime) -> list[Fact]:
    """The facts of `case` as of `as_of`: case, history, then events in time order."""
    now = as_of.timestamp()
    opened = case.opened_at.timestamp()
    events = sorted(case.events, key=lambda e: (e.at, e.event_id))
    facts = [
        Fact("case", "case", {
            **_typed(case.attributes, case_attributes),
            "case_id": case.case_id, "case_type": case.case_type, "status": case.status,
            "opened_at": opened, "age_days": (now - opened) / DAY,
        }),
        Fact("history", "history", _history(events, opened=opened, now=now)),
    ]
    for index, event in enumerate(events):
        at = event.at.timestamp()
        fields = {**_typed(event.attributes, event_attributes), "event_id": event.event_id, "type": event.type,
                  "at": at, "index": index, "age_days": (now - at) / DAY}
        if event.actor is not None:
            fields["actor"] = event.actor
        facts.append(Fact("event", f"event:{event.event_id}", fields))
    return facts


def _history(events: list[EventData], *, opened: float, now: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"event_count": len(events), "days_open": (now - opened) / DAY}
    summary.update({COUNTS_PREFIX + kind: n for kind, n in Counter(e.type for e in events).items()})
    if events:
        first, last = events[0], events[-1]
        summary.update({
            "first_event_at": first.at.timestamp(), "last_event_at": last.at.timestamp(),
            "last_event_type": last.type, "days_since_last_event": (now - last.at.timestamp()) / DAY,
            "hours_since_last_event": (now - last.at.timestamp()) / HOUR,
        })
        if last.actor is not None:
            summary["last_actor"] = last.actor
    return summary


def _typed(values: Mapping[str, Any], declared: Mapping[str, FieldType]) -> dict[str, Any]:
    typed = {}
    for name, kind in declared.items():
        value = coerce(values.get(name), kind)
        if value is not None:
            typed[name] = value
    return typed


def coerce(value: Any, kind: FieldType) -> Any:
    """`value` as a fact field of type `kind`, or None when it is not one."""
    if value is None:
        return None
    if kind == "number":
        is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return value if is_number else None
    if kind == "text":
        return value if isinstance(value, str) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "list":
        is_texts = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        return tuple(value) if is_texts else None
    if kind == "timestamp":
        try:
            return parse_iso8601(value).timestamp()
        except ValueError:
            return None
    raise ValueError(f"unknown field type {kind!r}")


def fact_reference() -> str:
    """The fact schema as Markdown (docs/facts.md is this text)."""
    lines = ["# Facts", "", "Generated by `casewise rules facts` from app/rules/facts.py; do not edit.", "",
             "Times are epoch seconds; durations are days or hours, measured to the evaluation time.",
             "A ruleset adds the case and event attributes it declares, and its derived fact types.", ""]
    for name, docs in BASE_FACTS.items():
        lines += [f"## `{name}`", "", "| field | type | meaning |", "|---|---|---|"]
        lines += [f"| `{doc.name}` | {doc.type} | {doc.description} |" for doc in docs]
        lines.append("")
    return "\n".join(lines)


def events_from(rows: Iterable[Any]) -> tuple[EventData, ...]:
    """EventData from anything with event_id, type, at, actor and attributes (ORM rows, API models)."""
    return tuple(EventData(r.event_id, r.type, r.at, r.actor, dict(r.attributes or {})) for r in rows)
