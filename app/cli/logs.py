"""`casewise import-log`: store a real event log (XES or CSV) as cases and events."""

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from app.cli.console import err
from app.core.config import get_settings
from app.db.session import session_scope
from app.eventlogs.importer import store_cases
from app.eventlogs.reader import XES_MAPPING, ColumnMapping, read_event_log


def import_log(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a .xes, .xes.gz or .csv event log")],
    case_type: Annotated[str, typer.Option(help="the case type the cases get")],
    status: Annotated[str, typer.Option(help="status of the imported cases")] = "closed",
    case_column: Annotated[str | None, typer.Option(help="CSV: the case id column")] = None,
    activity_column: Annotated[str | None, typer.Option(help="CSV: the activity column")] = None,
    timestamp_column: Annotated[str | None, typer.Option(help="CSV: the timestamp column")] = None,
    resource_column: Annotated[str | None, typer.Option(help="CSV: the resource column")] = None,
    case_attribute: Annotated[list[str] | None, typer.Option(help="CSV: a case attribute column (repeatable)")] = None,
    timestamp_format: Annotated[str | None, typer.Option(help="CSV: strftime format of the timestamps")] = None,
    timezone: Annotated[str, typer.Option(help="CSV: the zone of timestamps without an offset")] = "UTC",
) -> None:
    """Import an event log; re-importing the same file stores nothing twice."""
    mapping = ColumnMapping(
        case_id=case_column or XES_MAPPING.case_id, activity=activity_column or XES_MAPPING.activity,
        timestamp=timestamp_column or XES_MAPPING.timestamp,
        resource=resource_column or (None if file.suffix == ".csv" else XES_MAPPING.resource),
        case_attributes=tuple(case_attribute) if case_attribute else None,
        timestamp_format=timestamp_format, timezone=timezone)
    try:
        with err.status(f"reading {file.name}"):
            log = read_event_log(file, mapping=mapping, case_type=case_type, status=status)
    except ValueError as exc:  # the reader's word for a file that does not fit the mapping
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    err.print(log.report.summary())
    for reason, count in log.report.dropped.items():
        err.print(f"  dropped {count:,} rows: {reason}")
    with session_scope() as session, Progress(console=err) as progress:
        task = progress.add_task("storing cases", total=len(log.cases))
        result = store_cases(session=session, cases=log.cases, max_history=get_settings().max_history_events,
                             progress=lambda: progress.advance(task))
        session.commit()
    err.print(f"{result.cases_created:,} cases created, {result.cases_updated:,} already there; "
              f"{result.events_stored:,} events stored, {result.events_already_stored:,} already stored")
