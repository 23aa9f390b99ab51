"""Suggestions over the API: rules obeyed, ranked by the baseline until a model exists, stored for replay."""

import pytest
from sqlalchemy import select

from app.auth.roles import Role
from app.core.config import Settings
from app.models import Suggestion
from tests.factories import case_body, event_body
from tests.rules.fixtures import CLAIMS

HISTORY = ["fnol", "documents_requested", "documents_received", "approve"]


@pytest.fixture
def settings(database, tmp_path) -> Settings:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "claims.yaml").write_text(CLAIMS)
    return Settings(database_url=database.url, rulesets_dir=tmp_path / "rules", artifacts_dir=tmp_path / "artifacts",
                    exploration_rate=0.0)


@pytest.fixture
def headers(auth):
    return auth(Role.CLIENT)


@pytest.fixture
def history(client, headers):
    """Ten stored claims that went fnol, documents requested, received, approve."""
    for n in range(10):
        client.put(f"/v1/cases/H-{n}", json=case_body(case_type="claim", attributes={"amount": 100, "handler": "h1"}),
                   headers=headers)
        client.post(f"/v1/cases/H-{n}/events", json=[event_body(i, type=kind) for i, kind in enumerate(HISTORY)],
                    headers=headers)


def test_suggestions_for_a_stored_case_follow_history_and_rules(client, headers, history, session):
    client.put("/v1/cases/S-1", json=case_body(case_type="claim", attributes={"amount": 20_000, "handler": "h1"}),
               headers=headers)
    client.post("/v1/cases/S-1/events", json=[event_body(0, type="fnol"), event_body(1, type="fraud_check_opened")],
                headers=headers)
    response = client.post("/v1/cases/S-1/suggestions", json={"as_of": "2025-03-05T00:00:00Z"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["ranker"] == "baseline:ngram"
    assert "no trained model" in body["note"]
    assert body["model_version"] is None
    statuses = {a["action"]: a["status"] for a in body["actions"]}
    assert "pay" not in statuses  # forbidden while the fraud check is open
    assert statuses["approve"] == "blocked"  # the sign-off checkpoint is open
    blocked = next(a for a in body["actions"] if a["action"] == "approve")
    assert blocked["blocked_by"] == ["signoff"]
    stored = session.scalars(select(Suggestion).where(Suggestion.suggestion_id == body["suggestion_id"])).one()
    assert stored.response == body
    assert stored.case_snapshot["events"][1]["type"] == "fraud_check_opened"
    assert stored.ruleset_version == body["ruleset_version"]


def test_a_required_action_is_pinned_first(client, headers, history):
    client.put("/v1/cases/S-2", json=case_body(case_type="claim", attributes={"amount": 8_000, "handler": "h1"}),
               headers=headers)
    client.post("/v1/cases/S-2/events", json=[event_body(0, type="fraud_check_opened")], headers=headers)
    body = client.post("/v1/cases/S-2/suggestions", headers=headers).json()
    first = body["actions"][0]
    assert (first["action"], first["status"], first["rank"], first["propensity"]) == ("escalate", "required", 1, 1.0)
    assert first["reasons"][0]["rule_id"] == "must_escalate"


def test_inline_suggestions_store_the_suggestion_not_the_case(client, headers, session):
    body = {"case": case_body(case_type="claim", attributes={"amount": 50}),
            "events": [event_body(1, type="documents_requested")]}
    response = client.post("/v1/suggestions", json=body, headers=headers)
    assert response.status_code == 200
    suggestion = response.json()
    assert suggestion["case_id"] is None
    assert suggestion["ranker"] == "none"  # no stored claims to learn from
    assert [a["action"] for a in suggestion["actions"]] == ["approve", "escalate", "pay"]
    assert session.get(Suggestion, suggestion["suggestion_id"]) is not None


def test_suggestions_need_a_client_or_admin(client, auth, history):
    assert client.post("/v1/cases/H-1/suggestions", headers=auth(Role.OFFICER)).status_code == 403
    assert client.post("/v1/cases/H-1/suggestions", headers=auth(Role.ADMIN)).status_code == 200


def test_unknown_case_is_404(client, headers):
    assert client.post("/v1/cases/NOPE/suggestions", headers=headers).status_code == 404
