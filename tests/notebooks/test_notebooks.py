"""Both notebooks execute, start to finish with their plots, against demo data: they cannot rot unnoticed."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from app.core.config import Settings
from app.db.schema import upgrade
from app.db.session import create_db_engine, session_factory
from app.demo.claims import generate_claims
from app.demo.decisions import simulate_decisions
from app.demo.seed import store_demo_case
from app.recommend.service import Recommender
from training.pipeline import train_case_type

REPO = Path(__file__).parents[2]
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, str]:
    """A demo database with a champion, logged decisions, and a challenger trained on them (in shadow)."""
    folder = tmp_path_factory.mktemp("notebooks")
    url = f"sqlite:///{folder / 'demo.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    settings = Settings(database_url=url, artifacts_dir=folder / "artifacts", rulesets_dir=REPO / "rulesets")
    with session_factory(engine)() as session:
        for claim in generate_claims(300, seed=3):
            store_demo_case(session=session, demo=claim, max_history=10_000)
        train_case_type(session=session, settings=settings, case_type="motor_claim", refit=False, threads=1,
                        progress=False)
        session.commit()
        simulate_decisions(session=session, recommender=Recommender.for_settings(settings), case_type="motor_claim",
                           count=120)
        session.commit()
        train_case_type(session=session, settings=settings, case_type="motor_claim", refit=False, threads=1,
                        progress=False)
        session.commit()
        simulate_decisions(session=session, recommender=Recommender.for_settings(settings), case_type="motor_claim",
                           count=40, seed=8)  # suggestions the challenger ranks in shadow
        session.commit()
    engine.dispose()
    return {"CASEWISE_DATABASE_URL": url, "CASEWISE_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "CASEWISE_RULESETS_DIR": str(settings.rulesets_dir), "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("name", ["override_analysis", "model_report"])
def test_the_notebook_runs_and_draws(name, demo, monkeypatch):
    for key, value in demo.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    plots = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(plots) >= 4, f"{name} drew {len(plots)} plots"
