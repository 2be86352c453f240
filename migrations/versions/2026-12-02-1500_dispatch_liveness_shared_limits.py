"""dispatcher liveness, urgent and held messages, shared rate limits, 111 refs per account

Revision ID: a7c1e0f10004
Revises: a7c1e0f10003
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c1e0f10004'
down_revision: str | None = 'a7c1e0f10003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The initial schema left report's unique constraint on hotline_ref unnamed; this names it so
# that batch mode (SQLite) can drop it, as PostgreSQL's default name does.
NAMING = {"uq": "%(table_name)s_%(column_0_name)s_key"}
# Outbox rows that rang (or will): the hourly ceiling per official counts these.
RANG = "status NOT IN ('held', 'digested')"


def upgrade() -> None:
    op.create_table(
        'dispatcher',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('host', sa.String(length=64), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'rate_bucket',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('urgent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('claimed_by', sa.Integer(), nullable=True))
        batch_op.create_index('ix_outbox_official_rang', ['official_id', 'created_at'], unique=False,
                              sqlite_where=sa.text(RANG), postgresql_where=sa.text(RANG))
    with op.batch_alter_table('report', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('report_hotline_ref_key', type_='unique')
        batch_op.create_unique_constraint('uq_report_submitter_ref', ['submitted_by', 'hotline_ref'])
    # 111 replay keys were '111:<ref>'; they are now '111:<account>:<ref>'.
    op.execute(
        "UPDATE idempotency_record SET key = '111:' || (SELECT r.submitted_by FROM report r "
        "WHERE r.hotline_ref = substr(idempotency_record.key, 5) AND r.submitted_by IS NOT NULL) "
        "|| ':' || substr(key, 5) WHERE key LIKE '111:%' AND EXISTS (SELECT 1 FROM report r "
        "WHERE r.hotline_ref = substr(idempotency_record.key, 5) AND r.submitted_by IS NOT NULL)")


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('uq_report_submitter_ref', type_='unique')
        batch_op.create_unique_constraint('report_hotline_ref_key', ['hotline_ref'])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_official_rang')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('urgent')
        batch_op.drop_column('kind')
    op.drop_table('rate_bucket')
    op.drop_table('dispatcher')
