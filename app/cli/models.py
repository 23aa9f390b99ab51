"""`casewise train`, `casewise evaluate` and `casewise models`: the data scientist's commands."""

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from app.cli.console import err, out
from app.core.config import get_settings
from app.db.session import session_scope
from app.models import ModelAlias, ModelVersion
from app.recommend import registry

app = typer.Typer(help="The model registry: list versions, move the champion and challenger aliases.",
                  no_args_is_help=True)

Threads = Annotated[int | None, typer.Option(min=1, help="CPU threads for fitting (default: all)")]


def train(
    case_type: Annotated[str, typer.Option(help="the case type whose stored cases train the model")],
    max_cases: Annotated[int | None, typer.Option(min=2, help="train on the most recently opened N cases")] = None,
    evaluate: Annotated[bool, typer.Option(help="report the ranker beside the baselines on the temporal split")] = True,
    refit: Annotated[bool, typer.Option(help="after evaluating, fit again on every case; otherwise register the "
                                             "evaluated model, fitted on the training part")] = True,
    champion: Annotated[bool, typer.Option("--champion", help="make the new version champion at once")] = False,
    if_no_model: Annotated[bool, typer.Option("--if-no-model", help="do nothing when the case type has a "
                                                                    "champion")] = False,
    decision_weight: Annotated[int, typer.Option(min=0, help="how many history prefixes one logged decision counts "
                                                              "as")] = 5,
    threads: Threads = None,
) -> None:
    """Train the next-action ranker of a case type from its stored cases and logged decisions, and register it (as
    challenger; as champion too when there is none)."""
    from training.pipeline import train_case_type  # training pulls in the plotting stack: only when training

    settings = get_settings()
    with session_scope() as session:
        if if_no_model and registry.aliased(session=session, case_type=case_type, alias="champion"):
            err.print(f"{case_type} already has a champion model; not trained")
            return
        run = train_case_type(session=session, settings=settings, case_type=case_type, max_cases=max_cases,
                              evaluate=evaluate, refit=refit, champion=champion, threads=threads,
                              decision_weight=decision_weight)
        session.commit()
    if run.report is not None:
        out.print(run.report.table(), markup=False)
        beats = run.report.beats_ngram
        out.print(f"ranker above the n-gram baseline: top-1 {'yes' if beats['top1'] else 'NO'}, "
                  f"top-3 {'yes' if beats['top3'] else 'NO'}; report in {run.folder / 'report'}", markup=False)
    if run.decisions["logged"]:
        used = ", ".join(f"{n} {outcome}" for outcome, n in run.decisions["used"].items()) or "none"
        skipped = ", ".join(f"{n} {why}" for why, n in run.decisions["skipped"].items()) or "none"
        out.print(f"logged decisions: {run.decisions['logged']:,}; learnt from {used}; not used: {skipped}",
                  markup=False)
    for action, count in run.uncatalogued.items():
        err.print(f"[yellow]action {action!r} ({count:,} events) is in history but not in the catalog[/]")
    out.print(f"registered {case_type} model {run.version.version} as {' and '.join(run.aliases)} "
              f"({run.folder})", markup=False)


def evaluate(
    logs: Annotated[list[Path] | None, typer.Argument(exists=True, dir_okay=False,
                                                      help="XES or CSV event logs (the shared logs are known)")] = None,
    case_type: Annotated[str | None, typer.Option(help="evaluate on this case type's stored cases instead")] = None,
    protocol: Annotated[str | None, typer.Option(help="temporal or tax (default: the log's known protocol, else "
                                                      "temporal)")] = None,
    report_dir: Annotated[Path, typer.Option(help="where each log's report folder goes")] = Path("var/reports"),
    threads: Threads = None,
) -> None:
    """Evaluate the ranker beside the baselines (most frequent, n-gram backoff) and write JSON, Markdown and HTML
    reports with plots; exits 1 when, under the temporal split, the ranker is not above the n-gram baseline in
    top-1 and top-3 (other protocols are reported beside their published figures)."""
    from app.recommend.ranker import NextActionRanker
    from training.evaluate import evaluate_cases, evaluate_log, summary_table
    from training.pipeline import training_cases

    if not logs and not case_type:
        err.print("error: give event log files, or --case-type for stored cases")
        raise typer.Exit(2)
    if protocol not in (None, "temporal", "tax"):
        err.print(f"error: --protocol: {protocol!r} is not temporal or tax")
        raise typer.Exit(2)
    reports = []
    for log in logs or []:
        reports.append(evaluate_log(log, protocol=protocol, ranker=NextActionRanker(n_threads=threads),
                                    report_dir=report_dir / log.name.split(".")[0]))
    if case_type:
        with session_scope() as session:
            cases = training_cases(session=session, case_type=case_type)
        reports.append(evaluate_cases(cases, name=case_type, protocol=protocol or "temporal",
                                      ranker=NextActionRanker(n_threads=threads), report_dir=report_dir / case_type))
    out.print(summary_table(reports), markup=False)
    below = []
    for report in reports:
        beats = report.beats_ngram
        versus = "; ".join(f"{metric} {v['difference']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]"
                           for metric, v in report.versus_ngram.items())
        out.print(f"{report.log}: ranker - n-gram (95% case bootstrap) {versus}; report in "
                  f"{Path(report.files['html']).parent}", markup=False)
        if report.protocol == "temporal" and not all(beats.values()):
            below.append(report.log)
    if below:
        err.print(f"[red]ranker not above the n-gram baseline on: {', '.join(below)}[/]")
        raise typer.Exit(1)


def export(
    what: Annotated[str, typer.Argument(help="what to export: decisions")],
    out_file: Annotated[Path, typer.Option("--out", help="the file to write; .csv or .parquet")],
    case_type: Annotated[str | None, typer.Option(help="only this case type")] = None,
) -> None:
    """Export logged decisions, with what was shown and by which versions, for analysis (CSV or Parquet)."""
    import pandas as pd

    from app.decisions.service import decided_suggestions, export_rows

    if what != "decisions":
        err.print(f"error: cannot export {what!r}; try: decisions")
        raise typer.Exit(2)
    if out_file.suffix not in (".csv", ".parquet"):
        err.print(f"error: --out: {out_file.name} must end in .csv or .parquet")
        raise typer.Exit(2)
    with session_scope() as session:
        frame = pd.DataFrame(export_rows(decided_suggestions(session=session, case_type=case_type)))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".csv":
        frame.to_csv(out_file, index=False)
    else:
        frame.to_parquet(out_file, index=False)
    out.print(f"{len(frame):,} decisions written to {out_file}", markup=False)


@app.command("list")
def list_(case_type: Annotated[str | None, typer.Option(help="only this case type")] = None) -> None:
    """Every registered version, newest first, with its aliases and headline figures."""
    with session_scope() as session:
        query = select(ModelVersion).order_by(ModelVersion.case_type, ModelVersion.created_at.desc())
        versions = session.scalars(query.where(ModelVersion.case_type == case_type) if case_type else query).all()
        aliases: dict[int, list[str]] = {}
        for alias in session.scalars(select(ModelAlias)):
            aliases.setdefault(alias.model_version_id, []).append(alias.alias)
        rows = [("case type", "version", "aliases", "examples", "top-1", "n-gram top-1", "fitted on")]
        for version in versions:
            meta = version.metadata_ or {}
            scores = (meta.get("evaluation") or {}).get("scores") or {}
            rows.append((version.case_type, version.version, ",".join(sorted(aliases.get(version.id, []))) or "-",
                         f"{meta.get('examples', 0):,}", _figure(scores.get("ranker")), _figure(scores.get("ngram")),
                         meta.get("fitted_on", "-")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:  # plain aligned columns: readable, and never folded by a narrow terminal
        out.print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), markup=False)


def promote(
    case_type: Annotated[str, typer.Option(help="the model's case type")],
    version: Annotated[str, typer.Option(help="the registered version to make champion")],
    force: Annotated[bool, typer.Option("--force", help="promote even if the checks fail (needs --reason)")] = False,
    reason: Annotated[str | None, typer.Option(help="why; required with --force, kept in the ledger")] = None,
) -> None:
    """Make a challenger champion if it beats the champion on the temporal holdout and is not worse on the
    off-policy estimate from logged decisions. Serving picks the new champion up at once."""
    from training.promotion import promote as promote_version

    with session_scope() as session:
        result = promote_version(session=session, artifacts=get_settings().artifacts_dir, case_type=case_type,
                                 version=version, force=force, reason=reason)
        session.commit()
    _print_checks(result.to_dict())
    out.print(f"{case_type} champion is now {version}" + (" (forced)" if force and not result.passed else ""),
              markup=False)


def rollback(
    case_type: Annotated[str, typer.Option(help="the case type whose champion to restore")],
    reason: Annotated[str | None, typer.Option(help="why, kept in the ledger")] = None,
) -> None:
    """Restore the champion that was in place before the last change."""
    from training.promotion import rollback as rollback_champion

    with session_scope() as session:
        current, previous = rollback_champion(session=session, case_type=case_type, reason=reason)
        session.commit()
    out.print(f"{case_type} champion rolled back from {current} to {previous}", markup=False)


def _print_checks(checks: dict) -> None:
    offpolicy = checks["offpolicy"]
    out.print(f"holdout top-1: challenger {checks['challenger_top1']} vs champion {checks['champion_top1']} -> "
              f"{'above' if checks['beats_on_holdout'] else 'NOT above'}", markup=False)
    if offpolicy["decisions"]:
        verdict = "not worse" if offpolicy["not_worse"] else "WORSE"
        out.print(f"off-policy acceptance on {offpolicy['decisions']:,} decisions: SNIPS {offpolicy['snips']:.3f} "
                  f"{_range(offpolicy['snips_interval'])}, IPS {offpolicy['ips']:.3f} "
                  f"{_range(offpolicy['ips_interval'])}, observed {offpolicy['observed_rate']:.3f} -> {verdict}",
                  markup=False)
    else:
        out.print("off-policy: no logged decisions yet", markup=False)


def _range(interval: list | tuple | None) -> str:
    return "" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _figure(scores: dict | None) -> str:
    return "-" if not scores else f"{scores['top1']:.4f}"
