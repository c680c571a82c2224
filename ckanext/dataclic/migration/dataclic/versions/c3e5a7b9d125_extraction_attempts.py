"""Extraction attempts: a record whose worker died is retried once.

Revision ID: c3e5a7b9d125
Revises: b2d4f6a8c013
Create Date: 2026-12-06 15:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "c3e5a7b9d125"
down_revision = "b2d4f6a8c013"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("dataclic_extraction",
                  sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade():
    op.drop_column("dataclic_extraction", "attempts")
