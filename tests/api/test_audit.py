"""The audit endpoints: auditors read, filter, export and verify the ledger."""

import csv
import io
import json

from sqlalchemy import select

from app.auth.roles import Role
from app.models import AuditEntry
from tests.factories import case_body, event_body


def test_auditors_filter_export_and_verify(client, auth):
    writer = auth(Role.CLIENT)
    client.put("/v1/cases/A-1", json=case_body(case_type="ticket"), headers=writer)
    client.post("/v1/cases/A-1/events", json=[event_body(0, type="open")], headers=writer)
    served = client.post("/v1/cases/A-1/suggestions", headers=writer).json()
    auditor = auth(Role.AUDITOR)

    page = client.get("/v1/audit", params={"case_id": "A-1", "kind": "suggestion.served"}, headers=auditor).json()
    assert [entry["subject"] for entry in page["entries"]] == [served["suggestion_id"]]
    assert page["entries"][0]["actor"].startswith("test-client")
    keys = client.get("/v1/audit", params={"kind": "key.created", "limit": 1}, headers=auditor)
    assert keys.status_code == 200 and keys.json()["next_cursor"]

    jsonl = client.get("/v1/audit", params={"case_id": "A-1", "format": "jsonl"}, headers=auditor)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert json.loads(jsonl.text.splitlines()[0])["case_id"] == "A-1"
    exported = client.get("/v1/audit", params={"case_id": "A-1", "format": "csv"}, headers=auditor)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["kind"] == "suggestion.served" and json.loads(rows[0]["content"])["case_type"] == "ticket"

    verified = client.get("/v1/audit/verify", headers=auditor).json()
    assert verified["ok"] is True and verified["first_bad_seq"] is None


def test_the_ledger_is_for_auditors_and_admins(client, auth):
    assert client.get("/v1/audit", headers=auth(Role.CLIENT)).status_code == 403
    assert client.get("/v1/audit/verify", headers=auth(Role.ADMIN)).status_code == 200
    assert client.get("/v1/audit", params={"since": "yesterday"}, headers=auth(Role.AUDITOR)).status_code == 422


def test_a_ruleset_version_enters_the_ledger_when_it_first_judges_a_case(client, auth, session):
    writer = auth(Role.CLIENT)
    client.put("/v1/cases/A-2", json=case_body(case_type="motor_claim"), headers=writer)
    client.post("/v1/cases/A-2/events", json=[event_body(0, type="fnol_received")], headers=writer)
    served = client.post("/v1/cases/A-2/suggestions", headers=writer).json()
    client.post("/v1/cases/A-2/suggestions", headers=writer)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.kind == "ruleset.first_used",
                                                       AuditEntry.subject == served["ruleset_version"])).all()
    assert len(entries) == 1 and entries[0].content["case_type"] == "motor_claim"
