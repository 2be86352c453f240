"""referrals to agencies; retention

Revision ID: a7c1e0f10003
Revises: a7c1e0f10002
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c1e0f10003'
down_revision: str | None = 'a7c1e0f10002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'referral',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('referred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('referred_by', sa.String(length=64), nullable=False),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_by', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_case_id'), ['case_id'], unique=False)
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_column('submitted_by')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_case_id'))
        batch_op.drop_index(batch_op.f('ix_referral_agency_id'))
    op.drop_table('referral')
