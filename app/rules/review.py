"""What a reviewer sees of a ruleset version before approving it: its changes, its impact on past cases.

Impact simulations are kept (whole) with the version they simulate, against the version active when
they ran, and are in the ledger; the review shows the latest one beside the gates' test run, the static
analysis, and the semantic diffs from the parent and from the active version.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import ledger
from app.core.errors import NotFound, field_problem
from app.models import RulesetSimulation, RulesetVersion
from app.models.base import utcnow
from app.rules.diff import diff_rulesets
from app.rules.governance import latest_simulation
from app.rules.registry import RulesetRegistry
from app.rules.simulation import SimulationReport, simulate
from app.rules.versions import parsed


def simulate_version(*, session: Session, row: RulesetVersion, registry: RulesetRegistry, database_url: str,
                     since: datetime | None, as_of: datetime | None, n_jobs: int,
                     progress: Callable[[int, int], None] | None = None) -> SimulationReport:
    """Replay the stored cases of the version's case type under it and under the ruleset active now.

    The cases are read through new connections to `database_url`: what is committed. The session's transaction
    is committed first, so that no lock is held through the replay (on SQLite it would stop every writer)."""
    candidate, baseline = parsed(row), registry.find(session=session, case_type=row.case_type)
    session.commit()
    return simulate(database_url=database_url, case_type=row.case_type, candidate=candidate, baseline=baseline,
                    since=since, as_of=as_of, n_jobs=n_jobs, progress=progress)


def record_simulation(*, session: Session, row: RulesetVersion, result: SimulationReport,
                      actor: str) -> RulesetSimulation:
    """Keep a simulation's report with the version it simulates, and say so in the ledger."""
    report = result.to_dict()
    simulation = RulesetSimulation(version=row.version, baseline_version=result.baseline_version,
                                   created_at=utcnow(), created_by=actor, cases=report["cases"],
                                   changed_cases=report["changed_cases"], report=report)
    session.add(simulation)
    session.flush()
    ledger.append(session=session, kind="ruleset.simulated", actor=actor, subject=row.version,
                  content={"name": row.name, "version": row.version, "simulation_id": simulation.id,
                           "baseline_version": simulation.baseline_version, "cases": report["cases"],
                           "changed_cases": report["changed_cases"], "workload": report["workload"]})
    return simulation


def get_simulation(*, session: Session, row: RulesetVersion, simulation_id: int) -> RulesetSimulation:
    simulation = session.get(RulesetSimulation, simulation_id)
    if simulation is None or simulation.version != row.version:
        raise NotFound(f"version {row.version[:12]} has no simulation {simulation_id}",
                       detail=[field_problem("simulation_id", "unknown simulation", "not_found")])
    return simulation


def review(*, session: Session, row: RulesetVersion, registry: RulesetRegistry) -> dict[str, Any]:
    """The version with its gates, findings, diffs from its parent and the active version, and latest impact."""
    active = registry.find(session=session, case_type=row.case_type)
    latest = latest_simulation(session=session, version=row.version)
    parent = session.get(RulesetVersion, row.parent_version) if row.parent_version else None
    candidate = parsed(row)
    return {
        **{column.key: getattr(row, column.key) for column in RulesetVersion.__table__.columns},
        "active_version": active.version if active else None,
        "diff_from_parent": diff_rulesets(parsed(parent), candidate).to_dict() if parent else None,
        "diff_from_active": (diff_rulesets(active, candidate).to_dict()
                             if active is not None and active.version != row.version else None),
        "latest_simulation": _without_case_details(latest) if latest else None,
    }


def _without_case_details(simulation: RulesetSimulation) -> dict[str, Any]:
    # The per-case differences can run to thousands: the review shows the totals; the simulation has them all.
    report = {key: value for key, value in simulation.report.items() if key != "differences"}
    report["differences_total"] = len(simulation.report.get("differences", []))
    return {"id": simulation.id, "version": simulation.version, "baseline_version": simulation.baseline_version,
            "created_at": simulation.created_at, "created_by": simulation.created_by, "cases": simulation.cases,
            "changed_cases": simulation.changed_cases, "report": report}
