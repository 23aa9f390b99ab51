"""audit ledger, decisions and kept ruleset versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.base

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_entries_hash'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_kind'), ['kind'], unique=False)

    op.create_table('ruleset_versions',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('case_type', sa.String(length=100), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('first_used_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_ruleset_versions'))
    )
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ruleset_versions_case_type'), ['case_type'], unique=False)

    op.create_table('decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('suggestion_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('case_type', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=True),
    sa.Column('ad_hoc', sa.Boolean(), nullable=False),
    sa.Column('ad_hoc_description', sa.Text(), nullable=True),
    sa.Column('reason_code', sa.String(length=60), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('shown_rank', sa.Integer(), nullable=True),
    sa.Column('shown_propensity', sa.Double(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('decided_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.CheckConstraint("outcome IN ('accepted', 'overridden', 'dismissed')", name=op.f('ck_decisions_outcome_known')),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.suggestion_id'], name=op.f('fk_decisions_suggestion_id_suggestions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_decisions_idempotency_key')),
    sa.UniqueConstraint('suggestion_id', name=op.f('uq_decisions_suggestion_id'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_case_type'), ['case_type'], unique=False)

    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shadow', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                       'postgresql'), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        # The ledger is append-only: the database itself refuses to change or remove an entry.
        op.execute("""
            CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit ledger is append-only: % refused', TG_OP;
            END $$""")
        op.execute("""CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
                      FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()""")
        op.execute("""CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
                      FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()""")



def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entries_no_truncate ON audit_entries")
        op.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION audit_entries_append_only()")
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_case_type'))
        batch_op.drop_index(batch_op.f('ix_decisions_case_id'))

    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_column('shadow')

    op.drop_table('decisions')
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ruleset_versions_case_type'))

    op.drop_table('ruleset_versions')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_kind'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_case_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_at'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_actor'))

    op.drop_table('audit_entries')
