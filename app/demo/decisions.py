"""Simulated case workers: suggestions asked for open demo claims and decided on, so that a fresh demo has the
decisions the override analysis and the model report need. Deterministic for a seed."""

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.service import case_data
from app.decisions.schemas import DecisionIn
from app.decisions.service import record_decision
from app.models import Case, Decision
from app.recommend.catalog import catalog_for
from app.recommend.service import Recommender, suggest

WORKERS = ("handler_01", "handler_02", "handler_03", "handler_04", "handler_05")
LARGE_CLAIM = 15_000
SCRUTINY = "fraud_check_opened"


@dataclass(frozen=True)
class Simulated:
    suggestions: int
    decisions: dict[str, int]


def simulate_decisions(*, session: Session, recommender: Recommender, case_type: str, count: int,
                       seed: int = 7) -> Simulated:
    """Ask for a suggestion on up to `count` undecided, open cases of the type and decide each: accept the first
    available action (most often), override with another catalog action (with a reason), or dismiss."""
    rng = random.Random(seed)
    decided = select(Decision.case_id).where(Decision.case_id.is_not(None))
    case_ids = session.scalars(select(Case.case_id).where(Case.case_type == case_type, Case.status != "closed",
                                                          Case.case_id.not_in(decided))
                               .order_by(Case.case_id).limit(count)).all()
    ruleset = recommender.rulesets.find(session=session, case_type=case_type)
    reasons = recommender.settings.override_reasons
    outcomes = {"accepted": 0, "overridden": 0, "dismissed": 0}
    for case_id in case_ids:
        case = case_data(session=session, case_id=case_id)
        if not case.events:
            continue
        response = suggest(session=session, recommender=recommender, case=case, case_id=case_id,
                           as_of=case.events[-1].at, requested_by="demo-workers")
        available = [a["action"] for a in response["actions"] if a["status"] != "blocked"]
        catalog = list(catalog_for(case_type, ruleset, seen=[e.type for e in case.events]).labels)
        draw = rng.random()
        worker = rng.choice(WORKERS)
        large = float(case.attributes.get("claim_amount") or 0) > LARGE_CLAIM
        if large and available[:1] != [SCRUTINY] and SCRUTINY in catalog and draw < 0.6:
            # The team's habit the model has not learnt: large claims get a fraud check first.
            body = DecisionIn(outcome="overridden", action=SCRUTINY, reason_code=reasons[0], actor=worker,
                              comment="large claim: fraud check first")
        elif available and draw < 0.75:
            body = DecisionIn(outcome="accepted", action=available[0], actor=worker)
        elif draw < 0.94:
            others = [a for a in catalog if a not in available[:1]] or catalog
            body = DecisionIn(outcome="overridden", action=rng.choice(others), reason_code=rng.choice(reasons),
                              comment="simulated override", actor=worker)
        else:
            body = DecisionIn(outcome="dismissed", actor=worker)
        record_decision(session=session, suggestion_id=response["suggestion_id"], body=body,
                        rulesets=recommender.rulesets,
                        reasons=reasons, idempotency_key=None, recorded_by="demo-workers")
        outcomes[body.outcome] += 1
    return Simulated(len(case_ids), outcomes)
