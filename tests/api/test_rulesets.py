"""The ruleset governance API: roles, four eyes, gates, review, activation and rollback, simulations."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.main import create_app
from app.auth.keys import create_key
from app.auth.roles import Role
from app.core.config import Settings
from app.db.schema import upgrade
from app.db.session import create_db_engine, session_factory
from app.models import AuditEntry, Case
from tests.databases import throwaway_database
from tests.live import serving
from tests.rules.fixtures import CLAIMS

SMOKE_TESTS = """\
as_of: 2025-03-15T00:00:00Z
tests:
  - name: a large claim is flagged
    case: {attributes: {amount: 20000, region: west}}
    expect: {flags: [large], fired: [large]}
"""
LOWER = CLAIMS.replace("case: {amount: {gt: 10000}}", "case: {amount: {gt: 5000}}")
MID_SIZED = {"case": {"case_type": "claim", "attributes": {"amount": 8000, "region": "west"}}}


@pytest.fixture
def settings(database, tmp_path) -> Settings:
    """No ruleset in the folder: every ruleset here comes from the database. Coverage is not gated."""
    return Settings(database_url=database.url, rulesets_dir=tmp_path / "none", ruleset_min_coverage=0.0,
                    simulation_jobs=1)


@pytest.fixture
def officers(session):
    """Headers of two different officers, alice and bob."""
    def key(name):
        _, secret = create_key(session=session, name=name, role=Role.OFFICER)
        return {"Authorization": f"Bearer {secret}"}
    headers = {"alice": key("alice"), "bob": key("bob")}
    session.commit()
    return headers


def draft(client, headers, source=CLAIMS, tests=SMOKE_TESTS, note="first cut"):
    response = client.post("/v1/rulesets/claims/versions", headers=headers,
                           json={"source": source, "tests": tests, "change_note": note})
    assert response.status_code in (200, 201), response.text
    return response.json()["version"]


def step(client, headers, version, action, note=None):
    return client.post(f"/v1/rulesets/claims/versions/{version}/{action}", headers=headers,
                       json={"note": note} if note else None)


def approved(client, officers, source=CLAIMS):
    version = draft(client, officers["alice"], source)
    assert step(client, officers["alice"], version, "submit").status_code == 200
    assert step(client, officers["bob"], version, "approve", "checked").status_code == 200
    return version


def evaluated_version(client, headers) -> str:
    response = client.post("/v1/evaluation", headers=headers, json=MID_SIZED)
    assert response.status_code == 200, response.text
    return response.json()["ruleset_version"]


@pytest.mark.parametrize("role", [Role.CLIENT])
def test_client_keys_may_neither_read_nor_write(client, auth, role):
    headers = auth(role)
    assert client.get("/v1/rulesets", headers=headers).status_code == 403
    response = client.post("/v1/rulesets/claims/versions", headers=headers, json={"source": CLAIMS})
    assert response.status_code == 403 and response.json()["error"] == "forbidden"


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.SCIENTIST])
def test_auditors_and_scientists_read_but_do_not_write(client, auth, officers, role):
    version = draft(client, officers["alice"])
    headers = auth(role)
    assert "claims" in [entry["name"] for entry in client.get("/v1/rulesets", headers=headers).json()]
    assert client.get(f"/v1/rulesets/claims/versions/{version}", headers=headers).status_code == 200
    assert step(client, headers, version, "submit").status_code == 403


def test_the_author_approving_their_own_version_gets_403(client, officers):
    version = draft(client, officers["alice"])
    assert step(client, officers["alice"], version, "submit").status_code == 200
    response = step(client, officers["alice"], version, "approve")
    assert response.status_code == 403
    assert response.json()["detail"][0]["type"] == "four_eyes"
    assert step(client, officers["bob"], version, "approve").json()["approved_by"] == "bob"


def test_an_unapproved_version_cannot_be_activated(client, officers):
    version = draft(client, officers["alice"])
    assert step(client, officers["alice"], version, "submit").status_code == 200
    response = step(client, officers["bob"], version, "activate")
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "not_approved"


def test_activation_governs_the_next_evaluation_and_rollback_restores(client, officers, auth):
    evaluator = auth(Role.OFFICER)
    assert client.post("/v1/evaluation", headers=evaluator, json=MID_SIZED).status_code == 404
    first = approved(client, officers)
    assert step(client, officers["bob"], first, "activate", "go live").status_code == 200
    assert evaluated_version(client, evaluator) == first
    second = approved(client, officers, LOWER)
    assert step(client, officers["bob"], second, "activate", "lower threshold").json()["status"] == "active"
    assert evaluated_version(client, evaluator) == second
    listed = client.get("/v1/rulesets", headers=evaluator).json()  # other tests commit rulesets of their own
    assert [(r["name"], r["origin"], r["active_version"]) for r in listed if r["case_type"] == "claim"] == [
        ("claims", "database", second)]

    assert client.post("/v1/rulesets/claims/rollback", headers=officers["bob"], json={}).status_code == 422
    rolled = client.post("/v1/rulesets/claims/rollback", headers=officers["bob"], json={"note": "too many flags"})
    assert rolled.status_code == 200 and rolled.json()["version"] == first
    assert evaluated_version(client, evaluator) == first


def test_the_review_shows_gates_findings_and_the_diff_from_the_active_version(client, officers):
    first = approved(client, officers)
    step(client, officers["bob"], first, "activate", "go live")
    second = draft(client, officers["alice"], LOWER, note="lower the threshold")
    assert step(client, officers["alice"], second, "submit").status_code == 200
    review = client.get(f"/v1/rulesets/claims/versions/{second[:12]}", headers=officers["bob"]).json()
    assert (review["status"], review["parent_version"], review["active_version"]) == ("submitted", first, first)
    assert review["test_run"]["passed"] and review["test_run"]["tests"] == 1
    assert isinstance(review["analysis"], list)
    changed = review["diff_from_active"]["rules"]["changed"]
    assert [rule["id"] for rule in changed] == ["large"]
    assert review["diff_from_parent"] == review["diff_from_active"]
    assert review["latest_simulation"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"source": "name: claims\nrules: [\n"}, "source, line 3"),
    ({"source": CLAIMS.replace("name: claims", "name: other")}, "body.source"),
    ({"source": CLAIMS, "tests": "tests: 3\n"}, "tests, line 1"),
    ({"source": CLAIMS, "colour": "red"}, "body.colour"),
    ({"source": CLAIMS, "parent_version": "xyz"}, "body.parent_version"),
])
def test_bad_drafts_are_refused_naming_the_field(client, officers, body, field):
    response = client.post("/v1/rulesets/claims/versions", headers=officers["alice"], json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"].startswith(field)
    assert client.get("/v1/rulesets/claims/versions", headers=officers["alice"]).json() == []


def test_unknown_versions_are_404_and_bad_references_422(client, officers):
    assert client.get("/v1/rulesets/claims/versions/abcdef0123", headers=officers["alice"]).status_code == 404
    assert client.get("/v1/rulesets/claims/versions/abc", headers=officers["alice"]).status_code == 422
    assert step(client, officers["alice"], "not-hex-at-all", "submit").status_code == 422


def test_a_failing_suite_is_a_422_naming_the_test(client, officers):
    failing = SMOKE_TESTS.replace("flags: [large]", "flags: [huge]")
    version = draft(client, officers["alice"], tests=failing)
    response = step(client, officers["alice"], version, "submit")
    assert response.status_code == 422 and response.json()["error"] == "gate_failed"
    assert response.json()["detail"][0]["field"] == "tests.a large claim is flagged"


@pytest.fixture
def committed_database(database, tmp_path):
    """A migrated database of the test's own, for real commits that must not reach other tests."""
    with throwaway_database(database.backend, tmp_path) as url:
        upgrade(url)
        engine = create_db_engine(url)
        yield url, engine
        engine.dispose()


def test_simulation_over_committed_cases_is_kept_and_shown_in_the_review(committed_database, tmp_path):
    # Real commits: the simulation reads cases through connections of its own.
    url, engine = committed_database
    amounts = {f"SIM-{i}": amount for i, amount in enumerate([3000, 8000, 9000, 20000])}
    with session_factory(engine)() as writer:
        writer.add_all(Case(case_id=case_id, case_type="claim", status="open", attributes={"amount": amount},
                            opened_at=datetime(2025, 3, 1, tzinfo=UTC), event_count=0)
                       for case_id, amount in amounts.items())
        officers = {who: {"Authorization": "Bearer " + create_key(session=writer, name=who,
                                                                    role=Role.OFFICER)[1]}
                    for who in ("alice", "bob")}
        writer.commit()
    settings = Settings(database_url=url, rulesets_dir=tmp_path / "none", ruleset_min_coverage=0.0,
                        simulation_jobs=2)
    with TestClient(create_app(settings)) as client:
        first = approved(client, officers)
        step(client, officers["bob"], first, "activate", "go live")
        second = draft(client, officers["alice"], LOWER)
        response = client.post(f"/v1/rulesets/claims/versions/{second}/simulations", headers=officers["alice"],
                               json={"since": "2025-01-01T00:00:00Z"})
        assert response.status_code == 201, response.text
        report = response.json()["report"]
        assert (report["cases"], report["baseline_version"]) == (4, first)
        assert [d["case_id"] for d in report["differences"]] == ["SIM-1", "SIM-2"]
        assert report["differences"][0]["flags"] == {"added": ["large"], "removed": []}
        assert report["workload"]["cases_newly_flagged"] == 2
        review = client.get(f"/v1/rulesets/claims/versions/{second}", headers=officers["bob"]).json()
        assert review["latest_simulation"]["id"] == response.json()["id"]
        assert review["latest_simulation"]["report"]["differences_total"] == 2
        assert "differences" not in review["latest_simulation"]["report"]
        kept = client.get(f"/v1/rulesets/claims/versions/{second}/simulations/{response.json()['id']}",
                          headers=officers["bob"])
        assert kept.json()["report"] == report
        assert step(client, officers["alice"], second, "submit").status_code == 200
        assert step(client, officers["bob"], second, "approve").status_code == 200
        with session_factory(engine)() as reader:
            approval = reader.scalars(select(AuditEntry).where(AuditEntry.kind == "ruleset.approved",
                                                               AuditEntry.subject == second)).one()
        assert approval.content["simulation_id"] == response.json()["id"]  # what the approver was shown
        later = client.post(f"/v1/rulesets/claims/versions/{second}/simulations", headers=officers["alice"],
                            json={"since": "2025-06-01T00:00:00Z"})
        assert later.json()["cases"] == 0


def test_two_workers_use_the_activated_version_at_once_and_after_rollback(committed_database):
    url, engine = committed_database
    name = "claims"
    source, lower = CLAIMS, LOWER
    with session_factory(engine)() as session:
        keys = {who: create_key(session=session, name=who, role=Role.OFFICER)[1] for who in ("alice", "bob")}
        session.commit()
    alice, bob = ({"Authorization": f"Bearer {keys[who]}"} for who in ("alice", "bob"))
    body = MID_SIZED
    env = {"CASEWISE_RULESETS_DIR": "/nonexistent", "CASEWISE_RULESET_MIN_COVERAGE": "0"}

    with serving(url, workers=2, env=env) as base, httpx.Client(base_url=base, timeout=30) as http:
        def go_live(text: str) -> str:
            created = http.post(f"/v1/rulesets/{name}/versions", headers=alice,
                                json={"source": text, "tests": SMOKE_TESTS}).json()
            version = created["version"]
            for who, action in ((alice, "submit"), (bob, "approve"), (bob, "activate")):
                assert http.post(f"/v1/rulesets/{name}/versions/{version}/{action}", headers=who).status_code == 200
            return version

        def versions_served() -> set[str]:
            with ThreadPoolExecutor(8) as pool:
                return set(pool.map(lambda _: http.post("/v1/evaluation", headers=bob, json=body).json()[
                    "ruleset_version"], range(40)))

        first = go_live(source)
        assert versions_served() == {first}
        second = go_live(lower)
        assert versions_served() == {second}  # 40 requests over both workers, right after activation
        rolled = http.post(f"/v1/rulesets/{name}/rollback", headers=bob, json={"note": "undo"})
        assert rolled.json()["version"] == first
        assert versions_served() == {first}
