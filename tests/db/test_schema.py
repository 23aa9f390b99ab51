"""The schema under Alembic: migrations build exactly what the ORM declares, and go down and up again."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.db.schema import alembic_config, current_revision, head_revision, upgrade
from app.models import Base
from tests.databases import throwaway_database


def test_migrations_match_the_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_head(database):
    with database.engine.connect() as connection:
        assert current_revision(connection) == head_revision()


def test_downgrade_to_base_and_upgrade_again(database, tmp_path):
    # A fresh database of the same backend, so the shared one stays intact.
    with throwaway_database(database.backend, tmp_path) as url:
        upgrade(url)
        command.downgrade(alembic_config(url), "base")
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(url)
        assert {"cases", "case_events", "api_keys"} <= set(inspect(engine).get_table_names())
        engine.dispose()
