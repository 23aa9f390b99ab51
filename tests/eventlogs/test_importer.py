"""Importing event logs into the database: whole, idempotent, through the intake service."""

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli.main import app
from app.db.session import session_factory
from app.models import Case, CaseEvent

CSV = """CaseID,ActivityID,CompleteTimestamp,Priority
1,1,2012-10-09 14:50:17,high
1,8,2012-10-09 14:51:01,high
1,6,2012-10-12 15:02:56,high
2,1,2012-10-09 14:55:00,low
2,6,2012-10-10 09:00:00,low
"""


def counts(engine, case_type: str) -> tuple[int, int]:
    with session_factory(engine)() as session:
        cases = session.scalar(select(func.count()).select_from(Case).where(Case.case_type == case_type))
        events = session.scalar(select(func.count()).select_from(CaseEvent).join(Case).where(
            Case.case_type == case_type))
    return cases, events


def import_csv(path: Path):
    return CliRunner().invoke(app, ["import-log", str(path), "--case-type", "tax_helpdesk", "--case-column", "CaseID",
                                    "--activity-column", "ActivityID", "--timestamp-column", "CompleteTimestamp",
                                    "--case-attribute", "Priority"])


def test_csv_import_is_whole_and_idempotent(configured, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(CSV)
    first = import_csv(path)
    assert first.exit_code == 0, first.output
    assert counts(configured.engine, "tax_helpdesk") == (2, 5)
    again = import_csv(path)
    assert again.exit_code == 0, again.output
    assert "0 events stored, 5 already stored" in again.output
    assert counts(configured.engine, "tax_helpdesk") == (2, 5)
    with session_factory(configured.engine)() as session:
        case = session.get(Case, "1")
        assert case.attributes == {"Priority": "high"}
        types = session.scalars(select(CaseEvent.type).where(CaseEvent.case_id == "1").order_by(CaseEvent.at)).all()
    assert types == ["1", "8", "6"]


def test_a_missing_column_is_a_clear_error(configured, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(CSV)
    result = CliRunner().invoke(app, ["import-log", str(path), "--case-type", "x", "--case-column", "Nope"])
    assert result.exit_code == 1
    assert "no column 'Nope'" in result.output
