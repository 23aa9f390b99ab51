"""Recording a decision on a suggestion: checked against what was shown, once, safely retried, in the ledger."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import ledger
from app.core.errors import Conflict, InvalidInput, NotFound, field_problem
from app.core.hashing import sha256_hex
from app.decisions.schemas import DecisionIn
from app.models import Decision, Suggestion
from app.models.base import utcnow
from app.recommend.catalog import catalog_for
from app.rules.registry import RulesetRegistry


@dataclass(frozen=True)
class Recorded:
    """The stored decision, and whether this request stored it (False: a retry of one stored before)."""

    decision: Decision
    created: bool


def record_decision(*, session: Session, suggestion_id: str, body: DecisionIn, rulesets: RulesetRegistry,
                    reasons: Sequence[str], idempotency_key: str | None, recorded_by: str) -> Recorded:
    """Store the one decision on a suggestion. The same request again (by Idempotency-Key, or the same content
    without one) answers with the stored decision; a different decision on a decided suggestion is a Conflict."""
    request_hash = sha256_hex({"suggestion_id": suggestion_id, **body.model_dump()})
    earlier = _earlier(session, suggestion_id, idempotency_key, request_hash)
    if earlier is not None:
        return Recorded(earlier, False)
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise NotFound(f"no suggestion {suggestion_id!r}",
                       detail=[field_problem("suggestion_id", "unknown suggestion", "not_found")])
    shown = {item["action"]: item for item in suggestion.response["actions"]}
    catalog = catalog_for(suggestion.case_type, rulesets.find(session=session, case_type=suggestion.case_type)).labels
    ad_hoc = _check(body, shown, set(catalog) | set(shown) | set(suggestion.policy.get("scores", {})), reasons)
    item = shown.get(body.action) if body.action else None
    decision = Decision(
        suggestion_id=suggestion_id, case_id=suggestion.case_id, case_type=suggestion.case_type,
        outcome=body.outcome, action=body.action, ad_hoc=ad_hoc, ad_hoc_description=body.ad_hoc_description,
        reason_code=body.reason_code, comment=body.comment, actor=body.actor,
        shown_rank=item["rank"] if item else None, shown_propensity=item["propensity"] if item else None,
        idempotency_key=idempotency_key, request_hash=request_hash, decided_at=utcnow(), recorded_by=recorded_by)
    try:
        with session.begin_nested():
            session.add(decision)
            session.flush()
    except IntegrityError:
        # Another request stored a decision first (a concurrent retry, or a different decision).
        earlier = _earlier(session, suggestion_id, idempotency_key, request_hash)
        if earlier is None:
            raise Conflict("the suggestion was decided concurrently") from None
        return Recorded(earlier, False)
    ledger.append(session=session, kind="decision.recorded", actor=body.actor, case_id=suggestion.case_id,
                  subject=suggestion_id,
                  content={"suggestion_id": suggestion_id, "outcome": body.outcome, "action": body.action,
                           "ad_hoc": ad_hoc, "reason_code": body.reason_code, "shown_rank": decision.shown_rank,
                           "recorded_by": recorded_by, "request_sha256": request_hash})
    return Recorded(decision, True)


def _earlier(session: Session, suggestion_id: str, idempotency_key: str | None, request_hash: str) -> Decision | None:
    """The stored decision this request repeats, if any; Conflict when it contradicts a stored one."""
    if idempotency_key is not None:
        keyed = session.scalars(select(Decision).where(Decision.idempotency_key == idempotency_key)).one_or_none()
        if keyed is not None:
            if keyed.request_hash != request_hash:
                raise Conflict("this Idempotency-Key was used for another decision",
                               detail=[field_problem("header.Idempotency-Key", "already used for another decision",
                                                     "conflict")])
            return keyed
    stored = session.scalars(select(Decision).where(Decision.suggestion_id == suggestion_id)).one_or_none()
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise Conflict(f"suggestion {suggestion_id!r} already has a decision ({stored.outcome} by {stored.actor})",
                       detail=[field_problem("suggestion_id", "already decided", "conflict")])
    return stored


def _check(body: DecisionIn, shown: dict[str, dict], known: set[str], reasons: Sequence[str]) -> bool:
    """Whether the decision fits the suggestion; returns whether its action is ad hoc (outside the catalog)."""
    problems = []
    ad_hoc = False
    if body.outcome == "accepted":
        item = shown.get(body.action or "")
        if body.action is None:
            problems.append(field_problem("body.action", "required to accept", "missing"))
        elif item is None or item["status"] == "blocked":
            problems.append(field_problem("body.action", f"{body.action!r} was not shown as an available action"))
    elif body.outcome == "overridden":
        if body.action is None:
            problems.append(field_problem("body.action", "required to override: the action taken", "missing"))
        elif body.action not in known:
            ad_hoc = True
            if body.ad_hoc_description is None:
                problems.append(field_problem("body.ad_hoc_description",
                                              f"{body.action!r} is not in the catalog: describe the action", "missing"))
        if body.reason_code is None:
            problems.append(field_problem("body.reason_code", "required to override", "missing"))
        elif body.reason_code not in reasons:
            problems.append(field_problem("body.reason_code", f"must be one of {', '.join(reasons)}"))
    elif body.action is not None:
        problems.append(field_problem("body.action", "a dismissal takes no action"))
    if body.ad_hoc_description is not None and not ad_hoc:
        problems.append(field_problem("body.ad_hoc_description", "only for an override with an action outside the "
                                                                 "catalog"))
    if problems:
        raise InvalidInput("the decision does not fit the suggestion", detail=problems)
    return ad_hoc


def decided_suggestions(*, session: Session, case_type: str | None = None) -> list[tuple[Decision, Suggestion]]:
    """Every decision with the suggestion it answers, in the order they were decided (of one case type if given)."""
    query = (select(Decision, Suggestion).join(Suggestion, Suggestion.suggestion_id == Decision.suggestion_id)
             .order_by(Decision.decided_at, Decision.id))
    if case_type is not None:
        query = query.where(Decision.case_type == case_type)
    return [(decision, suggestion) for decision, suggestion in session.execute(query)]


def export_rows(pairs: Sequence[tuple[Decision, Suggestion]]) -> list[dict]:
    """Decisions as flat rows for data scientists: what was shown, by which versions, and what was done."""
    rows = []
    for decision, suggestion in pairs:
        shown = suggestion.response["actions"]
        rows.append({
            "suggestion_id": decision.suggestion_id, "case_id": decision.case_id, "case_type": decision.case_type,
            "suggested_at": suggestion.as_of, "decided_at": decision.decided_at,
            "ruleset_version": suggestion.ruleset_version, "model_version": suggestion.model_version,
            "ranker": suggestion.response["ranker"],
            "top_action": shown[0]["action"] if shown else None,
            "shown_actions": ",".join(item["action"] for item in shown),
            "outcome": decision.outcome, "action": decision.action, "ad_hoc": decision.ad_hoc,
            "ad_hoc_description": decision.ad_hoc_description, "reason_code": decision.reason_code,
            "comment": decision.comment, "actor": decision.actor, "shown_rank": decision.shown_rank,
            "shown_propensity": decision.shown_propensity, "events_before": len(suggestion.case_snapshot["events"]),
        })
    return rows
