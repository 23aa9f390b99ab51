"""Loading the demo into a database: claims through the normal intake path, and the demo key."""

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.auth.keys import create_key, revoke_key
from app.auth.roles import Role
from app.cases.service import store_case
from app.demo.claims import DemoCase
from app.models import ApiKey, Case

DEMO_KEY_NAME = "demo"


def holds_cases(*, session: Session) -> bool:
    """Whether the database holds any case at all."""
    return session.scalar(select(exists().where(Case.case_id.is_not(None)))) or False


def store_demo_case(*, session: Session, demo: DemoCase, max_history: int) -> int:
    """Store one demo claim as a client would; returns the events newly stored (0 when seeded before)."""
    _, appended = store_case(session=session, case_id=demo.case_id, data=demo.case, events=demo.events,
                             max_history=max_history)
    return appended.stored


def rotate_demo_key(*, session: Session) -> str:
    """A fresh admin key named 'demo', revoking the previous ones; returns it in clear."""
    for key_id in session.scalars(select(ApiKey.id).where(ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None))):
        revoke_key(session=session, key_id=key_id)
    _, key = create_key(session=session, name=DEMO_KEY_NAME, role=Role.ADMIN)
    return key
