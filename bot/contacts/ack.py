"""Acknowledgements (seeds/004 §5: "where a written response confirming the contact has been
received is required or requested, agree who will provide this"): `/duty ack N`, or the card's
Acknowledge button, replies to the sender of task N's email from the duty inbox, once.

The order, so that two people pressing at once send one, and a crash never sends twice:
1. Record first. One transaction claims the task (tasks.acked_at, a conditional update that
   only one of two people pressing at once can win) and notes "acknowledgement started".
2. Send: the mailbox replies in the email's own conversation, to the sender in From only.
3. Record the outcome: "acknowledged"; or, if the mailbox surely did not send, "failed" and
   the claim is undone so it can be tried again; or, if it can't tell, "unsure".
A crash between 1 and 3 leaves the claim, so nobody sends a second one (a second try says
who sent it and when); and the scheduled jobs find a start with no outcome after
STUCK_AFTER and say in the task's thread that nobody can tell whether it went, so it is never
lost silently either. The bot never sends an acknowledgement again by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from bot.kernel.clean import tidy
from bot.kernel.clock import Clock
from bot.kernel.config import NO_PHONE, TeamConfig
from bot.kernel.errors import Refused
from bot.kernel.message import Message, say, text, user
from bot.mail.addresses import no_reply_reason
from bot.mail.mailbox import ItemGone, Mailbox, MailboxError, ReplyEmail, SendUncertain
from bot.tasks.cards import CHANNELS, clock_time
from storage import acks
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Task

log = logging.getLogger(__name__)

# No mailbox call takes this long (each adapter gives up well within it), so a start older
# than this with no outcome means the bot stopped while sending.
STUCK_AFTER: Final = timedelta(minutes=15)
SUBJECT_CHARS: Final = 200
UNSURE: Final = (
    "I can't tell whether this acknowledgement went: {why} Look in Sent Items of the duty "
    "inbox, and send one from Outlook if it isn't there."
)


def reply_subject(subject: str) -> str:
    """ "Re: " and the email's subject on one line, as mail clients thread it."""
    line = " ".join(tidy(subject).split())[:SUBJECT_CHARS]
    if not line:
        return "Re: your email"
    return line if line.lower().startswith("re:") else f"Re: {line}"


@dataclass
class Acks:
    """One team's acknowledgements: the text, sending one once, finding any left unfinished."""

    db: Database
    team: TeamConfig
    clock: Clock
    mailbox: Mailbox | None

    def text_for(self, number: int) -> str:
        """The team's acknowledgement for task ``number``, from the config's template."""
        cfg = self.team.acknowledgement
        if "{phone}" in cfg.text and not cfg.phone.strip():
            raise Refused(
                "The acknowledgement gives the duty phone number and none is set: ask whoever "
                "runs the bot to set teams.acknowledgement.phone in the config."
            )
        return cfg.filled(number)

    def ack(self, actor: str, number: int, words: str | None = None) -> Message:
        """Send task ``number``'s acknowledgement (``words``, as edited in the form, or the
        template), once; see the module's docstring for the order of things."""
        body = tidy(words).strip() if words is not None else self.text_for(number)
        if not body:
            raise Refused("Write the acknowledgement before sending it.", field="text")
        if NO_PHONE in body:
            raise Refused(f"Put the duty phone number where it says {NO_PHONE}.", field="text")
        if self.mailbox is None:
            raise Refused("I have no mailbox to send from here, so I can't acknowledge emails.")
        now = self.clock.now()
        with self.db.session() as s:
            task = self._task(s, number)
            email = self._email_of(s, task)
            if not acks.claim(s, task.id, actor, now):
                s.refresh(task)  # the other person's claim, now committed
                raise Refused(self._already(s, task))
            q.add_event(s, team=self.team.name, task_id=task.id, actor=actor, kind=acks.STARTED,
                        at=now)  # fmt: skip
            reply = ReplyEmail(
                item_id=email.item_id or "",
                to=email.from_addr,
                subject=reply_subject(email.subject),
                text=body,
            )
            task_id = task.id
        try:
            replied = self.mailbox.reply(reply)
        except SendUncertain as exc:
            self._unsure(task_id, actor, str(exc))
            raise Refused(UNSURE.format(why=str(exc))) from None
        except MailboxError as exc:
            self._failed(task_id, actor, str(exc))
            if isinstance(exc, ItemGone):
                raise Refused(
                    f"The email of #{number} is no longer in the duty inbox, so nothing was "
                    "sent: reply from Outlook if it has moved."
                ) from None
            raise Refused(
                f"Nothing was sent: {exc} Try /duty ack {number} again in a few minutes."
            ) from None
        when = clock_time(now, self.team.tz)
        with self.db.session() as s:
            q.add_event(s, team=self.team.name, task_id=task_id, actor=actor, kind=acks.SENT,
                        at=self.clock.now())  # fmt: skip
            done = say("Acknowledged by ", user(actor), f" at {when}.")
            q.queue_message(s, team=self.team.name, kind="thread", task_id=task_id,
                            body=done.to_json(), at=self.clock.now())  # fmt: skip
        log.info("acknowledgement sent for task #%s", number)  # never the address or text
        said = say(f"Sent the acknowledgement for #{number} to {reply.to}.")
        others = [tidy(a) for a in replied.reply_to if a.strip().lower() != reply.to.lower()]
        if others:
            said += (
                f"\nNote: this email asks for replies to go to {', '.join(others)}; the "
                "acknowledgement went to the sender in From."
            )
        return said

    # ---- reading the task --------------------------------------------------------------

    def _task(self, s: Session, number: int) -> Task:
        task = q.task_by_number(s, self.team.name, number)
        if task is None:
            raise Refused(f"There is no task #{number}. Try /duty list to see open tasks.")
        return task

    def _email_of(self, s: Session, task: Task) -> Email:
        """The email the task came from, if an acknowledgement may go to its sender."""
        number = task.number
        if task.channel != "email":
            came = CHANNELS.get(task.channel, ("", "contact"))[1]
            raise Refused(f"#{number} came as a {came}, not by email, so there is no email "
                          "to acknowledge.")  # fmt: skip
        if task.acked_at is not None:
            raise Refused(self._already(s, task))
        emails = q.emails_of_task(s, task.id)
        if not emails or emails[0].content_purged_at is not None:
            raise Refused(
                f"The email of #{number} is no longer kept by the bot, so it can't reply to it: "
                "reply from Outlook if you still need to."
            )
        first = emails[0]
        why = no_reply_reason(first.from_addr)
        if why is not None:
            raise Refused(f"I won't send an acknowledgement for #{number}: it {why}.")
        if not first.item_id:
            raise Refused(f"I can't find the email of #{number} in the duty inbox to reply to.")
        return first

    def _already(self, s: Session, task: Task) -> Message:
        when = clock_time(task.acked_at, self.team.tz) if task.acked_at else "?"
        said = say(f"#{task.number} was already acknowledged by ", user(task.acked_by or ""),
                   f" at {when}.")  # fmt: skip
        if acks.state(s, task.id) == acks.UNSURE:
            said += " I couldn't tell whether it went: look in Sent Items of the duty inbox."
        return said

    # ---- recording the outcome ---------------------------------------------------------

    def _failed(self, task_id: int, actor: str, why: str) -> None:
        """The mailbox surely didn't send: undo the claim so it can be tried again."""
        with self.db.session() as s:
            acks.release(s, task_id, actor)
            q.add_event(s, team=self.team.name, task_id=task_id, actor=actor, kind=acks.FAILED,
                        at=self.clock.now(), note=why)  # fmt: skip

    def _unsure(self, task_id: int, actor: str, why: str) -> None:
        """Nobody can tell whether it went: keep the claim (never send twice) and say so."""
        with self.db.session() as s:
            _note_unsure(s, self.team.name, task_id, actor, why, self.clock.now())


def _note_unsure(s: Session, team: str, task_id: int, actor: str, why: str, at: datetime) -> None:
    q.add_event(s, team=team, task_id=task_id, actor=actor, kind=acks.UNSURE, at=at, note=why)
    q.queue_message(s, team=team, kind="thread", task_id=task_id,
                    body=text(UNSURE.format(why=why)).to_json(), at=at)  # fmt: skip


def unfinished(db: Database, team: TeamConfig, now: datetime) -> int:
    """A scheduled job: acknowledgements started long ago with no outcome (the bot stopped
    while sending) are said in the task's thread to be unsure, once each."""
    found = 0
    with db.session() as s:
        for task in acks.stuck(s, team.name, now - STUCK_AFTER):
            why = "the bot stopped while it was being sent."
            _note_unsure(s, team.name, task.id, "scheduler", why, now)
            found += 1
    if found:
        log.warning("%d acknowledgement(s) for %s may not have gone", found, team.name)
    return found
