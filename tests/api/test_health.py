from fastapi.testclient import TestClient

from app.api.main import create_app
from app.core.config import Settings


def test_health_needs_no_key(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_migrated(client):
    body = client.get("/ready").json()
    assert body["status"] == "ready"
    assert body["schema_revision"] == body["expected_revision"] is not None


def test_not_ready_before_migration(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    response = TestClient(app).get("/ready")
    assert response.status_code == 503
    assert response.json()["schema_revision"] is None


def test_not_ready_when_database_unreachable():
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = TestClient(app).get("/ready")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_not_ready_when_the_rulesets_do_not_validate(database, tmp_path):
    (tmp_path / "broken.yaml").write_text("name: broken\ncase_type: x\nrules: nope\n")
    app = create_app(Settings(database_url=database.url, rulesets_dir=tmp_path))
    body = TestClient(app).get("/ready").json()
    assert body["status"] == "not_ready"
    assert "broken.yaml" in body["rulesets"]


def test_ready_names_the_governed_case_types(client):
    assert client.get("/ready").json()["rulesets"] == (
        "ok (benefit_review: folder, fraud_investigation: folder, motor_claim: folder)")
