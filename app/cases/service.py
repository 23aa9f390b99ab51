"""Case intake: create or replace cases, append events idempotently, read a case with its history."""

from datetime import datetime

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from app.cases.schemas import AppendResult, CaseIn, EventIn, EventOut, EventReceipt, HistoryPage
from app.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, field_problem
from app.core.hashing import sha256_hex
from app.core.pagination import decode_cursor, encode_cursor, invalid_cursor
from app.db.session import dialect_insert
from app.models import Case, CaseEvent
from app.models.base import utcnow
from app.rules.facts import CaseData, EventData, events_from

# Keeps `IN (...)` lists well under every backend's bound-parameter limit.
_LOOKUP_CHUNK = 500


def upsert_case(*, session: Session, case_id: str, data: CaseIn) -> tuple[Case, bool]:
    """Create the case or replace its fields; returns the case and whether it was created."""
    now = utcnow()
    insert = dialect_insert(session, Case.__table__).values(
        case_id=case_id,
        case_type=data.case_type,
        status=data.status,
        attributes=data.attributes,
        opened_at=data.opened_at or now,
        event_count=0,
        created_at=now,
        updated_at=now,
    )
    inserted = session.execute(insert.on_conflict_do_nothing(index_elements=["case_id"]).returning(Case.case_id))
    created = inserted.first() is not None
    case = _locked_case(session, case_id)
    if not created:
        case.case_type = data.case_type
        case.status = data.status
        case.attributes = data.attributes
        if data.opened_at is not None:
            case.opened_at = data.opened_at
        case.updated_at = now
    session.flush()
    return case, created


def append_events(*, session: Session, case_id: str, events: list[EventIn], max_history: int) -> AppendResult:
    """Store the events whole or not at all; an event_id already stored with the same content is a no-op.

    Raises Conflict when an event_id is stored with other content, InvalidInput when the request names
    one event_id twice with different content, PayloadTooLarge past `max_history` events. On a raise the
    caller rolls back, which undoes the rows this call inserted.
    """
    hashes: dict[str, str] = {}
    by_id: dict[str, EventIn] = {}
    for index, event in enumerate(events):
        digest = sha256_hex(event.content())
        if hashes.setdefault(event.event_id, digest) != digest:
            raise InvalidInput(
                "the request holds one event_id twice with different content",
                detail=[field_problem(f"body.events[{index}].event_id",
                                      f"{event.event_id!r} appears earlier in this request with other content")],
            )
        by_id.setdefault(event.event_id, event)
    if not session.scalar(select(exists().where(Case.case_id == case_id))):
        raise _unknown_case(case_id)

    # No lock is taken up front: the unique (case_id, event_id) index arbitrates concurrent resends, and
    # the counter UPDATE at the end holds the case row only until commit. Inserting in event_id order
    # means two requests naming the same events wait on each other in one order, never in a cycle.
    now = utcnow()
    rows = [{"case_id": case_id, "event_id": e.event_id, "type": e.type, "at": e.at, "actor": e.actor,
             "attributes": e.attributes, "content_hash": hashes[e.event_id], "recorded_at": now}
            for e in sorted(by_id.values(), key=lambda e: e.event_id)]
    insert = dialect_insert(session, CaseEvent.__table__).on_conflict_do_nothing(
        index_elements=["case_id", "event_id"]).returning(CaseEvent.event_id)
    inserted = set(session.scalars(insert, rows).all()) if rows else set()  # no rows: an INSERT of defaults

    resent = [event_id for event_id in by_id if event_id not in inserted]
    conflicts = sorted(event_id for event_id, digest in _stored_hashes(session, case_id, resent).items()
                       if digest != hashes[event_id])
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} event_id(s) already stored with different content",
            detail=[field_problem("event_id", f"{event_id!r} is already stored with different content", "conflict")
                    for event_id in conflicts],
        )
    if inserted:
        event_count = session.execute(
            update(Case).where(Case.case_id == case_id)
            .values(event_count=Case.event_count + len(inserted), updated_at=now)
            .returning(Case.event_count)
        ).scalar_one()
        if event_count > max_history:
            raise PayloadTooLarge(
                f"case {case_id!r} would hold {event_count} events; the limit is {max_history}",
                detail=[field_problem("body", f"history longer than the maximum of {max_history} events", "too_long")],
            )
    else:
        event_count = session.scalar(select(Case.event_count).where(Case.case_id == case_id))
    receipts = [EventReceipt(event_id=event_id, status="stored" if event_id in inserted else "duplicate")
                for event_id in by_id]
    return AppendResult(case_id=case_id, stored=len(inserted), duplicates=len(resent), event_count=event_count,
                        events=receipts)


def store_case(*, session: Session, case_id: str, data: CaseIn, events: list[EventIn],
               max_history: int) -> tuple[bool, AppendResult]:
    """Create or replace the case and append its events idempotently; returns (created, what was appended)."""
    _, created = upsert_case(session=session, case_id=case_id, data=data)
    return created, append_events(session=session, case_id=case_id, events=events, max_history=max_history)


def get_case(*, session: Session, case_id: str) -> Case:
    """The stored case; NotFound if there is none."""
    case = session.get(Case, case_id)
    if case is None:
        raise _unknown_case(case_id)
    return case


def history_page(*, session: Session, case: Case, limit: int, cursor: str | None) -> HistoryPage:
    """One page of the case's events in time order (ties in arrival order), after `cursor`."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.case_id)
    if cursor is not None:
        position = decode_cursor(cursor, keys={"at", "id"})
        try:
            after_at, after_id = datetime.fromisoformat(position["at"]), int(position["id"])
        except (TypeError, ValueError):
            raise invalid_cursor() from None
        query = query.where(or_(CaseEvent.at > after_at, and_(CaseEvent.at == after_at, CaseEvent.id > after_id)))
    rows = session.scalars(query.order_by(CaseEvent.at, CaseEvent.id).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor({"at": page[-1].at.isoformat(), "id": page[-1].id}) if more else None
    return HistoryPage(items=[EventOut.model_validate(row) for row in page], total=case.event_count,
                       next_cursor=next_cursor)


def _locked_case(session: Session, case_id: str) -> Case:
    case = session.scalars(
        select(Case).where(Case.case_id == case_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if case is None:
        raise _unknown_case(case_id)
    return case


def _unknown_case(case_id: str) -> NotFound:
    return NotFound(f"no case {case_id!r}", detail=[field_problem("case_id", "unknown case", "not_found")])


def _stored_hashes(session: Session, case_id: str, event_ids: list[str]) -> dict[str, str]:
    stored: dict[str, str] = {}
    for start in range(0, len(event_ids), _LOOKUP_CHUNK):
        chunk = event_ids[start:start + _LOOKUP_CHUNK]
        rows = session.execute(
            select(CaseEvent.event_id, CaseEvent.content_hash)
            .where(CaseEvent.case_id == case_id, CaseEvent.event_id.in_(chunk))
        )
        stored.update({event_id: digest for event_id, digest in rows})
    return stored


def case_data(*, session: Session, case_id: str) -> CaseData:
    """The stored case and its whole history, as the rules and the ranker read cases."""
    case = get_case(session=session, case_id=case_id)
    rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id))
    return CaseData(case_id=case.case_id, case_type=case.case_type, status=case.status, opened_at=case.opened_at,
                    attributes=case.attributes, events=events_from(rows))


def cases_of_type(*, session: Session, case_type: str, limit: int | None = None) -> list[CaseData]:
    """Stored cases of a type with their histories, the most recently opened first (at most `limit`)."""
    query = select(Case).where(Case.case_type == case_type).order_by(Case.opened_at.desc(), Case.case_id)
    cases = session.scalars(query.limit(limit) if limit else query).all()
    events: dict[str, list[CaseEvent]] = {case.case_id: [] for case in cases}
    ids = list(events)
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(ids[start:start + _LOOKUP_CHUNK]))
                               .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id))
        for row in rows:
            events[row.case_id].append(row)
    return [CaseData(case_id=c.case_id, case_type=c.case_type, status=c.status, opened_at=c.opened_at,
                     attributes=c.attributes, events=events_from(events[c.case_id])) for c in cases]


def case_ids_of_type(*, session: Session, case_type: str, since: datetime | None = None) -> list[str]:
    """The ids of the stored cases of a type (opened at or after `since`), sorted."""
    cases = Case.__table__.c
    query = select(cases.case_id).where(cases.case_type == case_type)
    if since is not None:
        query = query.where(cases.opened_at >= since)
    return list(session.scalars(query.order_by(cases.case_id)))


def load_cases(*, session: Session, case_ids: list[str]) -> list[CaseData]:
    """The stored cases among `case_ids` with their histories, in the order given; ids not stored are skipped.

    Reads plain columns rather than ORM entities: for batch replay, where identity tracking buys nothing.
    """
    cases, events = Case.__table__.c, CaseEvent.__table__.c
    found: dict[str, CaseData] = {}
    for start in range(0, len(case_ids), _LOOKUP_CHUNK):
        chunk = case_ids[start:start + _LOOKUP_CHUNK]
        histories: dict[str, list[EventData]] = {case_id: [] for case_id in chunk}
        rows = session.execute(
            select(events.case_id, events.event_id, events.type, events.at, events.actor, events.attributes)
            .where(events.case_id.in_(chunk)).order_by(events.case_id, events.at, events.id))
        for case_id, event_id, kind, at, actor, attributes in rows:
            histories[case_id].append(EventData(event_id, kind, at, actor, attributes or {}))
        rows = session.execute(
            select(cases.case_id, cases.case_type, cases.status, cases.opened_at, cases.attributes)
            .where(cases.case_id.in_(chunk)))
        for case_id, case_type, status, opened_at, attributes in rows:
            found[case_id] = CaseData(case_id=case_id, case_type=case_type, status=status, opened_at=opened_at,
                                      attributes=attributes, events=tuple(histories[case_id]))
    return [found[case_id] for case_id in case_ids if case_id in found]
