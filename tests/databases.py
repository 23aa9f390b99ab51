"""Throwaway databases for tests: a SQLite file, or a PostgreSQL database created and dropped around use."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get("CASEWISE_TEST_POSTGRES_URL", "")
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def throwaway_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database of `backend`, dropped afterwards; skips when PostgreSQL is absent."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'casewise-{uuid.uuid4().hex[:8]}.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL leg: CASEWISE_TEST_POSTGRES_URL is not set")
    name = f"casewise_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL leg: no server answers at {POSTGRES_URL}: {exc.orig}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
