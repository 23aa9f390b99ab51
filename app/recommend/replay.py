"""Replaying a stored suggestion: the recorded ruleset, model and policy on the recorded case, and what the active
versions would say instead."""

from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import NotFound, field_problem
from app.models import Suggestion
from app.recommend import registry
from app.recommend.policy import PolicySettings
from app.recommend.service import Ranking, Recommender, case_from_snapshot, compose
from app.rules.versions import recorded_ruleset


def replay(*, session: Session, recommender: Recommender, suggestion_id: str) -> dict[str, Any]:
    """The suggestion recomputed from what was recorded (`replayed`, which must equal the stored response), whether
    it does (`identical`), and the suggestion the active ruleset and champion model would give (`current`)."""
    row = session.get(Suggestion, suggestion_id)
    if row is None:
        raise NotFound(f"no suggestion {suggestion_id!r}",
                       detail=[field_problem("suggestion_id", "unknown suggestion", "not_found")])
    case = case_from_snapshot(row.case_snapshot)
    settings = PolicySettings(exploration=row.policy["exploration"], shown=row.policy["shown"])
    ruleset = recorded_ruleset(session=session, version=row.ruleset_version) if row.ruleset_version else None
    if row.model_version is not None:
        loaded = recommender.models.load(registry.get_version(session=session, case_type=row.case_type,
                                                              version=row.model_version))
        ranking, scores = Ranking(loaded.estimator, loaded.version, "model", None), None
    else:
        # A baseline is refitted from the live history: its recorded scores are what it said then.
        ranking = Ranking(None, None, row.response["ranker"], row.response["note"])
        scores = row.policy["scores"]
    replayed = compose(case=case, case_id=row.case_id, as_of=row.as_of, ruleset=ruleset, ranking=ranking,
                       settings=settings, suggestion_id=suggestion_id, scores=scores).response
    active_ruleset = recommender.rulesets.find(session=session, case_type=row.case_type)
    active_ranking = recommender.ranking(session=session, case_type=row.case_type)
    current = compose(case=case, case_id=row.case_id, as_of=row.as_of, ruleset=active_ruleset,
                      ranking=active_ranking, settings=settings, suggestion_id=suggestion_id).response
    return {"suggestion_id": suggestion_id, "identical": replayed == row.response, "replayed": replayed,
            "current": current,
            "changed": {"ruleset": current["ruleset_version"] != row.ruleset_version,
                        "model": current["model_version"] != row.model_version,
                        "actions": [a["action"] for a in current["actions"]] !=
                                   [a["action"] for a in row.response["actions"]]}}
