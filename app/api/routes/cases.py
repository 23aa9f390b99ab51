"""/v1/cases: case intake and reading a case with its history."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from app.api.deps import CaseReader, CaseWriter, SessionDep, SettingsDep
from app.cases import service
from app.cases.schemas import AppendResult, CaseIn, CaseOut, CaseWithHistory, EventsIn
from app.core.schemas import ErrorResponse

router = APIRouter(prefix="/v1/cases", tags=["cases"],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422)})

CaseId = Annotated[str, Path(min_length=1, max_length=200, description="the client's own case id")]


@router.put("/{case_id}", response_model=CaseOut, responses={201: {"model": CaseOut}})
def put_case(case_id: CaseId, case: CaseIn, session: SessionDep, _: CaseWriter, response: Response) -> CaseOut:
    """Create the case (201) or replace its type, status, attributes and opening time (200)."""
    stored, created = service.upsert_case(session=session, case_id=case_id, data=case)
    session.commit()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return CaseOut.model_validate(stored)


@router.post("/{case_id}/events", response_model=AppendResult, responses={409: {"model": ErrorResponse}})
def append_events(case_id: CaseId, events: Annotated[EventsIn, Body()], session: SessionDep,
                  settings: SettingsDep, _: CaseWriter) -> AppendResult:
    """Append one event or a list, whole or not at all. Re-sending a stored event_id as it was is a
    no-op reported as `duplicate`; the same event_id with other content is 409."""
    batch = events if isinstance(events, list) else [events]
    result = service.append_events(session=session, case_id=case_id, events=batch,
                                   max_history=settings.max_history_events)
    session.commit()
    return result


@router.get("/{case_id}", response_model=CaseWithHistory)
def get_case(case_id: CaseId, session: SessionDep, settings: SettingsDep, _: CaseReader,
             limit: Annotated[int | None, Query(ge=1, le=1000, description="events per page")] = None,
             cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
             ) -> CaseWithHistory:
    """The case and one page of its history in time order."""
    case = service.get_case(session=session, case_id=case_id)
    page = service.history_page(session=session, case=case, limit=limit or settings.history_page_size,
                                cursor=cursor)
    return CaseWithHistory(**CaseOut.model_validate(case).model_dump(), history=page)
