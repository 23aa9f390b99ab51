"""The model registry refuses artifacts it cannot vouch for."""

import pytest
from sklearn.dummy import DummyClassifier

from app.recommend.registry import ArtifactRefused, ModelCache, aliased, load_verified, register, set_alias


@pytest.fixture
def registered(session, tmp_path):
    estimator = DummyClassifier(strategy="prior").fit([[0], [1], [2]], ["a", "b", "b"])
    row = register(session=session, artifacts=tmp_path, case_type="claim", estimator=estimator,
                   metadata={"features": ["x"], "classes": ["a", "b"]}, training_data_hash="f" * 64)
    return row, tmp_path


def test_a_registered_model_loads_and_is_recorded(registered):
    row, artifacts = registered
    loaded = load_verified(artifacts, row)
    assert list(loaded.estimator.classes_) == ["a", "b"]
    metadata = (artifacts / "claim" / row.version / "metadata.json").read_text()
    assert row.sha256 in metadata and '"sklearn_version"' in metadata


def test_a_tampered_artifact_is_refused(registered):
    row, artifacts = registered
    path = artifacts / row.path
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ArtifactRefused) as refused:
        load_verified(artifacts, row)
    assert "altered after it was registered" in refused.value.message


def test_an_artifact_from_another_scikit_learn_is_refused(registered):
    row, artifacts = registered
    row.sklearn_version = "0.24.2"
    with pytest.raises(ArtifactRefused) as refused:
        ModelCache(artifacts).load(row)
    assert "scikit-learn 0.24.2" in refused.value.message


def test_a_missing_artifact_is_refused(registered):
    row, artifacts = registered
    (artifacts / row.path).unlink()
    with pytest.raises(ArtifactRefused):
        load_verified(artifacts, row)


def test_aliases_point_at_versions(session, registered):
    row, _ = registered
    assert aliased(session=session, case_type="claim", alias="champion") is None
    set_alias(session=session, case_type="claim", alias="champion", version=row.version)
    assert aliased(session=session, case_type="claim", alias="champion").version == row.version
