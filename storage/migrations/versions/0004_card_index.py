"""an index for the delivery passes: cards waiting to be posted or redrawn

Without it every delivery pass (every 2 s, and after every action) reads the whole task
history: about 230 ms at 100,000 tasks. The expression matches storage.tasks.cards_to_update.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["team", "card_state", sa.text("(card_version > card_shown_version)"), "id"]


def upgrade() -> None:
    op.create_index("ix_tasks_team_card", "tasks", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_tasks_team_card", table_name="tasks")
