"""Rule evaluation: a stored case (/v1/cases/{case_id}/evaluation) or one sent inline (/v1/evaluation)."""

from typing import Annotated

from fastapi import APIRouter, Body, Request

from app.api.deps import CaseEvaluator, SessionDep, SettingsDep
from app.api.routes.cases import CaseId
from app.core.schemas import ErrorResponse
from app.rules import service
from app.rules.outcome import RuleOutcome
from app.rules.schemas import EvaluationRequest, InlineEvaluationRequest

router = APIRouter(prefix="/v1", tags=["evaluation"],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 503)})


@router.post("/cases/{case_id}/evaluation", response_model=RuleOutcome)
def evaluate_case(case_id: CaseId, session: SessionDep, request: Request, _: CaseEvaluator,
                  body: Annotated[EvaluationRequest | None, Body()] = None) -> RuleOutcome:
    """Evaluate a stored case and its whole history under the active ruleset of its type."""
    return service.evaluate_stored(session=session, registry=request.app.state.rulesets, case_id=case_id,
                                   as_of=body.as_of if body else None)


@router.post("/evaluation", response_model=RuleOutcome)
def evaluate_inline(body: InlineEvaluationRequest, request: Request, session: SessionDep, settings: SettingsDep,
                    _: CaseEvaluator) -> RuleOutcome:
    """Evaluate a case sent whole in the request; nothing is stored."""
    return service.evaluate_inline(session=session, registry=request.app.state.rulesets, request=body,
                                   max_history=settings.max_history_events)
