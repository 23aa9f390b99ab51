"""`casewise rules`: validate and test officer-written rulesets, and print the fact reference."""

from pathlib import Path
from typing import Annotated

import typer

from app.cli.console import out
from app.rules.analysis import analyze as analyze_ruleset
from app.rules.diff import diff_rulesets
from app.rules.facts import fact_reference
from app.rules.registry import evaluator_for, ruleset_files
from app.rules.testing import load_suite, run_suite, suite_path
from app.rules.validator import RulesetInvalid, load_ruleset_file

app = typer.Typer(help="Rulesets: validate, test, document.", no_args_is_help=True)


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
            for problem in exc.problems:
                out.print(f"[red]{problem}[/red]")
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
            for problem in exc.problems or [f"{path}: no test suite at {suite_path(path)}"]:
                out.print(f"[red]{problem}[/red]")
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
            for problem in exc.problems:
                out.print(str(problem), markup=False)
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
        for problem in exc.problems:
            out.print(str(problem), markup=False)
        raise typer.Exit(1) from None
    for line in changes.lines() or ["no differences"]:
        out.print(line, markup=False)
