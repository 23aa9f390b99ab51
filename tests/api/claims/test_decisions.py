"""Decisions on suggestions: checked against what was shown, stored once, safely retried, in the ledger."""

import pytest
from sqlalchemy import func, select

from app.auth.roles import Role
from app.models import AuditEntry, Decision
from tests.factories import case_body, event_body


@pytest.fixture
def suggestion(client, headers) -> dict:
    """A suggestion for a claim under fraud check: escalate required, approve blocked, pay forbidden."""
    client.put("/v1/cases/D-1", json=case_body(case_type="claim", attributes={"amount": 20_000, "handler": "h1"}),
               headers=headers)
    client.post("/v1/cases/D-1/events", json=[event_body(0, type="fnol"), event_body(1, type="fraud_check_opened")],
                headers=headers)
    body = client.post("/v1/cases/D-1/suggestions", headers=headers).json()
    assert {a["action"]: a["status"] for a in body["actions"]}["approve"] == "blocked"
    return body


def decide(client, suggestion, headers, **decision):
    return client.post(f"/v1/suggestions/{suggestion['suggestion_id']}/decision",
                       json={"actor": "worker-7", **decision}, headers=headers)


def test_accepting_a_shown_action_is_stored_once_and_logged(client, suggestion, headers, session):
    first = decide(client, suggestion, headers, outcome="accepted", action="escalate")
    assert first.status_code == 201
    assert (first.json()["shown_rank"], first.json()["actor"]) == (1, "worker-7")
    again = decide(client, suggestion, headers, outcome="accepted", action="escalate")
    assert (again.status_code, again.json()) == (200, first.json())
    other = decide(client, suggestion, headers, outcome="dismissed")
    assert other.status_code == 409
    assert other.json()["error"] == "conflict"
    assert session.scalar(select(func.count()).select_from(Decision)
                          .where(Decision.suggestion_id == suggestion["suggestion_id"])) == 1
    logged = session.scalars(select(AuditEntry).where(AuditEntry.subject == suggestion["suggestion_id"])
                             .order_by(AuditEntry.seq)).all()
    assert [entry.kind for entry in logged] == ["suggestion.served", "decision.recorded"]


@pytest.mark.parametrize(("decision", "field"), [
    ({"outcome": "accepted", "action": "approve"}, "body.action"),  # shown, but only as blocked
    ({"outcome": "accepted", "action": "pay"}, "body.action"),  # forbidden: never shown
    ({"outcome": "accepted"}, "body.action"),
    ({"outcome": "overridden", "action": "approve"}, "body.reason_code"),
    ({"outcome": "overridden", "action": "approve", "reason_code": "felt_like_it"}, "body.reason_code"),
    ({"outcome": "overridden", "action": "call_the_police", "reason_code": "other"}, "body.ad_hoc_description"),
    ({"outcome": "dismissed", "action": "escalate"}, "body.action"),
    ({"outcome": "maybe"}, "body.outcome"),
])
def test_a_decision_that_does_not_fit_is_422_naming_the_field(client, suggestion, headers, decision, field, session):
    response = decide(client, suggestion, headers, **decision)
    assert response.status_code == 422
    assert field in [problem["field"] for problem in response.json()["detail"]]
    assert session.scalar(select(func.count()).select_from(Decision)
                          .where(Decision.suggestion_id == suggestion["suggestion_id"])) == 0


def test_an_override_may_name_an_action_outside_the_catalog(client, suggestion, headers):
    response = decide(client, suggestion, headers, outcome="overridden", action="call_the_police",
                      reason_code="other", ad_hoc_description="reported a staged accident to the police")
    assert response.status_code == 201
    assert (response.json()["ad_hoc"], response.json()["shown_rank"]) == (True, None)


def test_an_idempotency_key_is_bound_to_its_request(client, suggestion, headers):
    keyed = {**headers, "Idempotency-Key": "k-123"}
    assert decide(client, suggestion, keyed, outcome="dismissed", comment="later").status_code == 201
    assert decide(client, suggestion, keyed, outcome="dismissed", comment="later").status_code == 200
    reused = decide(client, suggestion, keyed, outcome="dismissed", comment="other words")
    assert reused.status_code == 409
    assert reused.json()["detail"][0]["field"] == "header.Idempotency-Key"


def test_unknown_suggestion_and_wrong_role(client, suggestion, headers, auth):
    missing = client.post("/v1/suggestions/00000000-0000-4000-8000-000000000000/decision",
                          json={"outcome": "dismissed", "actor": "w"}, headers=headers)
    assert missing.status_code == 404
    assert decide(client, suggestion, auth(Role.OFFICER), outcome="dismissed").status_code == 403
