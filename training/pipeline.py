"""From a case type's stored cases to a registered model: evaluate under the temporal split, fit, register.

The final fit learns from every prefix of the stored histories and from the logged decisions (training/decisions.py
says how each outcome counts).

`casewise train --case-type X` runs `train_case_type`. The ranker is always reported beside the baselines on the
strict temporal split; the model registered is refitted on every case unless `refit=False`, in which case the
evaluated model itself (fitted on the training part) is registered, with exactly the figures reported for it.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.cases.service import cases_of_type
from app.core.config import Settings
from app.core.errors import NotFound, field_problem
from app.core.hashing import sha256_hex
from app.decisions.service import decided_suggestions
from app.models import ModelVersion
from app.recommend import registry
from app.recommend.catalog import catalog_for
from app.recommend.features import FeatureBuilder
from app.recommend.ranker import NextActionRanker
from app.recommend.service import snapshot_of
from app.rules.facts import CaseData
from app.rules.registry import RulesetRegistry
from training.dataset import rule_outcomes
from training.decisions import DECISION_WEIGHT, decision_examples, learnable
from training.evaluate import RANKER, Report, evaluate_cases
from training.report import write_report
from training.train import fit_ranker

REPORT_FOLDER = "report"


@dataclass(frozen=True)
class TrainingRun:
    """What one training run registered and found."""

    version: ModelVersion
    aliases: list[str]
    report: Report | None
    uncatalogued: dict[str, int]
    folder: Path
    decisions: dict[str, Any]


def train_case_type(*, session: Session, settings: Settings, case_type: str, max_cases: int | None = None,
                    evaluate: bool = True, refit: bool = True, champion: bool = False, threads: int | None = None,
                    decision_weight: int = DECISION_WEIGHT, progress: bool = True) -> TrainingRun:
    """Train, evaluate and register the next-action model of `case_type` from its stored cases.

    The new version becomes `challenger`, and `champion` too when asked or when the case type has none yet.
    """
    cases = training_cases(session=session, case_type=case_type, max_cases=max_cases)
    ruleset = RulesetRegistry.for_settings(settings).find(session=session, case_type=case_type)
    outcome_for = rule_outcomes(ruleset) if ruleset is not None else None
    ranker = NextActionRanker(n_threads=threads)
    report = None
    if evaluate:
        report = evaluate_cases(cases, name=case_type, protocol="temporal", ranker=ranker,
                                builder=FeatureBuilder(ruleset=ruleset), outcome_for=outcome_for, progress=progress)
    decisions = learnable(decided_suggestions(session=session, case_type=case_type))
    logged = len(decisions.decisions) + sum(decisions.skipped.values())
    if report is not None and not refit:
        trained, metadata = report.fitted
        metadata = {**metadata, "fitted_on": "temporal training part"}
        used, skipped = {}, ({"not refitted (--no-refit)": logged} if logged else {})
    else:
        trained, metadata = fit_ranker(
            cases, ranker=ranker, ruleset=ruleset, outcome_for=outcome_for, progress=progress,
            extra=(lambda builder: decision_examples(decisions, builder, outcome_for=outcome_for,
                                                     weight=decision_weight)) if decisions.decisions else None)
        metadata = {**metadata, "fitted_on": "every case"}
        used, skipped = dict(decisions.used), dict(decisions.skipped)
    decision_summary = {"logged": logged, "weight": decision_weight, "used": used, "skipped": skipped}
    seen = Counter(event.type for case in cases for event in case.events)
    catalog = catalog_for(case_type, ruleset, seen)
    uncatalogued = {action: seen[action] for action in catalog.unknown(seen)}
    metadata.update(
        ruleset=ruleset.name if ruleset else None, ruleset_version=ruleset.version if ruleset else None,
        catalog_source=catalog.source, uncatalogued_actions=uncatalogued,
        evaluation=_evaluation(report), decisions=decision_summary,
    )
    row = registry.register(session=session, artifacts=settings.artifacts_dir, case_type=case_type,
                            estimator=trained, metadata=metadata,
                            training_data_hash=sha256_hex([snapshot_of(case) for case in cases]))
    folder = settings.artifacts_dir / case_type / row.version
    if report is not None:
        write_report(report, folder / REPORT_FOLDER)
    aliases = ["challenger"]
    registry.set_alias(session=session, case_type=case_type, alias="challenger", version=row.version)
    if champion or registry.aliased(session=session, case_type=case_type, alias="champion") is None:
        registry.set_alias(session=session, case_type=case_type, alias="champion", version=row.version)
        aliases.append("champion")
    return TrainingRun(row, aliases, report, uncatalogued, folder, decision_summary)


def training_cases(*, session: Session, case_type: str, max_cases: int | None = None) -> list[CaseData]:
    """The stored cases of `case_type` with at least two events (the most recently opened `max_cases`), oldest
    first, so the same database gives the same training set in the same order."""
    cases = [case for case in cases_of_type(session=session, case_type=case_type, limit=max_cases)
             if len(case.events) > 1]
    if not cases:
        raise NotFound(f"no stored {case_type!r} case has two events or more: nothing to learn from",
                       detail=[field_problem("case_type", "no case of this type to train on", "not_found")])
    return sorted(cases, key=lambda case: (case.opened_at, case.case_id))


def _evaluation(report: Report | None) -> dict[str, Any] | None:
    """The headline figures a registry row keeps: each model's scores on the temporal split."""
    if report is None:
        return None
    return {"protocol": report.protocol, "dataset": report.dataset, "beats_ngram": report.beats_ngram,
            "scores": {name: result.scores.to_dict() for name, result in report.results.items()},
            "primary": RANKER}
