"""Fixtures for the API tests of this folder: the small claims ruleset of tests/rules/fixtures.py, a client key."""

import pytest

from app.auth.roles import Role
from app.core.config import Settings
from tests.rules.fixtures import CLAIMS


@pytest.fixture
def settings(database, tmp_path) -> Settings:
    """The app's settings with the claims ruleset as the only one, own artifacts, and no exploration."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "claims.yaml").write_text(CLAIMS)
    return Settings(database_url=database.url, rulesets_dir=tmp_path / "rules", artifacts_dir=tmp_path / "artifacts",
                    exploration_rate=0.0)


@pytest.fixture
def headers(auth):
    """Headers with a client key."""
    return auth(Role.CLIENT)
