"""Next-action suggestions: for a stored case, or for a case sent inline."""

from typing import Annotated

from fastapi import APIRouter, Body, Request

from app.api.deps import CaseWriter, SessionDep, SettingsDep, SuggestionReader
from app.api.routes.cases import CaseId
from app.cases.service import case_data
from app.core.schemas import ErrorResponse
from app.recommend.replay import replay
from app.recommend.schemas import InlineSuggestionRequest, ReplayOut, SuggestionOut, SuggestionRequest
from app.recommend.service import suggest
from app.rules.service import inline_case

router = APIRouter(prefix="/v1", tags=["suggestions"],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 503)})


@router.post("/cases/{case_id}/suggestions", response_model=SuggestionOut)
def suggest_for_case(case_id: CaseId, session: SessionDep, request: Request, principal: CaseWriter,
                     body: Annotated[SuggestionRequest | None, Body()] = None) -> dict:
    """Rank the next actions for a stored case: rules first, then the ranker, then the policy."""
    case = case_data(session=session, case_id=case_id)
    response = suggest(session=session, recommender=request.app.state.recommender, case=case, case_id=case_id,
                       as_of=body.as_of if body else None, requested_by=principal.name)
    session.commit()
    return response


@router.post("/suggestions", response_model=SuggestionOut)
def suggest_inline(body: InlineSuggestionRequest, session: SessionDep, request: Request, settings: SettingsDep,
                   principal: CaseWriter) -> dict:
    """Rank the next actions for a case sent whole in the request; the suggestion is stored, the case is not."""
    case = inline_case(body, max_history=settings.max_history_events)
    response = suggest(session=session, recommender=request.app.state.recommender, case=case, case_id=None,
                       as_of=body.as_of, requested_by=principal.name)
    session.commit()
    return response


@router.get("/suggestions/{suggestion_id}/replay", response_model=ReplayOut)
def replay_suggestion(suggestion_id: str, session: SessionDep, request: Request, principal: SuggestionReader) -> dict:
    """Recompute a stored suggestion with its recorded ruleset and model versions (`replayed`, identical to what was
    sent), and what the active versions would suggest instead (`current`)."""
    return replay(session=session, recommender=request.app.state.recommender, suggestion_id=suggestion_id)
