"""Territory referential tables: vintages, territories and contours.

Revision ID: a1c3e5f7d901
Revises:
Create Date: 2026-11-29 20:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = "a1c3e5f7d901"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dataclic_territory_vintage",
        sa.Column("name", sa.UnicodeText, primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
        sa.Column("cog_source", sa.UnicodeText, nullable=False),
        sa.Column("contour_source", sa.UnicodeText, nullable=False),
        sa.Column("contour_vintage", sa.UnicodeText, nullable=False),
        sa.Column("counts", sa.UnicodeText, nullable=False, server_default="{}"),
    )
    op.create_table(
        "dataclic_territory",
        sa.Column(
            "vintage",
            sa.UnicodeText,
            sa.ForeignKey("dataclic_territory_vintage.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("entity", sa.UnicodeText, primary_key=True),
        sa.Column("code", sa.UnicodeText, primary_key=True),
        sa.Column("data", sa.UnicodeText, nullable=False),
    )
    op.create_table(
        "dataclic_territory_contour",
        sa.Column(
            "vintage",
            sa.UnicodeText,
            sa.ForeignKey("dataclic_territory_vintage.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("code", sa.UnicodeText, primary_key=True),
        sa.Column("wkb", sa.LargeBinary, nullable=False),
    )
    # At most one active vintage.
    op.create_index(
        "dataclic_territory_vintage_one_active",
        "dataclic_territory_vintage",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )


def downgrade():
    op.drop_table("dataclic_territory_contour")
    op.drop_table("dataclic_territory")
    op.drop_table("dataclic_territory_vintage")
