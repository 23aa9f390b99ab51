"""`casewise rules import | versions | show | simulate | export` against a database of their own."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.core.config import get_settings
from app.db.schema import upgrade
from app.db.session import get_engine, session_factory
from app.demo.claims import generate_claims
from app.demo.seed import store_demo_case
from app.models import RulesetVersion
from app.rules import governance
from tests.databases import throwaway_database

RULESETS = Path(__file__).parents[2] / "rulesets"
runner = CliRunner()


@pytest.fixture
def fresh(database, tmp_path, monkeypatch):
    """The CLI pointed at a new database (committed drafts would leak into other tests) with 60 demo claims."""
    with throwaway_database(database.backend, tmp_path) as url:
        upgrade(url)
        monkeypatch.setenv("CASEWISE_DATABASE_URL", url)
        get_settings.cache_clear()
        get_engine.cache_clear()
        with session_factory(get_engine())() as session:
            for demo in generate_claims(60):
                store_demo_case(session=session, demo=demo, max_history=10_000)
            session.commit()
        yield get_engine()
        get_engine().dispose()
        get_settings.cache_clear()
        get_engine.cache_clear()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_import_review_simulate_and_export(fresh, tmp_path):
    imported = invoke("rules", "import", str(RULESETS))
    assert imported.count("new draft") == 3
    assert invoke("rules", "import", str(RULESETS)).count("unchanged") == 3

    changed = tmp_path / "changed"
    changed.mkdir()
    source = (RULESETS / "motor_claim.yaml").read_text().replace("claim_amount: {gt: 10000}",
                                                                 "claim_amount: {gt: 2000}")
    (changed / "motor_claim.yaml").write_text(source)
    invoke("rules", "import", str(changed), "--note", "lower sign-off threshold")
    with session_factory(fresh)() as session:
        drafts = {row.change_note: row.version for row in governance.versions_of(session=session, name="motor_claim")}
    candidate = drafts["lower sign-off threshold"]
    assert candidate[:12] in invoke("rules", "versions", "motor_claim")

    reports = tmp_path / "reports"
    summary = invoke("rules", "simulate", "motor_claim", "--version", candidate[:10], "--jobs", "1",
                     "--report-dir", str(reports))
    assert "60 cases replayed" in summary and "large_claim_needs_supervisor" in summary
    folder = next(reports.iterdir())
    report = json.loads((folder / "report.json").read_text())
    assert report["candidate_version"] == candidate and report["cases"] == 60
    assert report["by_rule"]["large_claim_needs_supervisor"]["newly_firing"] > 0
    assert (folder / "impact.png").stat().st_size > 10_000

    shown = invoke("rules", "show", "motor_claim", candidate[:12])
    assert "condition added: case: claim_amount > 2000" in shown
    assert "latest simulation #1" in shown

    assert "nothing written" in invoke("rules", "export", "--to", str(tmp_path / "out"))
    with session_factory(fresh)() as session:
        row = session.get(RulesetVersion, drafts["imported from motor_claim.yaml"])
        governance.submit(session=session, row=row, actor="alice", note=None, min_coverage=1.0)
        governance.approve(session=session, row=row, actor="bob", note=None, min_coverage=1.0)
        governance.activate(session=session, row=row, actor="bob", note=None)
        session.commit()
    invoke("rules", "export", "--to", str(tmp_path / "out"))
    assert (tmp_path / "out" / "motor_claim.yaml").read_text() == (RULESETS / "motor_claim.yaml").read_text()


def test_an_invalid_file_imports_nothing_and_names_the_line(fresh, tmp_path):
    (tmp_path / "a.yaml").write_text((RULESETS / "benefit_review.yaml").read_text())
    (tmp_path / "b.yaml").write_text("name: b\ncase_type: b\nrules: nope\n")
    result = runner.invoke(app, ["rules", "import", str(tmp_path)])
    assert result.exit_code == 1
    with session_factory(fresh)() as session:
        assert governance.versions_of(session=session, name="benefit_review") == []
