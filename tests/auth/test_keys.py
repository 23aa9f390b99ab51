from sqlalchemy import select

from app.auth.keys import authenticate, create_key, hash_key, list_keys, revoke_key
from app.auth.roles import Role
from app.models import ApiKey


def test_only_the_hash_is_stored(session):
    row, key = create_key(session=session, name="web", role=Role.CLIENT)
    stored = session.scalars(select(ApiKey).where(ApiKey.id == row.id)).one()
    assert key not in {stored.key_hash, stored.name, stored.prefix}
    assert stored.key_hash == hash_key(key)


def test_authenticate_knows_live_keys_only(session):
    row, key = create_key(session=session, name="web", role=Role.OFFICER)
    principal = authenticate(session=session, key=key)
    assert (principal.key_id, principal.role) == (row.id, Role.OFFICER)
    assert authenticate(session=session, key=key + "x") is None
    revoke_key(session=session, key_id=row.id)
    assert authenticate(session=session, key=key) is None


def test_keys_are_unique_and_listed(session):
    keys = {create_key(session=session, name=f"k{i}", role=Role.AUDITOR)[1] for i in range(20)}
    assert len(keys) == 20
    assert len([k for k in list_keys(session=session) if k.name.startswith("k")]) >= 20
