"""Extraction tables: resource profiles, extractions, publications.

Revision ID: b2d4f6a8c013
Revises: a1c3e5f7d901
Create Date: 2026-11-29 21:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = "b2d4f6a8c013"
down_revision = "a1c3e5f7d901"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dataclic_resource_profile",
        sa.Column("resource_id", sa.UnicodeText, primary_key=True),
        sa.Column("status", sa.UnicodeText, nullable=False),
        sa.Column("profile", sa.UnicodeText),
        sa.Column("message", sa.UnicodeText),
        sa.Column("content_version", sa.UnicodeText, nullable=False, server_default=""),
        sa.Column("corrected", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated", sa.DateTime, nullable=False),
    )
    op.create_table(
        "dataclic_extraction",
        sa.Column("id", sa.UnicodeText, primary_key=True),
        sa.Column("cache_key", sa.UnicodeText, nullable=False),
        sa.Column("resource_id", sa.UnicodeText, nullable=False),
        sa.Column("package_id", sa.UnicodeText, nullable=False),
        sa.Column("perimeter", sa.UnicodeText, nullable=False),
        sa.Column("perimeter_name", sa.UnicodeText, nullable=False),
        sa.Column("vintage", sa.UnicodeText, nullable=False),
        sa.Column("mode", sa.UnicodeText, nullable=False),
        sa.Column("format", sa.UnicodeText, nullable=False),
        sa.Column("out_crs", sa.UnicodeText, nullable=False),
        sa.Column("enrich", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.UnicodeText, nullable=False),
        sa.Column("progress_done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("progress_total", sa.BigInteger),
        sa.Column("progress_unit", sa.UnicodeText, nullable=False, server_default="bytes"),
        sa.Column("report", sa.UnicodeText),
        sa.Column("error", sa.UnicodeText),
        sa.Column("path", sa.UnicodeText),
        sa.Column("filename", sa.UnicodeText),
        sa.Column("size", sa.BigInteger),
        sa.Column("user_id", sa.UnicodeText),
        sa.Column("client", sa.UnicodeText),
        sa.Column("job_id", sa.UnicodeText),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("started", sa.DateTime),
        sa.Column("finished", sa.DateTime),
        sa.Column("heartbeat", sa.DateTime),
        sa.Column("last_access", sa.DateTime, nullable=False),
    )
    # One live extraction per cache key: identical concurrent requests share it.
    op.create_index(
        "dataclic_extraction_live_key",
        "dataclic_extraction",
        ["cache_key"],
        unique=True,
        postgresql_where=sa.text("status <> 'failed'"),
    )
    op.create_index("dataclic_extraction_resource", "dataclic_extraction",
                    ["resource_id", "created"])
    op.create_index("dataclic_extraction_status", "dataclic_extraction", ["status"])
    op.create_table(
        "dataclic_publication",
        sa.Column("resource_id", sa.UnicodeText, primary_key=True),
        sa.Column("package_id", sa.UnicodeText, nullable=False),
        sa.Column("source_resource_id", sa.UnicodeText, nullable=False),
        sa.Column("perimeter", sa.UnicodeText, nullable=False),
        sa.Column("options", sa.UnicodeText, nullable=False),
        sa.Column("extraction_id", sa.UnicodeText),
        sa.Column("user_id", sa.UnicodeText),
        sa.Column("content_version", sa.UnicodeText, nullable=False, server_default=""),
        sa.Column("vintage", sa.UnicodeText, nullable=False, server_default=""),
        sa.Column("published", sa.DateTime, nullable=False),
        sa.Column("last_refresh", sa.DateTime),
        sa.Column("refresh_status", sa.UnicodeText),
        sa.Column("refresh_message", sa.UnicodeText),
    )
    op.create_index("dataclic_publication_source", "dataclic_publication",
                    ["source_resource_id"])


def downgrade():
    op.drop_table("dataclic_publication")
    op.drop_table("dataclic_extraction")
    op.drop_table("dataclic_resource_profile")
