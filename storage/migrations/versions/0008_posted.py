"""posted messages: where each chat message went, so a purge can rewrite it

A message the bot posted (a DM, a thread reply, a channel post) now keeps where it went, so
that when the email content it quoted is purged the bot can rewrite it through the chat's
own edit call; `scrubbed_at` says when it was.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("posted_channel", sa.String(length=64), nullable=True))
    op.add_column("outbox", sa.Column("posted_ts", sa.String(length=64), nullable=True))
    op.add_column("outbox", sa.Column("scrubbed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        for column in ("scrubbed_at", "posted_ts", "posted_channel"):
            batch.drop_column(column)
