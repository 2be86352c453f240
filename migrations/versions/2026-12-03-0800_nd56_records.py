"""Nghị định 56 records: rated risk factors, the detailed assessment (Mẫu 03), the plan's
measures (Mẫu 04) and decision number (Mẫu 05), the chair's emergency decision, consent, and
the child's special-circumstance groups

Revision ID: a7c1e0f10007
Revises: a7c1e0f10006
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c1e0f10007'
down_revision: str | None = 'a7c1e0f10006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _case_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['case_id'], ['case_file.id'])


def _index(table: str, column: str) -> None:
    op.create_index(f'ix_{table}_{column}', table, [column], unique=False)


def upgrade() -> None:
    # Before plan_measure refers to it: SQLite's batch mode copies and drops the table.
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.alter_column('measures', existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column('decision_no', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('decision_year', sa.Integer(), nullable=True))
    op.create_table(
        'risk_rating',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('source_id', sa.Integer(), nullable=True),
        sa.Column('rated_at', TS, nullable=False),
        sa.Column('rated_by', sa.String(length=64), nullable=False),
        sa.Column('severity', sa.String(length=8), nullable=False),
        sa.Column('abuser_access', sa.String(length=8), nullable=False),
        sa.Column('safety_obstacles', sa.String(length=8), nullable=False),
        sa.Column('self_protection', sa.String(length=8), nullable=False),
        sa.Column('derived_level', sa.String(length=8), nullable=False),
        sa.Column('stated_level', sa.String(length=8), nullable=True),
        _case_fk(), sa.PrimaryKeyConstraint('id'),
    )
    _index('risk_rating', 'case_id')
    # Text columns hold ciphertext (`v1.<key id>.…`), like every encrypted column.
    op.create_table(
        'detailed_assessment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('recorded_at', TS, nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('information', sa.Text(), nullable=False),
        sa.Column('needs', sa.Text(), nullable=False),
        sa.Column('meeting_at', TS, nullable=False),
        sa.Column('attendees', sa.Text(), nullable=False),
        sa.Column('agreed', sa.Text(), nullable=False),
        _case_fk(), sa.PrimaryKeyConstraint('id'),
    )
    _index('detailed_assessment', 'case_id')
    op.create_table(
        'plan_measure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('responsible', sa.Text(), nullable=True),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        _case_fk(), sa.PrimaryKeyConstraint('id'),
    )
    _index('plan_measure', 'plan_id')
    _index('plan_measure', 'case_id')
    op.create_table(
        'emergency_decision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('decided_at', TS, nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', TS, nullable=False),
        sa.Column('measures', sa.Text(), nullable=False),
        sa.Column('separation', sa.Boolean(), nullable=False),
        sa.Column('alternative_care', sa.Text(), nullable=True),
        _case_fk(), sa.PrimaryKeyConstraint('id'),
    )
    _index('emergency_decision', 'case_id')
    op.create_table(
        'consent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('recorded_at', TS, nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('child_answer', sa.String(length=16), nullable=True),
        sa.Column('carer_answer', sa.String(length=16), nullable=True),
        sa.Column('carer_name', sa.Text(), nullable=True),
        sa.Column('legal_ground', sa.String(length=32), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        _case_fk(), sa.PrimaryKeyConstraint('id'),
    )
    _index('consent', 'case_id')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('measure_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_service_measure_id_plan_measure', 'plan_measure', ['measure_id'], ['id'])
    # A plain ADD COLUMN: case_file is referenced by most tables, so it is never copied.
    op.add_column('case_file', sa.Column('special_groups', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('case_file', 'special_groups')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_constraint('fk_service_measure_id_plan_measure', type_='foreignkey')
        batch_op.drop_column('measure_id')
    for table in ('consent', 'emergency_decision', 'plan_measure', 'detailed_assessment', 'risk_rating'):
        op.drop_table(table)
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('decision_year')
        batch_op.drop_column('decision_no')
