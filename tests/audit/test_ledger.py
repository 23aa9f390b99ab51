"""The ledger's hash chain: every edit, deletion, insertion or reordering is found, and the first bad entry named."""

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from app.audit import ledger
from app.models import AuditEntry


def entries(session, n: int) -> list[int]:
    """Append n entries; their positions."""
    return [ledger.append(session=session, kind="test.event", actor="tester", case_id=f"C-{i}",
                          content={"i": i, "note": "é"}).seq for i in range(n)]


def tamper(session, statement: str, **params) -> None:
    """Change the ledger behind the application's back (on PostgreSQL, past its append-only trigger)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
    session.execute(text(statement), params)
    session.expire_all()


def test_entries_chain_and_verify(session):
    first, second, third = (session.get(AuditEntry, seq) for seq in entries(session, 3))
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert third.seq == first.seq + 2
    result = ledger.verify(session=session)
    assert result.ok and result.entries >= 3


@pytest.mark.parametrize(("statement", "problem"), [
    ("UPDATE audit_entries SET actor = 'someone else' WHERE seq = :seq", "altered"),
    ("DELETE FROM audit_entries WHERE seq = :seq", "missing"),
], ids=["edited", "deleted"])
def test_an_edited_or_deleted_entry_is_named(session, statement, problem):
    _, victim, _ = entries(session, 3)
    tamper(session, statement, seq=victim)
    result = ledger.verify(session=session)
    assert (result.ok, result.first_bad) == (False, victim)
    assert problem in result.problem


def test_reordered_entries_are_named(session):
    first, second, _ = entries(session, 3)
    tamper(session, "UPDATE audit_entries SET seq = -1 WHERE seq = :a", a=first)
    tamper(session, "UPDATE audit_entries SET seq = :a WHERE seq = :b", a=first, b=second)
    tamper(session, "UPDATE audit_entries SET seq = :b WHERE seq = -1", b=second)
    result = ledger.verify(session=session)
    assert (result.ok, result.first_bad) == (False, first)


def test_an_inserted_entry_is_named(session):
    last = session.get(AuditEntry, entries(session, 2)[-1])
    forged = AuditEntry(seq=last.seq + 1, at=last.at, kind="test.event", actor="forger", case_id=None, subject=None,
                        content={}, prev_hash=last.hash, hash="f" * 64)
    session.add(forged)
    session.flush()
    result = ledger.verify(session=session)
    assert (result.ok, result.first_bad) == (False, last.seq + 1)


@pytest.mark.postgres_only
def test_postgresql_refuses_to_change_or_remove_entries(session, database):
    if database.backend != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    seq = entries(session, 1)[0]
    for statement in (update(AuditEntry).where(AuditEntry.seq == seq).values(actor="x"),
                      text(f"DELETE FROM audit_entries WHERE seq = {seq}")):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(statement)
    assert session.scalars(select(AuditEntry.actor).where(AuditEntry.seq == seq)).one() == "tester"
