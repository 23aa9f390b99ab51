"""Ruleset versions kept in the database by their sha256, so a past evaluation can be repeated exactly."""

from sqlalchemy.orm import Session

from app.audit import ledger
from app.core.errors import NotFound, field_problem
from app.db.session import dialect_insert
from app.models.base import utcnow
from app.models.ruleset_version import RulesetStatus, RulesetVersion
from app.rules.model import Ruleset
from app.rules.validator import load_ruleset


def remember_ruleset(*, session: Session, ruleset: Ruleset, actor: str) -> None:
    """Keep the ruleset's source under its version (once); a version's first use is a ruleset change, in the
    ledger."""
    row = session.get(RulesetVersion, ruleset.version)
    if row is not None:
        if row.first_used_at is None:  # a governed version, judging its first case: its activation is in the ledger
            row.first_used_at = utcnow()
        return
    now = utcnow()
    inserted = session.execute(dialect_insert(session, RulesetVersion.__table__).values(
        version=ruleset.version, name=ruleset.name, case_type=ruleset.case_type, source=ruleset.source,
        status=RulesetStatus.UNMANAGED.value, created_at=now, first_used_at=now,
    ).on_conflict_do_nothing(index_elements=["version"]).returning(RulesetVersion.version))
    if inserted.first() is not None:
        ledger.append(session=session, kind="ruleset.first_used", actor=actor, subject=ruleset.version,
                      content={"name": ruleset.name, "case_type": ruleset.case_type, "version": ruleset.version,
                               "rules": len(ruleset.rules)})


def recorded_ruleset(*, session: Session, version: str) -> Ruleset:
    """The ruleset of a recorded version, validated again from its kept source."""
    row = session.get(RulesetVersion, version)
    if row is None:
        raise NotFound(f"ruleset version {version[:12]}... was never recorded",
                       detail=[field_problem("ruleset_version", "unknown ruleset version", "not_found")])
    return parsed(row)


def parsed(row: RulesetVersion) -> Ruleset:
    """The validated ruleset a stored version holds."""
    return load_ruleset(row.source, source=f"{row.name}@{row.version[:12]}")
