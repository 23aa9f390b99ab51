"""Fixtures shared by the whole suite.

Every database test runs on SQLite and, where a server answers at CASEWISE_TEST_POSTGRES_URL, on
PostgreSQL: each test session migrates a throwaway database per backend, and each test runs inside a
transaction that is rolled back afterwards (the app's commits become savepoints).
"""

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.api.main import create_app
from app.auth.keys import create_key
from app.auth.roles import Role
from app.core.config import Settings, get_settings
from app.db.schema import upgrade
from app.db.session import create_db_engine, get_engine
from tests.databases import BACKENDS, throwaway_database


@dataclass
class Database:
    """A migrated throwaway database of one backend."""

    backend: str
    url: str
    engine: Engine


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory) -> Iterator[Database]:
    """A migrated database per backend, for the whole test session."""
    with throwaway_database(request.param, tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        engine = create_db_engine(url)
        yield Database(request.param, url, engine)
        engine.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with database.engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as db:
            yield db
        transaction.rollback()


@pytest.fixture
def settings(database: Database) -> Settings:
    """Settings for the app under test, with small limits so tests can reach them."""
    return Settings(database_url=database.url, max_body_bytes=64 * 1024, max_history_events=300)


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    """The API in-process, sharing the test's rolled-back session."""
    app = create_app(settings)
    app.state.session_factory = lambda: nullcontext(session)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def auth(session: Session) -> Callable[[Role], dict[str, str]]:
    """Headers with a fresh key of the given role (default admin)."""

    def headers(role: Role = Role.ADMIN) -> dict[str, str]:
        _, key = create_key(session=session, name=f"test-{role.value}", role=role)
        session.commit()  # a savepoint: survives the rollback of a failed request, not the test's
        return {"Authorization": f"Bearer {key}"}

    return headers


@pytest.fixture
def configured(database: Database, monkeypatch) -> Iterator[Database]:
    """Process-wide settings and engine pointed at the test database (for CLI commands)."""
    monkeypatch.setenv("CASEWISE_DATABASE_URL", database.url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield database
    get_engine(database.url).dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
