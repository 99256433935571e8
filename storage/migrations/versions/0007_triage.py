"""triage: a task's categories (financial, accommodation, ...) and its hints

`categories` holds the names of the categories a task is in, from its words at intake or
set by hand. `hints` holds, per flag (safeguarding, urgent), the words that suggested it,
until a person decides.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARD_INDEX = ["team", "card_state", sa.text("(card_version > card_shown_version)"), "id"]  # 0004


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite keeps the table, and its expression index, as it is).
    op.add_column(
        "tasks", sa.Column("categories", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )
    op.add_column(
        "tasks", sa.Column("hints", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
    )


def downgrade() -> None:
    # SQLite copies the table to drop columns, and can't carry an expression index across.
    op.drop_index("ix_tasks_team_card", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("hints")
        batch.drop_column("categories")
    op.create_index("ix_tasks_team_card", "tasks", CARD_INDEX)
