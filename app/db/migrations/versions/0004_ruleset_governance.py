"""ruleset governance: version lifecycle, activations, impact simulations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = app.models.base.UTCDateTime(timezone=True)
JSON_DOCUMENT = app.models.base.JSONDocument


def upgrade() -> None:
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=False, server_default='unmanaged'))
        batch_op.add_column(sa.Column('author', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('created_at', UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column('parent_version', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('change_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('tests_source', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('test_run', JSON_DOCUMENT, nullable=True))
        batch_op.add_column(sa.Column('analysis', JSON_DOCUMENT, nullable=True))
        batch_op.add_column(sa.Column('submitted_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('submitted_at', UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column('approved_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('approved_at', UTC_DATETIME, nullable=True))
        batch_op.alter_column('first_used_at', existing_type=UTC_DATETIME, nullable=True)
        batch_op.create_index(batch_op.f('ix_ruleset_versions_name'), ['name'], unique=False)
    # Versions recorded before governance were served from the folder: they were created when first used.
    op.execute("UPDATE ruleset_versions SET created_at = first_used_at WHERE created_at IS NULL")
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.alter_column('created_at', existing_type=UTC_DATETIME, nullable=False)
        batch_op.alter_column('status', existing_type=sa.String(length=20), server_default=None)

    # A version is named by the hash of its source: the source can never change under that name.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION ruleset_source_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'a ruleset version''s source never changes'; END $$""")
        op.execute("""CREATE TRIGGER ruleset_source_immutable BEFORE UPDATE OF source, version ON ruleset_versions
                      FOR EACH ROW EXECUTE FUNCTION ruleset_source_immutable()""")
    else:
        op.execute("""CREATE TRIGGER ruleset_source_immutable BEFORE UPDATE OF source, version ON ruleset_versions
                      BEGIN SELECT RAISE(ABORT, 'a ruleset version''s source never changes'); END""")

    op.create_table('ruleset_activations',
    sa.Column('case_type', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('previous_version', sa.String(length=64), nullable=True),
    sa.Column('activated_at', UTC_DATETIME, nullable=False),
    sa.Column('activated_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['version'], ['ruleset_versions.version'],
                            name=op.f('fk_ruleset_activations_version_ruleset_versions')),
    sa.PrimaryKeyConstraint('case_type', name=op.f('pk_ruleset_activations'))
    )
    op.create_table('ruleset_simulations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('baseline_version', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('changed_cases', sa.Integer(), nullable=False),
    sa.Column('report', JSON_DOCUMENT, nullable=False),
    sa.ForeignKeyConstraint(['version'], ['ruleset_versions.version'],
                            name=op.f('fk_ruleset_simulations_version_ruleset_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ruleset_simulations'))
    )
    with op.batch_alter_table('ruleset_simulations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ruleset_simulations_version'), ['version'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ruleset_simulations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ruleset_simulations_version'))
    op.drop_table('ruleset_simulations')
    op.drop_table('ruleset_activations')
    op.execute("DROP TRIGGER ruleset_source_immutable" + (" ON ruleset_versions" if op.get_bind().dialect.name
                                                           == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ruleset_source_immutable()")
    op.execute("DELETE FROM ruleset_versions WHERE first_used_at IS NULL")
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ruleset_versions_name'))
        batch_op.alter_column('first_used_at', existing_type=UTC_DATETIME, nullable=False)
        for column in ('approved_at', 'approved_by', 'submitted_at', 'submitted_by', 'analysis', 'test_run',
                       'tests_source', 'change_note', 'parent_version', 'created_at', 'author', 'status'):
            batch_op.drop_column(column)
