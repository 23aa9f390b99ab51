"""Suggestions over the API: rules obeyed, ranked by the baseline until a model exists, stored for replay."""

import pytest
from sqlalchemy import select

from app.auth.roles import Role
from app.cases.service import case_data
from app.models import Suggestion
from app.recommend.catalog import catalog_for
from app.recommend.policy import PolicySettings, choose
from app.recommend.service import policy_rng
from app.rules.registry import FolderRegistry, evaluator_for
from tests.factories import case_body, event_body

HISTORY = ["fnol", "documents_requested", "documents_received", "approve"]


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


def test_a_case_type_without_a_ruleset_is_ranked_from_its_history(client, headers, session):
    for n in range(6):
        client.put(f"/v1/cases/T-{n}", json=case_body(case_type="ticket"), headers=headers)
        client.post(f"/v1/cases/T-{n}/events", json=[event_body(i, type=kind) for i, kind in
                                                   enumerate(["open", "assign", "resolve", "close"])], headers=headers)
    client.put("/v1/cases/T-new", json=case_body(case_type="ticket"), headers=headers)
    client.post("/v1/cases/T-new/events", json=[event_body(0, type="open")], headers=headers)
    response = client.post("/v1/cases/T-new/suggestions", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["ruleset"], body["ruleset_version"], body["ranker"]) == (None, None, "baseline:ngram")
    # The catalog is what history holds, and history says a ticket is assigned after it is opened.
    assert body["actions"][0]["action"] == "assign"
    assert {a["action"] for a in body["actions"]} == {"assign", "resolve", "close", "open"}


def test_the_stored_policy_and_scores_replay_the_shown_actions(client, headers, history, session):
    body = client.post("/v1/cases/H-3/suggestions", json={"as_of": "2025-03-05T00:00:00Z"}, headers=headers).json()
    stored = session.get(Suggestion, body["suggestion_id"])
    ruleset = FolderRegistry(client.app.state.settings.rulesets_dir).active("claim")
    outcome = evaluator_for(ruleset).evaluate(case_data(session=session, case_id="H-3"), as_of=stored.as_of)
    replayed = choose(catalog=catalog_for("claim", ruleset).labels, scores=stored.policy["scores"], explanations={},
                      outcome=outcome,
                      settings=PolicySettings(stored.policy["exploration"], stored.policy["shown"]),
                      rng=policy_rng(stored.suggestion_id))
    assert [(a.action, a.status, a.rank, a.propensity) for a in replayed] == \
        [(a["action"], a["status"], a["rank"], a["propensity"]) for a in body["actions"]]


def test_replay_is_the_original_response_and_shows_what_the_active_versions_say(client, headers, history, auth,
                                                                                settings):
    original = client.post("/v1/cases/H-4/suggestions", json={"as_of": "2025-03-05T00:00:00Z"}, headers=headers)
    sent = original.json()
    rules = settings.rulesets_dir / "claims.yaml"
    rules.write_text(rules.read_text() + "\n# a new version of the ruleset\n")
    response = client.get(f"/v1/suggestions/{sent['suggestion_id']}/replay", headers=auth(Role.AUDITOR))
    assert response.status_code == 200
    replay = response.json()
    assert replay["identical"] is True
    assert f'"replayed":{original.text},' in response.text  # byte for byte as first sent
    assert replay["current"]["ruleset_version"] != sent["ruleset_version"]
    assert replay["changed"]["ruleset"] is True and replay["changed"]["model"] is False
    assert client.get("/v1/suggestions/nope/replay", headers=headers).status_code == 404
    assert client.get(f"/v1/suggestions/{sent['suggestion_id']}/replay", headers=auth(Role.OFFICER)).status_code == 403
