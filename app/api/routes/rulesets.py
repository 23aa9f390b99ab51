"""Ruleset governance: versions, their review and lifecycle, impact simulations, activation and rollback.

Officers write; auditors and scientists read. Every write commits with its ledger entry.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from app.api.deps import RulesetReader, RulesetWriter, SessionDep, SettingsDep
from app.core.schemas import ErrorResponse
from app.models import RulesetSimulation, RulesetVersion
from app.rules import governance
from app.rules.diff import diff_rulesets
from app.rules.review import get_simulation, record_simulation, review, simulate_version
from app.rules.schemas import (
    DraftIn,
    ReviewOut,
    RollbackIn,
    RulesetOut,
    SimulationIn,
    SimulationOut,
    TransitionIn,
    VersionOut,
    VersionRef,
)
from app.rules.versions import parsed

router = APIRouter(prefix="/v1/rulesets", tags=["rulesets"],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 422)})

RulesetName = Annotated[str, Path(min_length=1, max_length=100, description="the ruleset's name")]
Version = Annotated[VersionRef, Path(description="a version id, or its first 8 or more characters")]


@router.get("", response_model=list[RulesetOut])
def list_rulesets(session: SessionDep, request: Request, _: RulesetReader) -> list[RulesetOut]:
    """Every ruleset: its active version and where it comes from (the database, or the folder until activated)."""
    return [RulesetOut.model_validate(entry)
            for entry in governance.overview(session=session, registry=request.app.state.rulesets)]


@router.get("/{name}/versions", response_model=list[VersionOut])
def list_versions(name: RulesetName, session: SessionDep, _: RulesetReader) -> list[VersionOut]:
    """Every version of the ruleset, newest first."""
    return [VersionOut.model_validate(row) for row in governance.versions_of(session=session, name=name)]


@router.post("/{name}/versions", response_model=VersionOut, status_code=201,
             responses={200: {"model": VersionOut, "description": "this content is stored already"}})
def create_version(name: RulesetName, body: DraftIn, session: SessionDep, request: Request, response: Response,
                   principal: RulesetWriter) -> VersionOut:
    """A new draft of the ruleset (201); the same content again answers with the stored version (200)."""
    parent = (governance.find_version(session=session, name=name, ref=body.parent_version).version
              if body.parent_version else None)
    row, created = governance.create_draft(session=session, source=body.source, tests_source=body.tests,
                                           author=principal.name, change_note=body.change_note, parent=parent,
                                           registry=request.app.state.rulesets, name=name)
    session.commit()
    if not created:
        response.status_code = 200
    return VersionOut.model_validate(row)


@router.get("/{name}/versions/{version}", response_model=ReviewOut)
def get_version(name: RulesetName, version: Version, session: SessionDep, request: Request,
                _: RulesetReader) -> ReviewOut:
    """The version as a reviewer sees it: source, test run, findings, diffs, and its latest impact simulation."""
    row = governance.find_version(session=session, name=name, ref=version)
    return ReviewOut.model_validate(review(session=session, row=row, registry=request.app.state.rulesets))


@router.get("/{name}/versions/{version}/diff")
def diff_versions(name: RulesetName, version: Version, session: SessionDep, _: RulesetReader,
                  against: Annotated[VersionRef, Query(description="the version to compare with")]) -> dict:
    """What changes from `against` to this version: rules added, removed and changed, and how."""
    old = governance.find_version(session=session, name=name, ref=against)
    new = governance.find_version(session=session, name=name, ref=version)
    return diff_rulesets(parsed(old), parsed(new)).to_dict()


Transition = TransitionIn | None


@router.post("/{name}/versions/{version}/submit", response_model=VersionOut)
def submit(name: RulesetName, version: Version, session: SessionDep, settings: SettingsDep,
           principal: RulesetWriter, body: Transition = None) -> VersionOut:
    """Submit a draft for approval: 422 unless it validates and its test suite passes with enough coverage."""
    return _moved(session, name, version, governance.submit, actor=principal.name, note=_note(body),
                  min_coverage=settings.ruleset_min_coverage)


@router.post("/{name}/versions/{version}/approve", response_model=VersionOut)
def approve(name: RulesetName, version: Version, session: SessionDep, settings: SettingsDep,
            principal: RulesetWriter, body: Transition = None) -> VersionOut:
    """Approve a submitted version; 403 for its author (four eyes); its gates run again."""
    return _moved(session, name, version, governance.approve, actor=principal.name, note=_note(body),
                  min_coverage=settings.ruleset_min_coverage)


@router.post("/{name}/versions/{version}/reject", response_model=VersionOut)
def reject(name: RulesetName, version: Version, session: SessionDep, principal: RulesetWriter,
           body: Transition = None) -> VersionOut:
    """Reject a submitted version, saying why; it is retired unused."""
    return _moved(session, name, version, governance.reject, actor=principal.name, note=_note(body))


@router.post("/{name}/versions/{version}/retire", response_model=VersionOut)
def retire(name: RulesetName, version: Version, session: SessionDep, principal: RulesetWriter,
           body: Transition = None) -> VersionOut:
    """Withdraw a draft or an approved version that is not active."""
    return _moved(session, name, version, governance.retire, actor=principal.name, note=_note(body))


@router.post("/{name}/versions/{version}/activate", response_model=VersionOut)
def activate(name: RulesetName, version: Version, session: SessionDep, principal: RulesetWriter,
             body: Transition = None) -> VersionOut:
    """Make an approved version govern its case type at every worker's next evaluation; the one it replaces is
    retired. 422 for a version not approved."""
    return _moved(session, name, version, governance.activate, actor=principal.name, note=_note(body))


def _note(body: TransitionIn | None) -> str | None:
    return body.note if body else None


def _moved(session: Session, name: str, version: str, step: Callable[..., object], **arguments: object) -> VersionOut:
    """Take the version one lifecycle step (with its ledger entry), commit, and answer with the version."""
    row = governance.find_version(session=session, name=name, ref=version)
    step(session=session, row=row, **arguments)
    session.commit()
    return VersionOut.model_validate(row)


@router.post("/{name}/rollback", response_model=VersionOut)
def rollback(name: RulesetName, body: RollbackIn, session: SessionDep, principal: RulesetWriter) -> VersionOut:
    """Activate an earlier approved version again: the one the active version replaced, or `to_version`."""
    to = governance.find_version(session=session, name=name, ref=body.to_version) if body.to_version else None
    pointer = governance.rollback(session=session, case_type=governance.case_type_of(session=session, name=name),
                                  actor=principal.name, note=body.note, to=to)
    session.commit()
    return VersionOut.model_validate(session.get(RulesetVersion, pointer.version))


@router.post("/{name}/versions/{version}/simulations", response_model=SimulationOut, status_code=201)
def simulate(name: RulesetName, version: Version, session: SessionDep, settings: SettingsDep, request: Request,
             principal: RulesetWriter, body: SimulationIn | None = None) -> RulesetSimulation:
    """Replay the stored cases of the case type under this version and the active one; the report is kept."""
    row = governance.find_version(session=session, name=name, ref=version)
    result = simulate_version(session=session, row=row, registry=request.app.state.rulesets,
                              database_url=settings.database_url, since=body.since if body else None,
                              as_of=body.as_of if body else None, n_jobs=settings.simulation_jobs)
    simulation = record_simulation(session=session, row=row, result=result, actor=principal.name)
    session.commit()
    return simulation


@router.get("/{name}/versions/{version}/simulations/{simulation_id}", response_model=SimulationOut)
def get_simulation_report(name: RulesetName, version: Version, simulation_id: int, session: SessionDep,
                          _: RulesetReader) -> RulesetSimulation:
    """A kept simulation report, with every case whose outcome differs."""
    row = governance.find_version(session=session, name=name, ref=version)
    return get_simulation(session=session, row=row, simulation_id=simulation_id)
