"""Evaluating a stored or an inline case under the active ruleset of its type."""

from datetime import datetime

from sqlalchemy.orm import Session

from app.cases.service import case_data
from app.core.errors import PayloadTooLarge, field_problem
from app.models.base import utcnow
from app.rules.facts import CaseData, events_from
from app.rules.outcome import RuleOutcome
from app.rules.registry import RulesetRegistry, evaluator_for
from app.rules.schemas import InlineEvaluationRequest


def evaluate_stored(*, session: Session, registry: RulesetRegistry, case_id: str,
                    as_of: datetime | None) -> RuleOutcome:
    """The outcome for a stored case and its whole history."""
    data = case_data(session=session, case_id=case_id)
    return evaluator_for(registry.active(session=session, case_type=data.case_type)).evaluate(
        data, as_of=as_of or utcnow())


def evaluate_inline(*, session: Session, registry: RulesetRegistry, request: InlineEvaluationRequest,
                    max_history: int) -> RuleOutcome:
    """The outcome for a case sent whole in the request; nothing is stored."""
    data = inline_case(request, max_history=max_history)
    return evaluator_for(registry.active(session=session, case_type=data.case_type)).evaluate(
        data, as_of=request.as_of or utcnow())


def inline_case(request: InlineEvaluationRequest, *, max_history: int) -> CaseData:
    """The case a request sends whole; opened, unless it says otherwise, at its first event (or now)."""
    if len(request.events) > max_history:
        raise PayloadTooLarge(f"{len(request.events)} events; the limit is {max_history}",
                              detail=[field_problem("body.events", f"more than {max_history} events", "too_long")])
    case = request.case
    opened_at = case.opened_at or (min(e.at for e in request.events) if request.events else utcnow())
    return CaseData(case_id=case.case_id, case_type=case.case_type, status=case.status, opened_at=opened_at,
                    attributes=case.attributes, events=events_from(request.events))
