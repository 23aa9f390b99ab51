"""`casewise rules`: validate, test, analyse and diff ruleset files; import, export, review and simulate versions."""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table

from app.audit import ledger
from app.cli.console import err, out
from app.core.config import get_settings
from app.db.session import session_scope
from app.rules import governance
from app.rules.analysis import analyze as analyze_ruleset
from app.rules.diff import diff_rulesets
from app.rules.facts import fact_reference
from app.rules.registry import RulesetRegistry, evaluator_for, ruleset_files
from app.rules.review import record_simulation, simulate_version
from app.rules.testing import load_suite, run_suite, suite_path
from app.rules.validator import RulesetInvalid, load_ruleset_file
from app.rules.versions import parsed

app = typer.Typer(help="Rulesets: validate, test, analyse and diff files; import, review, simulate and export "
                       "versions.", no_args_is_help=True)


Paths = Annotated[list[Path], typer.Argument(help="ruleset files or folders", exists=True)]


@app.command()
def validate(paths: Paths) -> None:
    """Check rulesets; every problem is reported with its file, line and rule."""
    files = ruleset_files(paths)
    failed = 0
    for path in files:
        try:
            ruleset = load_ruleset_file(path)
        except RulesetInvalid as exc:
            failed += 1
            _print_problems(exc.problems)
            continue
        out.print(f"{path}: ok ({len(ruleset.rules)} rules, version {ruleset.version[:12]})")
    _finish(failed, len(files), "invalid")


@app.command("test")
def test_(paths: Paths) -> None:
    """Run each ruleset's test suite (<name>.tests.yaml) and report rules no test fires."""
    files = ruleset_files(paths)
    failed = 0
    for path in files:
        try:
            ruleset = load_ruleset_file(path)
            suite_file = suite_path(path)
            if not suite_file.exists():
                raise RulesetInvalid([])
            tests = load_suite(suite_file.read_text(encoding="utf-8"), source=str(suite_file),
                               case_type=ruleset.case_type)
        except RulesetInvalid as exc:
            failed += 1
            _print_problems(exc.problems or [f"{path}: no test suite at {suite_path(path)}"])
            continue
        result = run_suite(evaluator_for(ruleset), tests, source=str(suite_file))
        for test in result.results:
            if not test.passed:
                out.print(f"[red]{suite_file}:{test.line}: FAIL {test.name}[/red]")
                for failure in test.failures:
                    out.print(f"    {failure}")
        passed = sum(test.passed for test in result.results)
        out.print(f"{path}: {passed}/{len(result.results)} tests passed, rule coverage {result.coverage:.0%}")
        if result.unfired:
            out.print(f"    rules no test fires: {', '.join(result.unfired)}")
        if not result.passed or result.unfired:
            failed += 1
    _finish(failed, len(files), "failing or incompletely covered")


@app.command()
def facts() -> None:
    """Print the fact reference (the fields rules can test), as Markdown."""
    typer.echo(fact_reference())


def _print_problems(problems: Iterable[object]) -> None:
    for problem in problems:  # not markup: problems quote YAML, whose [lists] rich would take for tags
        out.print(str(problem), style="red", markup=False)


def _finish(failed: int, total: int, what: str) -> None:
    if not total:
        out.print("[red]no ruleset files found[/red]")
        raise typer.Exit(1)
    if failed:
        out.print(f"[red]{failed} of {total} ruleset(s) {what}[/red]")
        raise typer.Exit(1)


@app.command()
def analyze(paths: Paths) -> None:
    """Look for impossible conditions, duplicate and shadowed rules, contradictions and unused derived facts;
    exits 1 when anything is found."""
    files = ruleset_files(paths)
    failed = 0
    for path in files:
        try:
            findings = analyze_ruleset(load_ruleset_file(path))
        except RulesetInvalid as exc:
            failed += 1
            _print_problems(exc.problems)
            continue
        for finding in findings:
            where = f"{path}:{finding.line}" if finding.line else str(path)
            rules = f" [{', '.join(finding.rule_ids)}]" if finding.rule_ids else ""
            out.print(f"{where}: {finding.severity} {finding.kind}{rules}: {finding.message}", markup=False)
        if findings:
            failed += 1
        else:
            out.print(f"{path}: no findings", markup=False)
    _finish(failed, len(files), "with findings or invalid")


@app.command()
def diff(
    old_file: Annotated[Path, typer.Argument(help="the ruleset before", exists=True, dir_okay=False)],
    new_file: Annotated[Path, typer.Argument(help="the ruleset after", exists=True, dir_okay=False)],
) -> None:
    """Print what changed from OLD_FILE to NEW_FILE: rules, conditions, consequences, catalog and schema."""
    try:
        changes = diff_rulesets(load_ruleset_file(old_file), load_ruleset_file(new_file))
    except RulesetInvalid as exc:
        _print_problems(exc.problems)
        raise typer.Exit(1) from None
    for line in changes.lines() or ["no differences"]:
        out.print(line, markup=False)


# -- Versions in the database -------------------------------------------------------------------------

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@app.command("import")
def import_(
    paths: Paths,
    note: Annotated[str | None, typer.Option(help="the change note of the drafts created")] = None,
) -> None:
    """Create a draft (with its test suite) for each ruleset file whose content is not stored yet; nothing for
    the rest. One invalid file and nothing is created."""
    with session_scope() as session:
        imported = governance.import_folder(session=session, paths=paths, author=ledger.operator(), change_note=note,
                                            registry=RulesetRegistry.for_settings(get_settings()))
        session.commit()
    for item in imported:
        what = "new draft" if item.created else "unchanged"
        out.print(f"{item.path}: {what} {item.name}@{item.version[:12]}", markup=False)


@app.command()
def export(
    to: Annotated[Path | None, typer.Option(help="folder to write into [default: the rulesets folder]")] = None,
) -> None:
    """Write the active version of every ruleset (and its test suite) back as files."""
    folder = to or get_settings().rulesets_dir
    with session_scope() as session:
        written = governance.export_active(session=session, folder=folder)
    for path in written:
        out.print(f"wrote {path}", markup=False)
    if not written:
        out.print("no ruleset version is active: nothing written", markup=False)


@app.command()
def versions(name: Annotated[str, typer.Argument(help="the ruleset's name")]) -> None:
    """Every version of a ruleset, newest first: status, author, reviewers and change note."""
    with session_scope() as session:
        rows = governance.versions_of(session=session, name=name)
    table = Table("version", "status", "created", "author", "approved by", "change note")
    for row in rows:
        table.add_row(row.version[:12], row.status, f"{row.created_at:%Y-%m-%d %H:%M}", row.author or "",
                      row.approved_by or "", row.change_note or "")
    out.print(table if rows else f"no versions of {name!r}")


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="the ruleset's name")],
    version: Annotated[str, typer.Argument(help="a version id or its first 8+ characters")],
) -> None:
    """The approval request of a version: its gates, findings, changes from the active version, latest impact."""
    registry = RulesetRegistry.for_settings(get_settings())
    with session_scope() as session:
        row = governance.find_version(session=session, name=name, ref=version)
        simulation = governance.latest_simulation(session=session, version=row.version)
        active = registry.find(session=session, case_type=row.case_type)
    out.print(f"{name}@{row.version}  {row.status}, by {row.author or '-'} on {row.created_at:%Y-%m-%d %H:%M}",
              markup=False)
    if row.change_note:
        out.print(f"  change note: {row.change_note}", markup=False)
    test_run = row.test_run
    out.print("  gates: " + (f"{test_run['tests']} tests, coverage {test_run['coverage']:.0%}, "
                             f"{'passed' if test_run['passed'] else 'FAILED'}" if test_run else "not run (a draft)"),
              markup=False)
    for finding in row.analysis or []:
        out.print(f"  finding: {finding['severity']} {finding['kind']} [{', '.join(finding['rule_ids'])}]: "
                  f"{finding['message']}", markup=False)
    if active is not None and active.version != row.version:
        out.print(f"  changes from the active version {active.version[:12]}:", markup=False)
        for line in diff_rulesets(active, parsed(row)).lines() or ["none"]:
            out.print(f"    {line}", markup=False)
    if simulation:
        report = simulation.report
        workload = report["workload"]
        out.print(f"  latest simulation #{simulation.id} by {simulation.created_by}: {report['cases']:,} cases, "
                  f"{report['changed_cases']:,} changed; cases newly flagged {workload['cases_newly_flagged']:,}, "
                  f"newly blocked {workload['cases_newly_blocked']:,}, no longer flagged "
                  f"{workload['cases_no_longer_flagged']:,}, no longer blocked {workload['cases_no_longer_blocked']:,}",
                  markup=False)


@app.command()
def simulate(
    name: Annotated[str, typer.Argument(help="the ruleset's name")],
    version: Annotated[str, typer.Option("--version", help="the candidate version (8+ characters)")],
    since: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="cases opened since (UTC)")] = None,
    as_of: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS,
                                                   help="evaluate as of (UTC) [default: each case's last event]")
                     ] = None,
    jobs: Annotated[int, typer.Option(help="joblib workers (-1: one per core)")] = -1,
    report_dir: Annotated[Path, typer.Option(help="where the report and its plot go")] = Path("var/reports/rules"),
) -> None:
    """Replay the stored cases under VERSION and under the active ruleset; keep the report with the version, and
    write it with a plot of the change in workload."""
    from app.rules.impact_plot import plot_impact  # matplotlib: only when plotting

    settings = get_settings()
    with session_scope() as session:
        row = governance.find_version(session=session, name=name, ref=version)
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=err) as progress:
            task = progress.add_task("replaying cases", total=None)
            result = simulate_version(
                session=session, row=row, registry=RulesetRegistry.for_settings(settings),
                database_url=settings.database_url, since=_utc(since), as_of=_utc(as_of), n_jobs=jobs,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
        simulation = record_simulation(session=session, row=row, result=result, actor=ledger.operator())
        session.commit()
    for line in result.summary_lines():
        out.print(line, markup=False)
    folder = report_dir / f"{name}-{row.version[:12]}-{simulation.id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(simulation.report, indent=2, sort_keys=True) + "\n")
    plot_impact(simulation.report, folder / "impact.png")
    out.print(f"simulation #{simulation.id} kept with the version; report and plot in {folder}", markup=False)


def _utc(moment: datetime | None) -> datetime | None:
    """A time given on the command line: naive ones are UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
