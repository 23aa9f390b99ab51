"""API keys: issued once in clear, stored only as sha256, looked up by hash."""

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import ledger
from app.auth.roles import Role
from app.core.errors import NotFound, field_problem
from app.models import ApiKey
from app.models.base import utcnow

KEY_PREFIX = "cw_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its name and its role."""

    key_id: int
    name: str
    role: Role


def hash_key(key: str) -> str:
    """The stored form of a key. Keys carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(*, session: Session, name: str, role: Role, actor: str | None = None) -> tuple[ApiKey, str]:
    """A new key row and the key in clear, which is never stored and cannot be shown again; in the ledger."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role.value, key_hash=hash_key(key), prefix=key[:10], created_at=utcnow())
    session.add(row)
    session.flush()
    ledger.append(session=session, kind="key.created", actor=actor or ledger.operator(), subject=str(row.id),
                  content={"key_id": row.id, "name": name, "role": role.value, "prefix": row.prefix})
    return row, key


def revoke_key(*, session: Session, key_id: int, actor: str | None = None) -> ApiKey:
    """Revoke the key (in the ledger); revoking twice keeps the first revocation time."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no key {key_id}", detail=[field_problem("key_id", "unknown key", "not_found")])
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        ledger.append(session=session, kind="key.revoked", actor=actor or ledger.operator(), subject=str(row.id),
                      content={"key_id": row.id, "name": row.name, "role": row.role})
    session.flush()
    return row


def list_keys(*, session: Session) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def authenticate(*, session: Session, key: str) -> Principal | None:
    """The principal for a live key, or None for an unknown or revoked one."""
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    ).one_or_none()
    return None if row is None else Principal(key_id=row.id, name=row.name, role=Role(row.role))
