"""Case intake over the API: create, append, read, and every documented refusal."""

import pytest
from sqlalchemy import func, select

from app.auth.roles import Role
from app.models import Case, CaseEvent
from tests.factories import case_body, event_body


def stored_counts(session, case_id: str) -> tuple[int, int]:
    cases = session.scalar(select(func.count()).select_from(Case).where(Case.case_id == case_id))
    events = session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id))
    return cases, events


@pytest.fixture
def headers(auth):
    return auth(Role.CLIENT)


@pytest.fixture
def case_id(client, headers):
    assert client.put("/v1/cases/C-1", json=case_body(), headers=headers).status_code == 201
    return "C-1"


def test_put_creates_then_replaces(client, headers):
    created = client.put("/v1/cases/C-9", json=case_body(attributes={"claim_amount": 10}), headers=headers)
    assert created.status_code == 201
    assert created.json()["attributes"] == {"claim_amount": 10}
    assert created.json()["opened_at"] == "2025-03-01T09:00:00Z"

    replaced = client.put("/v1/cases/C-9", json=case_body(status="closed", attributes={}), headers=headers)
    assert replaced.status_code == 200
    assert replaced.json()["status"] == "closed"
    assert replaced.json()["attributes"] == {}
    assert replaced.json()["created_at"] == created.json()["created_at"]


def test_opened_at_defaults_to_creation_time(client, headers):
    body = case_body()
    del body["opened_at"]
    response = client.put("/v1/cases/C-2", json=body, headers=headers)
    assert response.json()["opened_at"] == response.json()["created_at"]


def test_append_one_or_many_and_read_back_in_time_order(client, headers, case_id):
    one = client.post(f"/v1/cases/{case_id}/events", json=event_body(5), headers=headers)
    assert one.status_code == 200
    assert one.json()["stored"] == 1
    many = client.post(f"/v1/cases/{case_id}/events", json=[event_body(3), event_body(4)], headers=headers)
    assert many.json() == {"case_id": case_id, "stored": 2, "duplicates": 0, "event_count": 3,
                           "events": [{"event_id": "E00003", "status": "stored"},
                                      {"event_id": "E00004", "status": "stored"}]}
    history = client.get(f"/v1/cases/{case_id}", headers=headers).json()["history"]
    assert [e["event_id"] for e in history["items"]] == ["E00003", "E00004", "E00005"]
    assert history["total"] == 3


def test_resending_an_event_is_a_noop_answered_as_success(client, session, headers, case_id):
    first = client.post(f"/v1/cases/{case_id}/events", json=[event_body(1), event_body(2)], headers=headers)
    again = client.post(f"/v1/cases/{case_id}/events", json=[event_body(1), event_body(2)], headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["stored"] == 0
    assert again.json()["duplicates"] == 2
    assert stored_counts(session, case_id) == (1, 2)


def test_same_instant_in_another_offset_is_the_same_event(client, session, headers, case_id):
    client.post(f"/v1/cases/{case_id}/events", json=event_body(1, at="2025-03-01T10:00:00+02:00"), headers=headers)
    again = client.post(f"/v1/cases/{case_id}/events", json=event_body(1, at="2025-03-01T08:00:00Z"), headers=headers)
    assert again.json()["duplicates"] == 1


def test_same_event_id_with_other_content_is_409_and_the_batch_is_not_stored(client, session, headers, case_id):
    client.post(f"/v1/cases/{case_id}/events", json=event_body(1), headers=headers)
    response = client.post(f"/v1/cases/{case_id}/events",
                           json=[event_body(2), event_body(1, type="payment_issued")], headers=headers)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "E00001" in response.json()["detail"][0]["problem"]
    assert stored_counts(session, case_id) == (1, 1)


def test_one_request_naming_an_event_twice(client, session, headers, case_id):
    same = client.post(f"/v1/cases/{case_id}/events", json=[event_body(1), event_body(1)], headers=headers)
    assert same.json()["stored"] == 1
    other = client.post(f"/v1/cases/{case_id}/events",
                        json=[event_body(2), event_body(2, actor="someone_else")], headers=headers)
    assert other.status_code == 422
    assert other.json()["detail"][0]["field"] == "body.events[1].event_id"
    assert stored_counts(session, case_id) == (1, 1)


def test_history_beyond_the_maximum_is_413_and_nothing_is_stored(client, session, settings, headers, case_id):
    limit = settings.max_history_events
    client.post(f"/v1/cases/{case_id}/events", json=[event_body(i) for i in range(limit - 1)], headers=headers)
    response = client.post(f"/v1/cases/{case_id}/events", json=[event_body(limit), event_body(limit + 1)],
                           headers=headers)
    assert response.status_code == 413
    assert str(limit) in response.json()["message"]
    assert stored_counts(session, case_id) == (1, limit - 1)


def test_history_is_paged_with_a_cursor(client, headers, case_id):
    # Arrival order differs from time order, and two events share one instant.
    events = [event_body(i) for i in reversed(range(250))] + [event_body(999, at=event_body(7)["at"])]
    client.post(f"/v1/cases/{case_id}/events", json=events, headers=headers)
    seen, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/cases/{case_id}", params=params, headers=headers).json()["history"]
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [f"E{i:05d}" for i in range(8)] + ["E00999"] + [f"E{i:05d}" for i in range(8, 250)]
    assert seen == expected


def test_a_forged_cursor_is_422(client, headers, case_id):
    response = client.get(f"/v1/cases/{case_id}", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({k: v for k, v in case_body().items() if k != "case_type"}, "body.case_type", "required"),
        (case_body(attributes=[1, 2]), "body.attributes", "dictionary"),
        (case_body(attributes="x"), "body.attributes", "dictionary"),
        (case_body(opened_at="yesterday"), "body.opened_at", "ISO-8601"),
        (case_body(opened_at="2025-03-01T09:00:00"), "body.opened_at", "offset"),
        (case_body(case_type=""), "body.case_type", "at least 1"),
        (case_body(cse_type="typo"), "body.cse_type", "not permitted"),
    ],
)
def test_bad_case_is_422_naming_the_field(client, session, headers, body, field, words):
    response = client.put("/v1/cases/BAD", json=body, headers=headers)
    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "validation_error"
    assert any(p["field"] == field and words in p["problem"] for p in error["detail"]), error
    assert stored_counts(session, "BAD") == (0, 0)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({k: v for k, v in event_body().items() if k != "type"}, "body.event.type", "required"),
        (event_body(at="01/03/2025 10:00"), "body.event.at", "ISO-8601"),
        (event_body(at=1740819600), "body.event.at", "ISO-8601"),
        (event_body(at="1740819600"), "body.event.at", "ISO-8601"),
        (event_body(attributes=["x"]), "body.event.attributes", "dictionary"),
        ([event_body(1), {k: v for k, v in event_body(2).items() if k != "type"}], "body.events[1].type", "required"),
        ([event_body(1), event_body(2, at="soon")], "body.events[1].at", "ISO-8601"),
        (42, "body.event", "object"),
    ],
)
def test_bad_event_is_422_naming_the_field_and_nothing_is_stored(client, session, headers, case_id, body, field,
                                                                  words):
    response = client.post(f"/v1/cases/{case_id}/events", json=body, headers=headers)
    assert response.status_code == 422
    assert any(p["field"] == field and words in p["problem"] for p in response.json()["detail"]), response.json()
    assert stored_counts(session, case_id) == (1, 0)


def test_malformed_json_is_422(client, headers, case_id):
    response = client.post(f"/v1/cases/{case_id}/events", content=b'{"event_id": ', headers=headers | {
        "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


def test_body_over_the_limit_is_413(client, session, settings, headers, case_id):
    padding = "x" * settings.max_body_bytes
    response = client.post(f"/v1/cases/{case_id}/events", json=event_body(1, attributes={"note": padding}),
                           headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert stored_counts(session, case_id) == (1, 0)


def test_streamed_body_over_the_limit_is_413(client, session, settings, headers, case_id):
    def chunks():
        yield b'{"event_id": "E1", "type": "x", "at": "2025-03-01T09:00:00Z", "attributes": {"note": "'
        for _ in range(settings.max_body_bytes // 1024 + 1):
            yield b"y" * 1024
        yield b'"}}'

    response = client.post(f"/v1/cases/{case_id}/events", content=chunks(),
                           headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 413
    assert stored_counts(session, case_id) == (1, 0)


def test_unknown_case_is_404(client, headers):
    for response in (client.get("/v1/cases/NOPE", headers=headers),
                     client.post("/v1/cases/NOPE/events", json=event_body(), headers=headers)):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert response.json()["detail"][0]["field"] == "case_id"


@pytest.mark.parametrize("authorization", [None, "Bearer cw_not-a-key", "Basic dXNlcjpwYXNz", "Bearer"])
def test_missing_or_wrong_key_is_401(client, session, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.put("/v1/cases/K-1", json=case_body(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert stored_counts(session, "K-1") == (0, 0)


def test_revoked_key_is_401(client, session, auth):
    from app.auth.keys import revoke_key
    from app.models import ApiKey

    headers = auth(Role.CLIENT)
    assert client.put("/v1/cases/R-1", json=case_body(), headers=headers).status_code == 201
    newest = session.scalars(select(ApiKey).order_by(ApiKey.id.desc())).first()
    revoke_key(session=session, key_id=newest.id)
    assert client.put("/v1/cases/R-1", json=case_body(), headers=headers).status_code == 401


@pytest.mark.parametrize("role", [Role.OFFICER, Role.SCIENTIST, Role.AUDITOR])
def test_readers_may_read_but_not_write(client, session, auth, case_id, role):
    headers = auth(role)
    assert client.get(f"/v1/cases/{case_id}", headers=headers).status_code == 200
    put = client.put("/v1/cases/W-1", json=case_body(), headers=headers)
    post = client.post(f"/v1/cases/{case_id}/events", json=event_body(), headers=headers)
    assert put.status_code == post.status_code == 403
    assert role.value in put.json()["message"]
    assert stored_counts(session, "W-1") == (0, 0)
    assert stored_counts(session, case_id) == (1, 0)


@pytest.mark.parametrize("role", [Role.CLIENT, Role.ADMIN])
def test_clients_and_admins_may_write(client, auth, role):
    assert client.put("/v1/cases/A-1", json=case_body(), headers=auth(role)).status_code == 201


def test_unknown_route_and_method_use_the_error_shape(client, headers):
    missing = client.get("/v1/nothing-here", headers=headers)
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "message", "detail"}
    wrong = client.delete("/v1/cases/C-1", headers=headers)
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


def test_openapi_documents_the_bearer_scheme(client):
    spec = client.get("/openapi.json").json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "/v1/cases/{case_id}/events" in spec["paths"]
