"""first sync: the bot's first start on a full inbox

A task now says whether it was already in the inbox when the bot first started on the
mailbox (`backlog`): such mail gets no unclaimed reminders and, past the newest few, no card
of its own. The mailbox's sync state says when that first start was (`started_at`), what
mail it left in the inbox (`take_from`), and when it had taken in the rest (`caught_up_at`).
Existing rows keep these empty: a deployment that has synced before has started already.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("caught_up_at", "take_from", "started_at")
CARD_INDEX = ["team", "card_state", sa.text("(card_version > card_shown_version)"), "id"]  # 0004


def upgrade() -> None:
    op.add_column(
        "tasks", sa.Column("backlog", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    for column in reversed(COLUMNS):
        op.add_column("mailbox_state", sa.Column(column, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_state") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
    # SQLite copies the table to drop a column, and can't carry an expression index across.
    op.drop_index("ix_tasks_team_card", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("backlog")
    op.create_index("ix_tasks_team_card", "tasks", CARD_INDEX)
