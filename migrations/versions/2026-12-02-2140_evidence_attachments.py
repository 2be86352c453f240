"""evidence attachments of a case, and the database's store of their sealed bytes

Revision ID: a7c1e0f10006
Revises: a7c1e0f10005
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c1e0f10006'
down_revision: str | None = 'a7c1e0f10005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Label and original file name are encrypted (text of `v1.<key id>.…`); the bytes are
    # sealed before they reach `evidence_blob` or the directory store.
    op.create_table(
        'attachment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('label', sa.Text(), nullable=True),
        sa.Column('file_name', sa.Text(), nullable=True),
        sa.Column('content_type', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage', sa.String(length=16), nullable=False),
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachment_storage_key'), ['storage_key'], unique=True)
    op.create_table(
        'evidence_blob',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('evidence_blob')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_storage_key'))
        batch_op.drop_index(batch_op.f('ix_attachment_case_id'))
    op.drop_table('attachment')
