"""Suggestions: the rules, then the ranker, then the policy; each one stored with what replays it exactly."""

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import ledger
from app.cases.service import cases_of_type
from app.core.config import Settings
from app.core.hashing import sha256_hex
from app.models import Suggestion
from app.models.base import utcnow
from app.recommend import registry as models
from app.recommend.baselines import NGramBackoff
from app.recommend.catalog import catalog_for
from app.recommend.features import FeatureBuilder
from app.recommend.policy import PolicySettings, Reason, choose
from app.recommend.ranker import Explanation, TrainedRanker
from app.recommend.schemas import SuggestionOut
from app.rules.facts import CaseData, EventData
from app.rules.model import Ruleset
from app.rules.outcome import RuleOutcome
from app.rules.registry import RulesetRegistry, evaluator_for
from app.rules.versions import remember_ruleset

BASELINE_CASES = 5_000  # the most recent stored cases the fallback n-gram learns from
BASELINE_REFRESH_S = 600.0


@dataclass(frozen=True)
class Ranking:
    """The ranker that scores a case type right now, and how the response should describe it."""

    model: TrainedRanker | None
    version: str | None
    name: str
    note: str | None

    @property
    def actions(self) -> list[str]:
        """The actions the ranker learnt from history: the catalog of a case type no ruleset declares one for."""
        return [] if self.model is None else [str(action) for action in self.model.estimator.classes_]


@dataclass
class Recommender:
    """What serving keeps between requests: the rulesets, verified models, fallback baselines."""

    settings: Settings
    rulesets: RulesetRegistry
    models: models.ModelCache
    _baselines: dict[str, tuple[float, Ranking]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_settings(cls, settings: Settings) -> "Recommender":
        """A recommender over the configured rulesets folder and model artifacts."""
        return cls(settings, RulesetRegistry.for_settings(settings), models.ModelCache(settings.artifacts_dir))

    def ranking(self, *, session: Session, case_type: str) -> Ranking:
        """The champion model of the case type, or the n-gram baseline over its stored history."""
        champion = models.aliased(session=session, case_type=case_type, alias="champion")
        if champion is not None:
            loaded = self.models.load(champion)
            return Ranking(loaded.estimator, loaded.version, "model", None)
        with self._lock:
            cached = self._baselines.get(case_type)
        if cached and time.monotonic() - cached[0] < BASELINE_REFRESH_S:
            return cached[1]
        ranking = _baseline(session=session, case_type=case_type)
        with self._lock:
            self._baselines[case_type] = (time.monotonic(), ranking)
        return ranking

    def shadow(self, *, session: Session, case_type: str, champion: Ranking) -> Ranking | None:
        """The challenger, when shadow mode is on and the case type has one other than the champion."""
        if not self.settings.shadow_challenger:
            return None
        challenger = models.aliased(session=session, case_type=case_type, alias="challenger")
        if challenger is None or challenger.version == champion.version:
            return None
        loaded = self.models.load(challenger)
        return Ranking(loaded.estimator, loaded.version, "model", None)


def _baseline(*, session: Session, case_type: str) -> Ranking:
    cases = [case for case in cases_of_type(session=session, case_type=case_type, limit=BASELINE_CASES)
             if len(case.events) > 1]
    if not cases:
        return Ranking(None, None, "none", f"no trained model and no history for {case_type!r} yet: actions are "
                                           "in catalog order")
    features = FeatureBuilder(event_attributes=False).fit(cases)
    examples = features.examples(cases)
    estimator = NGramBackoff().fit(examples.X, examples.y)
    return Ranking(TrainedRanker(features, estimator), None, "baseline:ngram",
                   f"no trained model for {case_type!r} yet: ranked by the n-gram baseline over "
                   f"{len(cases):,} stored cases")


def suggest(*, session: Session, recommender: Recommender, case: CaseData, case_id: str | None,
            as_of: datetime | None, requested_by: str) -> dict[str, Any]:
    """Rank the next actions for `case`, store the suggestion, and return it as sent (JSON-ready)."""
    as_of = as_of or utcnow()
    ruleset = recommender.rulesets.find(session=session, case_type=case.case_type)
    ranking = recommender.ranking(session=session, case_type=case.case_type)
    settings = PolicySettings(exploration=recommender.settings.exploration_rate,
                              shown=recommender.settings.suggestions_shown)
    suggestion_id = str(uuid.uuid4())
    composed = compose(case=case, case_id=case_id, as_of=as_of, ruleset=ruleset, ranking=ranking, settings=settings,
                       suggestion_id=suggestion_id)
    response = composed.response
    challenger = recommender.shadow(session=session, case_type=case.case_type, champion=ranking)
    shadow = None
    if challenger is not None:  # computed and kept, never shown: how the challenger would have ranked this case
        shadowed = compose(case=case, case_id=case_id, as_of=as_of, ruleset=ruleset, ranking=challenger,
                           settings=settings, suggestion_id=suggestion_id, outcome=composed.outcome).response
        shadow = {"model_version": challenger.version,
                  "actions": [[a["action"], a["status"], a["rank"], a["score"]] for a in shadowed["actions"]]}
    if ruleset is not None:
        remember_ruleset(session=session, ruleset=ruleset, actor=requested_by)
    snapshot = snapshot_of(case)
    session.add(Suggestion(
        suggestion_id=suggestion_id, case_id=case_id, case_type=case.case_type, as_of=as_of,
        ruleset=ruleset.name if ruleset else None, ruleset_version=ruleset.version if ruleset else None,
        model_version=ranking.version, policy={**vars(settings), "scores": composed.scores}, shadow=shadow,
        inputs_hash=sha256_hex(snapshot), case_snapshot=snapshot, response=response, created_at=utcnow(),
        requested_by=requested_by))
    session.flush()
    ledger.append(session=session, kind="suggestion.served", actor=requested_by, case_id=case_id,
                  subject=suggestion_id,
                  content={"suggestion_id": suggestion_id, "case_type": case.case_type,
                           "response_sha256": sha256_hex(response), "inputs_sha256": sha256_hex(snapshot),
                           "ruleset_version": response["ruleset_version"], "model_version": ranking.version,
                           "shown": [[a["action"], a["status"], a["rank"]] for a in response["actions"]]})
    return response


@dataclass(frozen=True)
class Composed:
    """A suggestion's response, and every action's score behind it."""

    response: dict[str, Any]
    scores: dict[str, float]
    outcome: RuleOutcome


def compose(*, case: CaseData, case_id: str | None, as_of: datetime, ruleset: Ruleset | None, ranking: Ranking,
            settings: PolicySettings, suggestion_id: str, scores: dict[str, float] | None = None,
            outcome: RuleOutcome | None = None) -> Composed:
    """The suggestion for `case` under exactly these ruleset, ranking and policy settings: a pure function of its
    arguments, so serving and replaying share it. `scores`, when given, stand in for the ranking's own (a replay
    of a suggestion ranked by a baseline that has since been refitted); `outcome`, for the rules' (already
    evaluated for this case, ruleset and time)."""
    if outcome is None:
        outcome = (evaluator_for(ruleset).evaluate(case, as_of=as_of) if ruleset is not None
                   else RuleOutcome.ungoverned(case.case_id, as_of))
    if scores is None:
        scores, explanations = _scores(ranking.model, case, as_of=as_of, outcome=outcome)
    else:
        explanations = {}
    catalog = catalog_for(case.case_type, ruleset, seen=[*scores, *ranking.actions, *(e.type for e in case.events)])
    shown = choose(catalog=catalog.labels, scores=scores, explanations=explanations, outcome=outcome,
                   settings=settings, rng=policy_rng(suggestion_id))
    response = SuggestionOut(
        suggestion_id=suggestion_id, case_id=case_id, case_type=case.case_type, as_of=as_of,
        ruleset=ruleset.name if ruleset else None, ruleset_version=ruleset.version if ruleset else None,
        model_version=ranking.version, ranker=ranking.name, note=ranking.note,
        actions=[{**vars(item), "reasons": [vars(r) for r in item.reasons], "blocked_by": list(item.blocked_by)}
                 for item in shown],
        flags=outcome.flags, checkpoints=outcome.checkpoints,
    ).model_dump(mode="json")
    return Composed(response, scores, outcome)


def policy_rng(suggestion_id: str) -> random.Random:
    """The policy's random draws for one suggestion: seeded by its id, so replaying it draws the same."""
    return random.Random(uuid.UUID(suggestion_id).int)


def _scores(model: TrainedRanker | None, case: CaseData, *, as_of: datetime,
            outcome: RuleOutcome) -> tuple[dict[str, float], dict[str, list[Reason]]]:
    """The ranker's probabilities (none without a ranker or a history) and the reasons for the likeliest action."""
    if model is None or not case.events:
        return {}, {}
    scores, explanation = model.score(case, as_of=as_of, outcome=outcome)
    return scores, ({explanation.action: _reasons(explanation)} if explanation else {})


def _reasons(explanation: Explanation) -> list[Reason]:
    return [Reason("feature", f"{r.feature} is {r.value} (typically {r.baseline})", feature=r.feature,
                   weight=round(r.contribution, 4)) for r in explanation.reasons]


def case_from_snapshot(snapshot: dict[str, Any]) -> CaseData:
    """The case a snapshot (from `snapshot_of`) holds."""
    events = tuple(EventData(e["event_id"], e["type"], datetime.fromisoformat(e["at"]), e["actor"], e["attributes"])
                   for e in snapshot["events"])
    return CaseData(snapshot["case_id"], snapshot["case_type"], snapshot["status"],
                    datetime.fromisoformat(snapshot["opened_at"]), snapshot["attributes"], events)


def snapshot_of(case: CaseData) -> dict[str, Any]:
    """The case as evaluated, as plain JSON: what a replay evaluates again."""
    return {"case_id": case.case_id, "case_type": case.case_type, "status": case.status,
            "opened_at": case.opened_at.isoformat(), "attributes": dict(case.attributes),
            "events": [{"event_id": e.event_id, "type": e.type, "at": e.at.isoformat(), "actor": e.actor,
                        "attributes": dict(e.attributes)} for e in case.events]}
