"""referrals to agencies; retention

Revision ID: a7c1e0f10003
Revises: a7c1e0f10002
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'a7c1e0f10003'
down_revision: str | None = 'a7c1e0f10002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
