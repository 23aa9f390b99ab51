"""Request bodies for tests: valid by default, any field overridable."""

from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def case_body(**overrides: Any) -> dict[str, Any]:
    body = {"case_type": "motor_claim", "status": "open", "attributes": {"claim_amount": 4200.0, "region": "north"},
            "opened_at": BASE_TIME.isoformat()}
    return {**body, **overrides}


def event_body(n: int = 0, **overrides: Any) -> dict[str, Any]:
    body = {"event_id": f"E{n:05d}", "type": "documents_requested",
            "at": (BASE_TIME + timedelta(hours=n)).isoformat(), "actor": "handler_01",
            "attributes": {"documents": ["photos"]}}
    return {**body, **overrides}
