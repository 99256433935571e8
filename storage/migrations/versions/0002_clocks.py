"""the duty day's clocks: job runs, nudges, the scheduler lease, the rota

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _team() -> sa.Column:
    return sa.Column("team", sa.String(length=64), sa.ForeignKey("teams.name"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "job_runs",
        _id(),
        _team(),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("run_key", sa.String(length=64), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("email_state", sa.String(length=16), nullable=False),
        sa.Column("email", sa.JSON(), nullable=False),
        sa.Column("email_attempts", sa.Integer(), nullable=False),
        sa.Column("email_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "job", "run_key", name="uq_job_runs_team_job_key"),
    )
    op.create_index("ix_job_runs_email", "job_runs", ["team", "email_state"])
    op.create_table(
        "nudges",
        _id(),
        _team(),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "kind", "subject", name="uq_nudges_team_kind_subject"),
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "rota",
        _id(),
        _team(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "day", "role", name="uq_rota_team_day_role"),
    )
    op.create_table(
        "rota_weekly",
        _id(),
        _team(),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "weekday", "role", name="uq_rota_weekly_team_weekday_role"),
    )


def downgrade() -> None:
    op.drop_table("rota_weekly")
    op.drop_table("rota")
    op.drop_table("scheduler_lease")
    op.drop_table("nudges")
    op.drop_index("ix_job_runs_email", table_name="job_runs")
    op.drop_table("job_runs")
