"""Decisions on suggestions: accepted, overridden or dismissed, once per suggestion."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from app.api.deps import CaseWriter, SessionDep, SettingsDep
from app.core.schemas import ErrorResponse
from app.decisions.schemas import DecisionIn, DecisionOut
from app.decisions.service import record_decision

router = APIRouter(prefix="/v1", tags=["decisions"],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 422)})


@router.post("/suggestions/{suggestion_id}/decision", response_model=DecisionOut, status_code=201,
             responses={200: {"model": DecisionOut, "description": "a retry: the decision stored before"}})
def decide(suggestion_id: str, body: DecisionIn, session: SessionDep, settings: SettingsDep, request: Request,
           response: Response, principal: CaseWriter,
           idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> DecisionOut:
    """Record what the case worker did with a suggestion (201); a retry answers with the stored decision (200)."""
    recorded = record_decision(session=session, suggestion_id=suggestion_id, body=body,
                               rulesets=request.app.state.rulesets,
                               reasons=settings.override_reasons, idempotency_key=idempotency_key,
                               recorded_by=principal.name)
    session.commit()
    if not recorded.created:
        response.status_code = 200
    return DecisionOut.model_validate(recorded.decision)
