"""Promoting a challenger to champion only when it has earned it, and rolling back; every move in the ledger.

A challenger is promoted when
- on the temporal holdout it beats the champion: its recorded top-1 accuracy (from its training run's evaluation)
  is above the champion's; a champion without recorded figures does not stand in the way;
- on the logged decisions it is not worse: the 95% bootstrap interval of its self-normalised IPS acceptance rate
  minus the logged policy's observed rate reaches 0 or above (training/offpolicy.py); no decisions, no objection.
`force` promotes anyway, with a reason; the ledger entry records the reason and the checks it overrode.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import CasewiseError, InvalidInput, NotFound, field_problem
from app.decisions.service import decided_suggestions
from app.models import AuditEntry, ModelVersion
from app.recommend import registry
from training.offpolicy import OffPolicyEstimate, estimate


class PromotionRefused(CasewiseError):
    status_code = 409
    code = "promotion_refused"


@dataclass(frozen=True)
class PromotionCheck:
    champion: str | None
    challenger: str
    champion_top1: float | None
    challenger_top1: float | None
    offpolicy: OffPolicyEstimate

    @property
    def beats_on_holdout(self) -> bool:
        if self.champion is None or self.champion_top1 is None:
            return True
        return self.challenger_top1 is not None and self.challenger_top1 > self.champion_top1

    @property
    def passed(self) -> bool:
        return self.beats_on_holdout and self.offpolicy.not_worse

    def to_dict(self) -> dict[str, Any]:
        return {"champion": self.champion, "challenger": self.challenger, "champion_top1": self.champion_top1,
                "challenger_top1": self.challenger_top1, "beats_on_holdout": self.beats_on_holdout,
                "offpolicy": self.offpolicy.to_dict(), "passed": self.passed}


def check(*, session: Session, artifacts: Path, case_type: str, version: str) -> PromotionCheck:
    """How the version compares with the case type's champion, on the holdout and on the logged decisions."""
    challenger = registry.get_version(session=session, case_type=case_type, version=version)
    champion = registry.aliased(session=session, case_type=case_type, alias="champion")
    loaded = registry.load_verified(artifacts, challenger)
    offpolicy = estimate(session=session, pairs=decided_suggestions(session=session, case_type=case_type),
                         challenger=loaded.estimator)
    return PromotionCheck(champion.version if champion else None, version, _top1(champion), _top1(challenger),
                          offpolicy)


def promote(*, session: Session, artifacts: Path, case_type: str, version: str, force: bool = False,
            reason: str | None = None, actor: str | None = None) -> PromotionCheck:
    """Make the version champion if it passes the checks (or `force`, which needs a reason)."""
    if force and not reason:
        raise InvalidInput("a forced promotion needs a reason",
                           detail=[field_problem("reason", "required with --force", "missing")])
    result = check(session=session, artifacts=artifacts, case_type=case_type, version=version)
    if result.champion == version:
        raise InvalidInput(f"{version} is already the champion of {case_type}",
                           detail=[field_problem("version", "already champion")])
    if not result.passed and not force:
        why = []
        if not result.beats_on_holdout:
            why.append(f"holdout top-1 {result.challenger_top1} is not above the champion's {result.champion_top1}")
        if not result.offpolicy.not_worse:
            why.append(f"off-policy acceptance {result.offpolicy.snips:.3f} is below the observed "
                       f"{result.offpolicy.observed_rate:.3f} beyond chance")
        raise PromotionRefused(f"{version} not promoted: {'; '.join(why)} (use --force with a reason to override)")
    registry.set_alias(session=session, case_type=case_type, alias="champion", version=version, actor=actor,
                       reason=reason or "passed the promotion checks",
                       details={"forced": force, "checks": result.to_dict()})
    return result


def rollback(*, session: Session, case_type: str, reason: str | None = None,
             actor: str | None = None) -> tuple[str, str]:
    """Restore the champion before the last move; returns (from, to)."""
    last = session.scalars(select(AuditEntry).where(AuditEntry.kind == "model.alias_moved",
                                                    AuditEntry.subject == f"{case_type}/champion")
                           .order_by(AuditEntry.seq.desc()).limit(1)).one_or_none()
    if last is None or not last.content.get("previous"):
        raise NotFound(f"{case_type} has no earlier champion to roll back to",
                       detail=[field_problem("case_type", "no earlier champion", "not_found")])
    current, previous = last.content["version"], last.content["previous"]
    registry.set_alias(session=session, case_type=case_type, alias="champion", version=previous, actor=actor,
                       reason=reason or "rollback", details={"rollback_of": current})
    return current, previous


def _top1(version: ModelVersion | None) -> float | None:
    if version is None:
        return None
    scores = ((version.metadata_ or {}).get("evaluation") or {}).get("scores") or {}
    return (scores.get("ranker") or {}).get("top1")
