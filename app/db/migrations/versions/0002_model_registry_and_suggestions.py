"""model registry and suggestions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.base

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_type', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('sklearn_version', sa.String(length=40), nullable=False),
    sa.Column('training_data_hash', sa.String(length=64), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('case_type', 'version', name=op.f('uq_model_versions_case_type_version'))
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_case_type'), ['case_type'], unique=False)

    op.create_table('suggestions',
    sa.Column('suggestion_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('case_type', sa.String(length=100), nullable=False),
    sa.Column('as_of', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ruleset', sa.String(length=100), nullable=True),
    sa.Column('ruleset_version', sa.String(length=64), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('policy', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('inputs_hash', sa.String(length=64), nullable=False),
    sa.Column('case_snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('suggestion_id', name=op.f('pk_suggestions'))
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestions_case_id'), ['case_id'], unique=False)

    op.create_table('model_aliases',
    sa.Column('case_type', sa.String(length=100), nullable=False),
    sa.Column('alias', sa.String(length=20), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("alias IN ('champion', 'challenger')", name=op.f('ck_model_aliases_alias_known')),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_model_aliases_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('case_type', 'alias', name=op.f('pk_model_aliases'))
    )


def downgrade() -> None:
    op.drop_table('model_aliases')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggestions_case_id'))

    op.drop_table('suggestions')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_case_type'))

    op.drop_table('model_versions')
