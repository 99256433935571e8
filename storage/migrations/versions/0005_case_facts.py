"""cases keep facts only: due dates are worked out from them, who-did-what is in the events

The next review and RAY rating dates follow from the last review or rating (or the day the
case became unallocated) and the team's policy, so they are no longer stored: a policy
changed in the config now moves them. Who added, reviewed, allocated or closed a case, and
when, is already in its events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
DROPPED = ("next_rating_due", "next_review_due", "added_by", "last_review_by", "ended_at",
           "ended_by", "last_event_at")  # fmt: skip


def upgrade() -> None:
    op.drop_index("ix_cases_team_state_review", table_name="cases")
    op.drop_index("ix_cases_team_state_manager", table_name="cases")
    with op.batch_alter_table("cases") as batch:  # SQLite copies the table
        for column in DROPPED:
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("next_rating_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("next_review_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("added_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("last_review_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("ended_at", WHEN, nullable=True))
        batch.add_column(sa.Column("ended_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("last_event_at", WHEN, nullable=True))
    # Rough values for the old code: it recomputes the dates on its next review or rating.
    op.execute(
        "UPDATE cases SET next_review_due = unallocated_since, added_by = '', "
        "last_event_at = added_at"
    )
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("next_review_due", existing_type=sa.Date(), nullable=False)
        batch.alter_column("added_by", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("last_event_at", existing_type=WHEN, nullable=False)
    op.create_index("ix_cases_team_state_review", "cases", ["team", "state", "next_review_due"])
    op.create_index("ix_cases_team_state_manager", "cases", ["team", "state", "team_manager"])
