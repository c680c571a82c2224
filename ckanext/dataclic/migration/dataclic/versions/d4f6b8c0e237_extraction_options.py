"""Extraction options (grid variables, labels, threshold, wide) and translatable engine
errors (the template and values of an engine message, to render it in any language).

Revision ID: d4f6b8c0e237
Revises: c3e5a7b9d125
Create Date: 2026-12-06 18:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "d4f6b8c0e237"
down_revision = "c3e5a7b9d125"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("dataclic_extraction", sa.Column("options", sa.UnicodeText))
    op.add_column("dataclic_extraction", sa.Column("error_detail", sa.UnicodeText))
    op.add_column("dataclic_resource_profile", sa.Column("message_detail", sa.UnicodeText))


def downgrade():
    op.drop_column("dataclic_resource_profile", "message_detail")
    op.drop_column("dataclic_extraction", "error_detail")
    op.drop_column("dataclic_extraction", "options")
