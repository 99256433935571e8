"""contacts that don't come by email, the allocated worker, acknowledgements, phone cover

A task now says how the contact came (email, phone, text, visit, other) and who logged it if
a worker did; the young person's allocated worker; and who sent the acknowledgement to the
sender, and when (once per task). `cover` holds each spell when whoever had the duty phone
handed it on (`/duty out`) until they took it back (`/duty back`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CARD_INDEX = ["team", "card_state", sa.text("(card_version > card_shown_version)"), "id"]  # 0004


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="email")
        )
        batch.add_column(sa.Column("logged_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("acked_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("acked_at", WHEN, nullable=True))
    op.create_table(
        "cover",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(length=64), sa.ForeignKey("teams.name"), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("until", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_cover_team_open", "cover", ["team", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_cover_team_open", table_name="cover")
    op.drop_table("cover")
    # SQLite copies the table to drop columns, and can't carry an expression index across.
    op.drop_index("ix_tasks_team_card", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        for column in ("acked_at", "acked_by", "worker", "logged_by", "channel"):
            batch.drop_column(column)
    op.create_index("ix_tasks_team_card", "tasks", CARD_INDEX)
