"""encrypt private fields at rest; blind indexes

Revision ID: a7c1e0f10002
Revises: a7c1e0f10001
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'a7c1e0f10002'
down_revision: str | None = 'a7c1e0f10001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
