"""Rule evaluation over the API: stored and inline cases, roles, and refusals."""

import pytest

from app.auth.roles import Role
from app.core.config import Settings
from tests.factories import case_body, event_body
from tests.rules.fixtures import CLAIMS


@pytest.fixture
def settings(database, tmp_path) -> Settings:
    (tmp_path / "claims.yaml").write_text(CLAIMS)
    return Settings(database_url=database.url, max_body_bytes=64 * 1024, max_history_events=300,
                    rulesets_dir=tmp_path)


@pytest.fixture
def stored_claim(client, auth):
    headers = auth(Role.CLIENT)
    client.put("/v1/cases/K-1", json=case_body(case_type="claim", attributes={"amount": 12_000, "region": "west",
                                                                               "handler": "h1"}), headers=headers)
    client.post("/v1/cases/K-1/events", json=[event_body(1, type="fraud_check_opened"),
                                              event_body(2, type="documents_requested")], headers=headers)
    return "K-1"


def test_evaluate_a_stored_case(client, auth, stored_claim):
    response = client.post(f"/v1/cases/{stored_claim}/evaluation", json={"as_of": "2025-03-10T00:00:00Z"},
                           headers=auth(Role.OFFICER))
    assert response.status_code == 200
    outcome = response.json()
    assert outcome["case_id"] == "K-1"
    assert outcome["as_of"] == "2025-03-10T00:00:00Z"
    assert {f["code"] for f in outcome["flags"]} == {"large", "documents_missing"}
    assert outcome["blocked_actions"] == {"approve": ["signoff"], "pay": ["signoff"]}
    assert [a["action"] for a in outcome["required_actions"]] == ["escalate"]
    assert {f["rule_id"] for f in outcome["trace"]} == {"large", "fraud_open", "docs_missing", "refer",
                                                        "must_escalate"}
    assert all(f["ruleset_version"] == outcome["ruleset_version"] for f in outcome["trace"])


def test_evaluation_without_a_body_uses_now(client, auth, stored_claim):
    response = client.post(f"/v1/cases/{stored_claim}/evaluation", headers=auth(Role.CLIENT))
    assert response.status_code == 200
    assert response.json()["as_of"].startswith("20")


def test_evaluate_inline_stores_nothing(client, auth, session):
    from sqlalchemy import func, select

    from app.models import Case

    before = session.scalar(select(func.count()).select_from(Case))
    body = {"case": case_body(case_type="claim", attributes={"amount": 50}),
            "events": [event_body(1, type="documents_requested")], "as_of": "2025-03-10T00:00:00Z"}
    response = client.post("/v1/evaluation", json=body, headers=auth(Role.CLIENT))
    assert response.status_code == 200
    assert [f["code"] for f in response.json()["flags"]] == ["documents_missing"]
    assert response.json()["case_id"] == "inline"
    assert session.scalar(select(func.count()).select_from(Case)) == before


def test_unknown_case_type_is_404(client, auth):
    body = {"case": case_body(case_type="parking_permit"), "events": []}
    response = client.post("/v1/evaluation", json=body, headers=auth(Role.CLIENT))
    assert response.status_code == 404
    assert "parking_permit" in response.json()["message"]


def test_inline_events_need_distinct_ids(client, auth):
    body = {"case": case_body(case_type="claim"), "events": [event_body(1), event_body(1)]}
    response = client.post("/v1/evaluation", json=body, headers=auth(Role.CLIENT))
    assert response.status_code == 422
    assert "appears twice" in response.json()["message"]


def test_a_failing_consequence_is_422_naming_the_rule(client, auth):
    body = {"case": case_body(case_type="claim", attributes={}), "events": [event_body(1, type="fraud_check_opened")]}
    response = client.post("/v1/evaluation", json=body, headers=auth(Role.CLIENT))
    assert response.status_code == 422
    assert response.json()["error"] == "rule_consequence_failed"
    assert response.json()["detail"][0]["field"] == "rule fraud_open"


@pytest.mark.parametrize("role", [Role.SCIENTIST, Role.AUDITOR])
def test_other_roles_may_not_evaluate(client, auth, stored_claim, role):
    assert client.post(f"/v1/cases/{stored_claim}/evaluation", headers=auth(role)).status_code == 403


def test_a_broken_rulesets_folder_is_503_not_the_callers_fault(client, auth, settings, stored_claim):
    (settings.rulesets_dir / "broken.yaml").write_text("name: broken\ncase_type: x\nrules: nope\n")
    response = client.post(f"/v1/cases/{stored_claim}/evaluation", headers=auth(Role.CLIENT))
    assert response.status_code == 503
    assert response.json()["error"] == "ruleset_unavailable"
