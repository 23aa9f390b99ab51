"""Appending to the hash-chained ledger, verifying it, and reading it back.

Entry n's hash is sha256 over the canonical JSON of its position, time, kind, actor, case, subject, content and
entry n-1's hash (entry 1 chains to GENESIS). So editing any entry breaks its own hash, deleting or inserting one
breaks the positions or the next entry's link, and reordering breaks the links. Appends are serialised (an advisory
lock on PostgreSQL; SQLite writers are serialised already) and made in the caller's transaction, so an entry exists
exactly when what it records was stored.
"""

import getpass
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core.hashing import canonical_json, sha256_hex
from app.core.pagination import decode_cursor, encode_cursor
from app.models.audit import AuditEntry
from app.models.base import utcnow

GENESIS = "0" * 64
_LOCK_ID = 0x6361_7365_7769_7365  # "casewise": the advisory lock that serialises appends on PostgreSQL
_VERIFY_BATCH = 2_000


def operator() -> str:
    """The actor for changes made from this machine's command line: the OS user."""
    return f"cli:{getpass.getuser()}"


def entry_hash(*, seq: int, at: datetime, kind: str, actor: str, case_id: str | None, subject: str | None,
               content: Any, prev_hash: str) -> str:
    """The hash an entry must carry."""
    return sha256_hex({"seq": seq, "at": at.isoformat(), "kind": kind, "actor": actor, "case_id": case_id,
                       "subject": subject, "content": content, "prev_hash": prev_hash})


def append(*, session: Session, kind: str, actor: str, content: dict[str, Any], case_id: str | None = None,
           subject: str | None = None) -> AuditEntry:
    """Add an entry at the end of the chain, in the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = utcnow()
    content = _plain(content)
    entry = AuditEntry(seq=seq, at=at, kind=kind, actor=actor, case_id=case_id, subject=subject, content=content,
                       prev_hash=prev_hash, hash=entry_hash(seq=seq, at=at, kind=kind, actor=actor, case_id=case_id,
                                                            subject=subject, content=content, prev_hash=prev_hash))
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Verification:
    """What `verify` found: how many entries, and the first bad one with what is wrong with it."""

    entries: int
    first_bad: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad, "problem": self.problem}


def verify(*, session: Session) -> Verification:
    """Walk the chain from the start; the first entry out of place, altered or not linked to its predecessor."""
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for entry in _entries(session):
        count += 1
        if entry.seq != expected_seq:
            what = "missing" if entry.seq > expected_seq else "out of order"
            return Verification(count, expected_seq if entry.seq > expected_seq else entry.seq,
                                f"entry {expected_seq} is {what}: found {entry.seq} next")
        if entry.prev_hash != prev_hash:
            return Verification(count, entry.seq, f"entry {entry.seq} does not link to entry {entry.seq - 1}")
        actual = entry_hash(seq=entry.seq, at=entry.at, kind=entry.kind, actor=entry.actor, case_id=entry.case_id,
                            subject=entry.subject, content=entry.content, prev_hash=entry.prev_hash)
        if actual != entry.hash:
            return Verification(count, entry.seq, f"entry {entry.seq} was altered: its content does not match its hash")
        expected_seq, prev_hash = expected_seq + 1, entry.hash
    return Verification(count)


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]
    next_cursor: str | None


def search(*, session: Session, case_id: str | None = None, kind: str | None = None, actor: str | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int = 100,
           cursor: str | None = None) -> Page:
    """Entries matching every filter given, in chain order, a page at a time (`cursor` continues a page)."""
    query = select(AuditEntry).order_by(AuditEntry.seq).limit(limit + 1)
    if cursor is not None:
        query = query.where(AuditEntry.seq > int(decode_cursor(cursor, keys={"seq"})["seq"]))
    for column, value in ((AuditEntry.case_id, case_id), (AuditEntry.kind, kind), (AuditEntry.actor, actor)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor({"seq": rows[-1].seq}) if more else None)


def _entries(session: Session) -> Iterator[AuditEntry]:
    """Every entry in storage order of position, read in batches."""
    after = 0
    while True:
        batch = session.scalars(select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
                                .limit(_VERIFY_BATCH)).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].seq


def _plain(value: Any) -> Any:
    """The content as it reads back from the JSON column, so the hash is over what is stored."""
    return json.loads(canonical_json(value))
