"""open deadlines by due time, for the home pages' queue of limits

Revision ID: a7c1e0f10005
Revises: a7c1e0f10004
Create Date: 2026-12-02
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'a7c1e0f10005'
down_revision: str | None = 'a7c1e0f10004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # states/cases/desk.py lists the open limits a reader may see, soonest first, 30 at most:
    # without this index every open deadline was read and sorted on each home page.
    op.create_index('ix_deadline_status_due', 'deadline', ['status', 'due_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deadline_status_due', table_name='deadline')
