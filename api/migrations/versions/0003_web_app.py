"""web app: browser sessions, waves, interview shortlist marks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_sessions_key_id", "web_sessions", ["key_id"])
    op.create_table(
        "web_waves",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_key_id", sa.String(32), sa.ForeignKey("api_keys.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input_name", sa.String(300), nullable=False),
        sa.Column("input_path", sa.Text(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("model_spec", sa.String(200), nullable=False),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id"), nullable=True),
        sa.Column("row_errors", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_waves_owner_key_id", "web_waves", ["owner_key_id"])
    op.create_table(
        "web_shortlist_marks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("wave_id", sa.String(32), sa.ForeignKey("web_waves.id", ondelete="CASCADE"), nullable=False),
        sa.Column("company", sa.String(300), nullable=False),
        sa.Column("contact", sa.String(300), nullable=False),
        sa.Column("contacted", sa.Boolean(), nullable=False),
        sa.Column("interviewed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("wave_id", "company", "contact", name="uq_web_shortlist_marks_contact"),
    )
    op.create_index("ix_web_shortlist_marks_wave_id", "web_shortlist_marks", ["wave_id"])


def downgrade() -> None:
    op.drop_table("web_shortlist_marks")
    op.drop_table("web_waves")
    op.drop_table("web_sessions")
