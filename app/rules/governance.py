"""The lifecycle of a ruleset version: draft -> submitted -> approved -> active -> retired.

A version is named by the sha256 of its source, so its content can never change under its name; a
revision is a new draft whose parent is the version it revises. Submission runs the gates (the
ruleset validates and its test suite passes with enough rule coverage) and keeps the run with the
version. Approval needs an officer other than the author. Activation moves the case type's pointer
in one transaction; rollback moves it back to an earlier approved version. Every transition is a
ledger entry naming who and why. Functions flush; the caller commits.
"""

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import ledger
from app.core.errors import CasewiseError, Conflict, Forbidden, InvalidInput, NotFound, field_problem
from app.models import RulesetActivation, RulesetSimulation, RulesetStatus, RulesetVersion
from app.models.base import utcnow
from app.rules.analysis import analyze
from app.rules.model import Ruleset
from app.rules.registry import RulesetRegistry, RulesetUnavailable, evaluator_for, ruleset_files
from app.rules.testing import load_suite, run_suite, suite_path
from app.rules.validator import RulesetInvalid, load_ruleset
from app.rules.versions import parsed

Status = RulesetStatus
# Versions that passed four eyes, and may (again) govern their case type.
ACTIVATABLE = frozenset({Status.APPROVED, Status.ACTIVE, Status.RETIRED})
_MIN_PREFIX = 8


class GateFailed(CasewiseError):
    """A version that may not move on: it fails a gate (tests, coverage) or is in the wrong state."""

    status_code = 422
    code = "gate_failed"


def find_version(*, session: Session, name: str, ref: str) -> RulesetVersion:
    """The version of ruleset `name` whose id is `ref` or starts with it (at least 8 characters)."""
    ref = ref.strip().lower()
    if len(ref) < _MIN_PREFIX:
        raise InvalidInput(f"version {ref!r} is too short",
                           detail=[field_problem("version", f"give at least {_MIN_PREFIX} characters", "too_short")])
    rows = session.scalars(select(RulesetVersion).where(RulesetVersion.name == name,
                                                        RulesetVersion.version.startswith(ref, autoescape=True))
                           .limit(2)).all()
    if not rows:
        raise NotFound(f"ruleset {name!r} has no version {ref!r}",
                       detail=[field_problem("version", "unknown ruleset version", "not_found")])
    if len(rows) > 1:
        raise InvalidInput(f"version {ref!r} of {name!r} is ambiguous",
                           detail=[field_problem("version", "more than one version starts so; give more", "ambiguous")])
    return rows[0]


def versions_of(*, session: Session, name: str) -> list[RulesetVersion]:
    """Every version of ruleset `name`, newest first."""
    return list(session.scalars(select(RulesetVersion).where(RulesetVersion.name == name)
                                .order_by(RulesetVersion.created_at.desc(), RulesetVersion.version)))


def latest_simulation(*, session: Session, version: str) -> RulesetSimulation | None:
    """The version's most recent impact simulation, or None when none was run."""
    return session.scalars(select(RulesetSimulation).where(RulesetSimulation.version == version)
                           .order_by(RulesetSimulation.id.desc()).limit(1)).first()


def case_type_of(*, session: Session, name: str) -> str:
    """The case type ruleset `name` governs; NotFound when no version of it is stored."""
    case_type = session.scalar(select(RulesetVersion.case_type).where(RulesetVersion.name == name).limit(1))
    if case_type is None:
        raise NotFound(f"no version of ruleset {name!r} is stored",
                       detail=[field_problem("name", "unknown ruleset", "not_found")])
    return case_type


def overview(*, session: Session, registry: RulesetRegistry) -> list[dict[str, Any]]:
    """Every ruleset, by name: the version governing its case type and where it comes from (the database, or the
    folder until a version is activated), and how many versions are stored."""
    counts = dict(session.execute(select(RulesetVersion.name, func.count()).group_by(RulesetVersion.name)).all())
    found: dict[str, dict[str, Any]] = {}
    for pointer, row in session.execute(select(RulesetActivation, RulesetVersion)
                                        .join(RulesetVersion, RulesetVersion.version == RulesetActivation.version)):
        found[row.name] = {"name": row.name, "case_type": row.case_type, "origin": "database",
                           "active_version": row.version, "activated_at": pointer.activated_at,
                           "activated_by": pointer.activated_by}
    for case_type, origin in registry.governed(session=session).items():
        ruleset = registry.find(session=session, case_type=case_type)
        if origin == "folder" and ruleset is not None:
            found.setdefault(ruleset.name, {"name": ruleset.name, "case_type": case_type, "origin": "folder",
                                            "active_version": ruleset.version})
    for name in counts.keys() - found.keys():
        found[name] = {"name": name, "case_type": case_type_of(session=session, name=name), "origin": "database",
                       "active_version": None}
    return [{"activated_at": None, "activated_by": None, **found[name], "versions": counts.get(name, 0)}
            for name in sorted(found)]


def create_draft(*, session: Session, source: str, tests_source: str | None, author: str, change_note: str | None,
                 parent: str | None = None, registry: RulesetRegistry | None = None,
                 name: str | None = None) -> tuple[RulesetVersion, bool]:
    """A draft of `source` (and whether it is new); a version with this content already stored is returned as it
    is, unless it was only ever served from the folder, in which case it becomes a draft. `parent` defaults to the
    version governing the case type now, as `registry` resolves it (the activated one without a registry). With
    `name`, a source declaring another ruleset is refused."""
    ruleset = load_ruleset(source, source="source")
    if name is not None and ruleset.name != name:
        raise InvalidInput(f"the source declares ruleset {ruleset.name!r}, not {name!r}",
                           detail=[field_problem("body.source", f"`name` must be {name!r}", "mismatch")])
    tests = _checked_suite(tests_source, ruleset)
    row = session.get(RulesetVersion, ruleset.version)
    if row is not None and row.status != Status.UNMANAGED:
        return row, False
    if parent is None:
        parent = _default_parent(session, ruleset, registry)
    elif session.get(RulesetVersion, parent) is None:
        raise NotFound(f"parent version {parent[:12]}... is unknown",
                       detail=[field_problem("parent_version", "unknown ruleset version", "not_found")])
    now = utcnow()
    if row is None:
        row = RulesetVersion(version=ruleset.version, name=ruleset.name, case_type=ruleset.case_type, source=source,
                             created_at=now)
        session.add(row)
    row.status, row.author, row.created_at = Status.DRAFT.value, author, now
    row.parent_version, row.change_note, row.tests_source = parent, change_note, tests
    row.analysis = [finding.to_dict() for finding in analyze(ruleset)]
    session.flush()
    _record(session, "ruleset.drafted", author, row, note=change_note,
            extra={"parent_version": parent, "rules": len(ruleset.rules), "findings": len(row.analysis)})
    return row, True


def submit(*, session: Session, row: RulesetVersion, actor: str, note: str | None, min_coverage: float) -> None:
    """Submit a draft for approval once it passes the gates; the test run is kept with it."""
    _expect(row, {Status.DRAFT}, "submitted")
    row.test_run = _passed_gates(row, min_coverage)
    _move(session, row, Status.SUBMITTED, actor, note, kind="ruleset.submitted",
          extra={"tests": row.test_run["tests"], "coverage": row.test_run["coverage"]})
    row.submitted_by, row.submitted_at = actor, utcnow()


def approve(*, session: Session, row: RulesetVersion, actor: str, note: str | None, min_coverage: float) -> None:
    """Approve a submitted version: never by its author (four eyes), and only if it still passes its gates here
    (the code that evaluates it may have changed since it was submitted); the run is kept."""
    _expect(row, {Status.SUBMITTED}, "approved")
    if actor == row.author:
        raise Forbidden(f"{actor!r} wrote version {row.version[:12]} and may not approve it: another officer must",
                        detail=[field_problem("approver", "the author may not approve their own version",
                                              "four_eyes")])
    row.test_run = _passed_gates(row, min_coverage)
    seen = latest_simulation(session=session, version=row.version)  # the impact the approver was shown
    _move(session, row, Status.APPROVED, actor, note, kind="ruleset.approved",
          extra={"tests": row.test_run["tests"], "coverage": row.test_run["coverage"],
                 "simulation_id": seen.id if seen else None})
    row.approved_by, row.approved_at = actor, utcnow()


def reject(*, session: Session, row: RulesetVersion, actor: str, note: str | None) -> None:
    """Send a submitted version back: it is retired unused, and a revision is a new draft."""
    _expect(row, {Status.SUBMITTED}, "rejected")
    _require_note(note, "rejected")
    _move(session, row, Status.RETIRED, actor, note, kind="ruleset.rejected")


def retire(*, session: Session, row: RulesetVersion, actor: str, note: str | None) -> None:
    """Withdraw a draft or an approved version that is not active (the active one is replaced, not retired)."""
    _expect(row, {Status.DRAFT, Status.APPROVED}, "retired")
    _move(session, row, Status.RETIRED, actor, note, kind="ruleset.retired")


def activate(*, session: Session, row: RulesetVersion, actor: str, note: str | None,
             rollback: bool = False) -> RulesetActivation:
    """Make an approved version govern its case type, in one step; the version it replaces is retired."""
    if Status(row.status) not in ACTIVATABLE or row.approved_by is None:
        raise GateFailed(f"version {row.version[:12]} is {row.status}: only approved versions can be activated",
                         detail=[field_problem("version", f"status is {row.status}; it must be approved first",
                                               "not_approved")])
    pointer = session.get(RulesetActivation, row.case_type, with_for_update=True)
    if pointer is not None and pointer.version == row.version:
        raise Conflict(f"version {row.version[:12]} already governs {row.case_type!r}",
                       detail=[field_problem("version", "already active", "already_active")])
    previous = pointer.version if pointer is not None else None
    now = utcnow()
    if pointer is None:
        pointer = RulesetActivation(case_type=row.case_type, version=row.version, activated_at=now,
                                    activated_by=actor)
        session.add(pointer)
    else:
        replaced = session.get(RulesetVersion, previous)
        if replaced is not None:
            replaced.status = Status.RETIRED.value
        pointer.version, pointer.activated_at, pointer.activated_by = row.version, now, actor
    pointer.previous_version = previous
    row.status = Status.ACTIVE.value
    session.flush()
    _record(session, "ruleset.rolled_back" if rollback else "ruleset.activated", actor, row, note=note,
            extra={"previous_version": previous, "case_type": row.case_type})
    return pointer


def rollback(*, session: Session, case_type: str, actor: str, note: str | None,
             to: RulesetVersion | None = None) -> RulesetActivation:
    """Activate an earlier approved version again: `to`, or the one the active version replaced."""
    _require_note(note, "rolled back")
    pointer = session.get(RulesetActivation, case_type)
    if to is None:
        if pointer is None or pointer.previous_version is None:
            raise NotFound(f"no earlier version of {case_type!r} to roll back to",
                           detail=[field_problem("case_type", "no earlier active version", "not_found")])
        to = session.get(RulesetVersion, pointer.previous_version)
    if to is None or to.case_type != case_type:
        raise InvalidInput(f"that version does not govern {case_type!r}",
                           detail=[field_problem("to", f"not a version for {case_type!r}", "invalid")])
    return activate(session=session, row=to, actor=actor, note=note, rollback=True)


def _passed_gates(row: RulesetVersion, min_coverage: float) -> dict[str, Any]:
    test_run = run_gates(row, min_coverage=min_coverage)
    if not test_run["passed"]:
        raise GateFailed(f"version {row.version[:12]} does not pass its gates",
                         detail=[field_problem(f"tests.{f['test']}" if f.get("test") else "tests", f["problem"],
                                               "gate_failed") for f in test_run["failures"]])
    return test_run


def run_gates(row: RulesetVersion, *, min_coverage: float) -> dict[str, Any]:
    """Validate the version and run its test suite: the run as kept with the version."""
    ruleset = parsed(row)
    failures: list[dict[str, str]] = []
    if not row.tests_source:
        failures.append({"problem": f"version {row.version[:12]} has no test suite; every version needs one"})
        return {"passed": False, "tests": 0, "failures": failures, "coverage": 0.0, "unfired": [],
                "ran_at": utcnow().isoformat()}
    tests = load_suite(row.tests_source, source="tests", case_type=ruleset.case_type)
    result = run_suite(evaluator_for(ruleset), tests, source="tests")
    failures += [{"test": test.name, "problem": "; ".join(test.failures)} for test in result.results if not test.passed]
    if result.coverage < min_coverage:
        failures.append({"problem": f"rule coverage {result.coverage:.0%} is below {min_coverage:.0%}; rules no test "
                                    f"fires: {', '.join(result.unfired)}"})
    return {"passed": not failures, "tests": len(result.results), "failures": failures,
            "coverage": round(result.coverage, 4), "unfired": result.unfired, "ran_at": utcnow().isoformat()}


@dataclass(frozen=True)
class Imported:
    path: Path
    name: str
    version: str
    created: bool


def import_folder(*, session: Session, paths: Iterable[Path], author: str, change_note: str | None,
                  registry: RulesetRegistry | None = None) -> list[Imported]:
    """A draft for each ruleset file whose content is not stored yet; nothing for the rest. All files or none:
    raises RulesetInvalid naming every problem."""
    files = ruleset_files(paths)
    if not files:
        raise InvalidInput("no ruleset files found", detail=[field_problem("paths", "no *.yaml rulesets", "empty")])
    problems, results = [], []
    for path in files:
        tests_file = suite_path(path)
        tests = tests_file.read_text(encoding="utf-8") if tests_file.exists() else None
        try:
            row, created = create_draft(session=session, source=path.read_text(encoding="utf-8"), tests_source=tests,
                                        author=author, change_note=change_note or f"imported from {path.name}",
                                        registry=registry)
        except RulesetInvalid as exc:
            problems += [type(p)(str(path), p.line, p.rule_id, p.message) for p in exc.problems]
            continue
        results.append(Imported(path, row.name, row.version, created))
    if problems:
        raise RulesetInvalid(problems)
    return results


def export_active(*, session: Session, folder: Path) -> list[Path]:
    """Write the source (and test suite) of every active version into `folder`, as `<name>.yaml`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    rows = session.scalars(select(RulesetVersion).join(RulesetActivation, RulesetActivation.version ==
                                                       RulesetVersion.version).order_by(RulesetVersion.name))
    for row in rows:
        path = folder / f"{row.name}.yaml"
        path.write_text(row.source, encoding="utf-8")
        written.append(path)
        if row.tests_source:
            suite_path(path).write_text(row.tests_source, encoding="utf-8")
    return written


def _checked_suite(tests_source: str | None, ruleset: Ruleset) -> str | None:
    """The test suite's text when it parses (raises RulesetInvalid naming its problems)."""
    if tests_source:
        load_suite(tests_source, source="tests", case_type=ruleset.case_type)
    return tests_source


def _default_parent(session: Session, ruleset: Ruleset, registry: RulesetRegistry | None) -> str | None:
    """The version governing the case type now (activated, else the folder's when it is stored), if not this one."""
    current: str | None = None
    if registry is not None:
        with contextlib.suppress(RulesetUnavailable):  # an invalid folder has nothing to revise
            found = registry.find(session=session, case_type=ruleset.case_type)
            current = found.version if found else None
    else:
        pointer = session.get(RulesetActivation, ruleset.case_type)
        current = pointer.version if pointer else None
    if current is None or current == ruleset.version or session.get(RulesetVersion, current) is None:
        return None
    return current


def _expect(row: RulesetVersion, allowed: set[Status], becoming: str) -> None:
    if Status(row.status) not in allowed:
        names = " or ".join(sorted(status.value for status in allowed))
        raise GateFailed(f"version {row.version[:12]} is {row.status}; only a {names} version can be {becoming}",
                         detail=[field_problem("version", f"status is {row.status}, must be {names}",
                                               "wrong_status")])


def _require_note(note: str | None, what: str) -> None:
    if not (note and note.strip()):
        raise InvalidInput(f"say why the version is {what}",
                           detail=[field_problem("note", f"a reason is required when a version is {what}", "missing")])


def _move(session: Session, row: RulesetVersion, to: Status, actor: str, note: str | None, *, kind: str,
          extra: dict[str, Any] | None = None) -> None:
    previous = row.status
    row.status = to.value
    session.flush()
    _record(session, kind, actor, row, note=note, extra={"from": previous, **(extra or {})})


def _record(session: Session, kind: str, actor: str, row: RulesetVersion, *, note: str | None,
            extra: dict[str, Any]) -> None:
    ledger.append(session=session, kind=kind, actor=actor, subject=row.version,
                  content={"name": row.name, "case_type": row.case_type, "version": row.version, "status": row.status,
                           "note": note, **extra})
