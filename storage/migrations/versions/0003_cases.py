"""unallocated cases: the register, and events that belong to a case

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("team", sa.String(length=64), sa.ForeignKey("teams.name"), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("spell", sa.Integer(), nullable=False),
        sa.Column("ray", sa.String(length=8), nullable=True),
        sa.Column("ray_rated_at", WHEN, nullable=True),
        sa.Column("next_rating_due", sa.Date(), nullable=True),
        sa.Column("team_manager", sa.String(length=64), nullable=False),
        sa.Column("unallocated_since", sa.Date(), nullable=False),
        sa.Column("added_at", WHEN, nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("last_review_at", WHEN, nullable=True),
        sa.Column("last_review_by", sa.String(length=64), nullable=True),
        sa.Column("next_review_due", sa.Date(), nullable=False),
        sa.Column("summary_at", WHEN, nullable=True),
        sa.Column("oversight_note_at", WHEN, nullable=True),
        sa.Column("letter_on", sa.Date(), nullable=True),
        sa.Column("contact_on", sa.Date(), nullable=True),
        sa.Column("visit_on", sa.Date(), nullable=True),
        sa.Column("allocated_to", sa.String(length=64), nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("last_event_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "ref", name="uq_cases_team_ref"),
    )
    # The clocks and the report read open cases by review date, by age and by team manager.
    op.create_index("ix_cases_team_state_review", "cases", ["team", "state", "next_review_due"])
    op.create_index("ix_cases_team_state_since", "cases", ["team", "state", "unallocated_since"])
    op.create_index("ix_cases_team_state_manager", "cases", ["team", "state", "team_manager"])
    # Batch mode: SQLite can't add a foreign key in place, so it copies the table.
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("case_id", ID, nullable=True))
        batch.create_foreign_key("fk_events_case_id", "cases", ["case_id"], ["id"])
    op.create_index("ix_events_case_at", "events", ["case_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_events_case_at", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("fk_events_case_id", type_="foreignkey")
        batch.drop_column("case_id")
    op.drop_index("ix_cases_team_state_manager", table_name="cases")
    op.drop_index("ix_cases_team_state_since", table_name="cases")
    op.drop_index("ix_cases_team_state_review", table_name="cases")
    op.drop_table("cases")
