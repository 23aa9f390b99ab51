"""Facts from a case: typed attributes, events in time order, and the history summary."""

from datetime import timedelta

from app.rules.facts import DAY, CaseData, EventData, build_facts
from tests.rules.fixtures import T0

AS_OF = T0 + timedelta(days=3)


def facts_of(data: CaseData, case_attributes=None):
    return build_facts(data, case_attributes=case_attributes or {}, event_attributes={}, as_of=AS_OF)


def test_two_identical_events_count_two():
    same = dict(type="documents_requested", at=T0 + timedelta(hours=1), actor="h1", attributes={"documents": ["x"]})
    facts = facts_of(CaseData("C", "claim", "open", T0, {}, (EventData("e1", **same), EventData("e2", **same))))
    history = next(f for f in facts if f.type == "history")
    assert history.get("counts.documents_requested") == 2
    assert history.get("event_count") == 2
    assert [f.key for f in facts if f.type == "event"] == ["event:e1", "event:e2"]
    assert history.get("counts.never_happened") == 0


def test_events_are_in_time_order_whatever_the_input_order():
    events = (EventData("late", "b", T0 + timedelta(days=2)), EventData("early", "a", T0),
              EventData("tie-b", "c", T0 + timedelta(days=1)), EventData("tie-a", "c", T0 + timedelta(days=1)))
    facts = facts_of(CaseData("C", "claim", "open", T0, {}, events))
    assert [(f.get("event_id"), f.get("index")) for f in facts if f.type == "event"] == [
        ("early", 0), ("tie-a", 1), ("tie-b", 2), ("late", 3)]
    history = next(f for f in facts if f.type == "history")
    assert history.get("last_event_type") == "b"
    assert history.get("days_since_last_event") == 1.0
    assert history.get("hours_since_last_event") == 24.0


def test_times_are_epoch_seconds_and_durations_days():
    (case, history) = facts_of(CaseData("C", "claim", "open", T0, {}))
    assert case.get("opened_at") == T0.timestamp()
    assert case.get("age_days") == history.get("days_open") == 3.0
    assert history.get("last_event_at") is None
    assert (AS_OF.timestamp() - T0.timestamp()) / DAY == 3.0


def test_only_declared_attributes_of_the_declared_type_become_fields():
    attributes = {"amount": "12000", "score": 7, "flagged": True, "docs": ["a", 1], "tags": ["a", "b"],
                  "when": "2025-01-02T00:00:00Z", "undeclared": 1}
    declared = {"amount": "number", "score": "number", "flagged": "boolean", "docs": "list", "tags": "list",
                "when": "timestamp"}
    (case, _) = facts_of(CaseData("C", "claim", "open", T0, attributes), case_attributes=declared)
    assert case.get("amount") is None  # text where a number was declared reads as missing
    assert case.get("score") == 7
    assert case.get("flagged") is True
    assert case.get("docs") is None
    assert case.get("tags") == ("a", "b")
    assert case.get("when") == 1735776000.0
    assert case.get("undeclared") is None
