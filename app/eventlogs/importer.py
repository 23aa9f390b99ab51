"""Storing an event log's cases through the intake service: re-importing the same file stores nothing new."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.cases.schemas import CaseIn, EventIn
from app.cases.service import store_case
from app.core.errors import InvalidInput, field_problem
from app.rules.facts import CaseData


@dataclass
class ImportResult:
    cases_created: int = 0
    cases_updated: int = 0
    events_stored: int = 0
    events_already_stored: int = 0


def store_cases(*, session: Session, cases: Iterable[CaseData], max_history: int,
                progress: Callable[[], None] = lambda: None) -> ImportResult:
    """Create or update each case and append its events (idempotently); the caller commits."""
    result = ImportResult()
    for case in cases:
        try:
            data = CaseIn(case_type=case.case_type, status=case.status, attributes=dict(case.attributes),
                          opened_at=case.opened_at)
            events = [EventIn(event_id=e.event_id, type=e.type, at=e.at, actor=e.actor, attributes=dict(e.attributes))
                      for e in case.events]
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise InvalidInput(f"case {case.case_id!r} cannot be stored: {where}: {problem['msg']}",
                               detail=[field_problem(f"case {case.case_id}.{where}", problem["msg"])]) from None
        created, appended = store_case(session=session, case_id=case.case_id, data=data, events=events,
                                       max_history=max_history)
        result.cases_created += created
        result.cases_updated += not created
        result.events_stored += appended.stored
        result.events_already_stored += appended.duplicates
        progress()
    return result
