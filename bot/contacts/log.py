"""Contacts that don't come by email: a phone call, a text, a visit, logged by the worker who
took it, become tasks like any other (a number, a card, in lists, nudges and the handover)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.kernel.errors import Refused
from bot.kernel.message import Message, text
from bot.mail.redaction import PreviewMode, card_subject
from bot.tasks.cards import CHANNELS
from bot.tasks.triage import triage
from storage import tasks as q
from storage.db import Database
from storage.models import Task

SUMMARY_LIMIT = 300  # as much as a card's subject line shows


@dataclass
class Contacts:
    """One team's contacts: logging one as a task."""

    db: Database
    team: TeamConfig
    clock: Clock
    privacy: PreviewMode  # the summary is masked as an email's subject is

    def log(
        self, actor: str, channel: str, summary: str, urgent: bool = False, sg: bool = False
    ) -> Message:
        if channel not in CHANNELS:
            raise Refused("Say how it came: phone, text, visit or other.")
        # "minimal": no names in chat, so the summary stays with the worker (and the case record)
        if self.privacy == "minimal":
            shown = CHANNELS[channel][0]
        else:
            shown = card_subject(summary[:SUMMARY_LIMIT], self.privacy)
        found = triage(summary, self.team)
        now = self.clock.now()
        with self.db.session() as s:
            task = Task(
                team=self.team.name, number=q.next_task_number(s, self.team.name),
                state="open", channel=channel, logged_by=actor, subject=shown,
                urgent=urgent, safeguarding=sg, received_at=now, last_event_at=now,
                categories=list(found.categories),
                hints={f: w for f, w in found.hints.items() if not {"urgent": urgent,
                                                                    "safeguarding": sg}[f]},
            )  # fmt: skip
            s.add(task)
            s.flush()
            # "received", as for an email: the nudges count from it, retention purges by it.
            q.add_event(
                s, team=self.team.name, task_id=task.id, actor=actor, kind="received", at=now,
                data={"channel": channel},
            )  # fmt: skip
            number = task.number
        return text(f"Logged #{number} ({CHANNELS[channel][1]}).")
