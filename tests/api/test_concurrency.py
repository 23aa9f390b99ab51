"""Concurrent intake against a real server: idempotent, complete, never a 5xx."""

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
from sqlalchemy import func, select

from app.auth.roles import Role
from app.db.session import session_factory
from app.models import Case, CaseEvent
from tests.factories import case_body, event_body
from tests.live import committed_key, serving

THREADS, EVENTS_PER_THREAD = 20, 200


def test_parallel_appends_with_every_request_sent_twice(database):
    case_id = f"CONC-{uuid.uuid4().hex[:8]}"
    headers = committed_key(database.engine, Role.CLIENT)
    events = [event_body(t * EVENTS_PER_THREAD + i, event_id=f"T{t:02d}-{i:03d}")
              for t in range(THREADS) for i in range(EVENTS_PER_THREAD)]
    # Each request appears twice, shuffled, so a request and its resend often race on different threads.
    requests = events + events
    random.Random(7).shuffle(requests)

    with serving(database.url, workers=2) as base, httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        assert http.put(f"/v1/cases/{case_id}", json=case_body()).status_code == 201

        def post(event):
            return http.post(f"/v1/cases/{case_id}/events", json=event).status_code

        with ThreadPoolExecutor(THREADS) as pool:
            statuses = Counter(pool.map(post, requests))

    assert statuses == Counter({200: 2 * THREADS * EVENTS_PER_THREAD})
    with session_factory(database.engine)() as session:
        stored = session.scalar(select(func.count()).where(CaseEvent.case_id == case_id))
        distinct = session.scalar(select(func.count(func.distinct(CaseEvent.event_id))).where(
            CaseEvent.case_id == case_id))
        counter = session.scalar(select(Case.event_count).where(Case.case_id == case_id))
    assert stored == distinct == counter == THREADS * EVENTS_PER_THREAD


def test_parallel_creation_of_one_case(database):
    case_id = f"NEW-{uuid.uuid4().hex[:8]}"
    headers = committed_key(database.engine, Role.CLIENT)
    with (serving(database.url) as base, httpx.Client(base_url=base, headers=headers, timeout=60) as http,
          ThreadPoolExecutor(10) as pool):
        statuses = Counter(pool.map(lambda _: http.put(f"/v1/cases/{case_id}", json=case_body()).status_code,
                                    range(30)))
    assert statuses == Counter({201: 1, 200: 29})
