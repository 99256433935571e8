"""What every chat's end-to-end harness shares: making tasks through real intake, delivering
until nothing waits, and finding a task by its number. The Slack and Teams harnesses add
their chat's requests and what their fake holds."""

from __future__ import annotations

import uuid
from typing import Any

from bot.app import DutyBot
from bot.chat.delivery import Delivered
from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.mail.intake import take_in
from bot.mail.mailbox import RawMessage
from bot.ops.runner import Runner
from storage.db import Database
from tests.mail import make_email


class DutyHarness:
    db: Database
    bot: DutyBot
    runner: Runner
    team: TeamConfig
    clock: Clock
    _seq: int = 0

    def email(
        self,
        subject: str = "Rent arrears",
        body: str = "Hello, I need help with my rent.",
        sender: str = "Casey Example <casey@example.org>",
        *,
        web_link: str | None = None,
        message_id: str | None = None,
    ) -> int:
        """Take one email in through real intake; returns the new task's number."""
        self._seq += 1
        mid = message_id or f"<harness-{self._seq}-{uuid.uuid4().hex[:6]}@example.org>"
        raw = RawMessage(
            item_id=f"item-{self._seq}",
            mime=make_email(subject, body, message_id=mid, sender=sender),
            web_link=web_link,
        )
        return take_in(self.db, self.team.name, raw, self.clock.now()).task_number

    def check_mail(self) -> Any:
        """Sync the team's configured mailbox once (needs with_mailboxes=True)."""
        return self.bot.check_mail(self.team.name)

    def drain(self, rounds: int = 20) -> Delivered:
        """Deliver until a pass does nothing; totals of what was sent. Stops at a pass that
        found the chat unreachable (``waiting``); use ``runner.deliver`` to watch one."""
        total = Delivered()
        for _ in range(rounds):
            got = self.runner.deliver(self.team.name)
            total.posted += got.posted
            total.updated += got.updated
            total.messages += got.messages
            if got.waiting:
                total.waiting = True
                return total
            if not (got.posted or got.updated or got.messages):
                return total
        raise AssertionError(f"delivery still busy after {rounds} rounds")

    def task_id(self, number: int) -> int:
        from storage import tasks as q

        with self.db.session() as s:
            task = q.task_by_number(s, self.team.name, number)
            assert task is not None, f"no task #{number}"
            return task.id
