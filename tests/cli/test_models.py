"""`casewise train`, `evaluate` and `models`: from stored cases to a registered, verified, served model."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.main import create_app
from app.auth.keys import create_key
from app.auth.roles import Role
from app.cli.main import app
from app.core.config import get_settings
from app.db.session import session_factory
from app.demo.claims import DemoCase, generate_claims
from app.demo.seed import store_demo_case
from app.recommend.registry import ArtifactRefused

CASE_TYPE = "cli_claim"
runner = CliRunner()


@pytest.fixture
def trained(configured, tmp_path, monkeypatch):
    """250 demo claims stored as `cli_claim`, governed by the demo ruleset renamed, and one `casewise train` run."""
    rules = tmp_path / "rules"
    rules.mkdir()
    text = Path("rulesets/motor_claim.yaml").read_text()
    (rules / f"{CASE_TYPE}.yaml").write_text(text.replace("name: motor_claim", f"name: {CASE_TYPE}")
                                             .replace("case_type: motor_claim", f"case_type: {CASE_TYPE}"))
    monkeypatch.setenv("CASEWISE_RULESETS_DIR", str(rules))
    monkeypatch.setenv("CASEWISE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    with session_factory(configured.engine)() as session:
        for demo in generate_claims(250, seed=11):
            demo = DemoCase(f"CLI-{demo.case_id}", demo.case.model_copy(update={"case_type": CASE_TYPE}), demo.events)
            store_demo_case(session=session, demo=demo, max_history=10_000)
        session.commit()
    result = runner.invoke(app, ["train", "--case-type", CASE_TYPE, "--no-refit", "--threads", "1"])
    assert result.exit_code == 0, result.output
    version = result.stdout.split(f"registered {CASE_TYPE} model ")[1].split()[0]
    return get_settings(), version, result.stdout


def test_train_registers_a_verified_model_that_serves_suggestions_until_tampered_with(trained, configured):
    settings, version, output = trained
    assert "| ranker |" in output and "| ngram |" in output and "| most_frequent |" in output
    assert "as challenger and champion" in output
    folder = settings.artifacts_dir / CASE_TYPE / version
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["ruleset"] == CASE_TYPE
    assert any(name.startswith("rule:") for name in metadata["features"])
    assert {"sha256", "sklearn_version", "training_data_hash", "classes"} <= metadata.keys()
    assert metadata["evaluation"]["scores"]["ranker"]["top1"] > metadata["evaluation"]["scores"]["ngram"]["top1"]
    assert json.loads((folder / "report" / "report.json").read_text())["protocol"] == "temporal"
    assert (folder / "report" / "confusion.png").stat().st_size > 0
    assert (folder / "report" / "reliability.png").stat().st_size > 0
    listing = runner.invoke(app, ["models", "list", "--case-type", CASE_TYPE]).stdout
    assert version in listing and "champion" in listing

    with session_factory(configured.engine)() as session:
        _, key = create_key(session=session, name="cli-test", role=Role.CLIENT)
        session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    case_url = f"/v1/cases/CLI-{next(iter(generate_claims(1, seed=11))).case_id}/suggestions"
    with TestClient(create_app(settings)) as client:
        sent = client.post(case_url, headers=headers)
    body = sent.json()
    assert (body["ranker"], body["model_version"], body["note"], body["ruleset"]) == ("model", version, None, CASE_TYPE)
    assert any(reason["kind"] == "feature" for action in body["actions"] for reason in action["reasons"])
    with TestClient(create_app(settings)) as client:  # a fresh service: the model and ruleset loaded again
        replayed = client.get(f"/v1/suggestions/{body['suggestion_id']}/replay", headers=headers)
    assert replayed.json()["identical"] is True
    assert f'"replayed":{sent.text},' in replayed.text  # byte for byte as first sent

    artifact = folder / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    result = runner.invoke(app, ["promote", "--case-type", CASE_TYPE, "--version", version])
    assert isinstance(result.exception, ArtifactRefused)
    assert "altered after it was registered" in str(result.exception)
    with TestClient(create_app(settings)) as client:  # a fresh service: nothing verified in memory
        refused = client.post(case_url, headers=headers)
    assert refused.status_code == 503
    assert refused.json()["error"] == "model_artifact_refused"


def test_evaluate_stored_cases_writes_a_report_beside_the_baselines(trained, tmp_path):
    result = runner.invoke(app, ["evaluate", "--case-type", CASE_TYPE, "--report-dir", str(tmp_path / "reports"),
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "ranker - n-gram (95% case bootstrap)" in result.stdout
    assert (tmp_path / "reports" / CASE_TYPE / "report.html").exists()


def test_evaluate_needs_something_to_evaluate(configured):
    result = runner.invoke(app, ["evaluate"])
    assert result.exit_code == 2
    assert "--case-type" in result.output
