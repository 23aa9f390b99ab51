"""Concurrent decisions against a real server: every request sent twice, each decision stored once, the ledger
intact, never a 5xx."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest
from sqlalchemy import func, select

from app.audit import ledger
from app.auth.roles import Role
from app.db.session import session_factory
from app.models import Decision
from tests.factories import case_body, event_body
from tests.live import committed_key, serving


def run_clients(database, clients: int, decisions_each: int) -> None:
    prefix = f"DEC-{uuid.uuid4().hex[:8]}"
    headers = committed_key(database.engine, Role.CLIENT)

    def client_session(n: int) -> Counter:
        statuses: Counter = Counter()
        case_id = f"{prefix}-{n}"
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            http.put(f"/v1/cases/{case_id}", json=case_body(case_type="ticket"))
            http.post(f"/v1/cases/{case_id}/events", json=[event_body(0, type="open"), event_body(1, type="assign")])
            for i in range(decisions_each):
                suggestion = http.post(f"/v1/cases/{case_id}/suggestions")
                statuses[f"suggestion {suggestion.status_code}"] += 1
                body = suggestion.json()
                decision = {"outcome": "accepted", "action": body["actions"][0]["action"], "actor": f"worker-{n}"}
                key = {"Idempotency-Key": f"{body['suggestion_id']}-{i}"}
                for _ in range(2):  # every decision sent twice, as a client retrying after a timeout would
                    response = http.post(f"/v1/suggestions/{body['suggestion_id']}/decision", json=decision,
                                         headers=key)
                    statuses[f"decision {response.status_code}"] += 1
        return statuses

    with serving(database.url, workers=2) as base, ThreadPoolExecutor(clients) as pool:
        statuses = sum(pool.map(client_session, range(clients)), Counter())

    total = clients * decisions_each
    assert statuses == Counter({"suggestion 200": total, "decision 201": total, "decision 200": total})
    with session_factory(database.engine)() as session:
        stored = session.scalar(select(func.count()).select_from(Decision).where(Decision.case_id.like(f"{prefix}-%")))
        assert stored == total
        assert ledger.verify(session=session).ok


def test_concurrent_decisions_sample(database):
    run_clients(database, clients=8, decisions_each=15)


@pytest.mark.slow
def test_fifty_clients_two_hundred_decisions_each_on_postgresql(database):
    if database.backend != "postgresql":
        pytest.skip("the acceptance run is against PostgreSQL")
    run_clients(database, clients=50, decisions_each=200)
