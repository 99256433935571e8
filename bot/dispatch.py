"""Runs a /duty command for one person. Shared by Slack and the shell; never raises."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot import commands as c
from bot.kernel.message import Message, text
from bot.ops.outage import database_unreachable
from bot.tasks.actions import Duty, Refused

log = logging.getLogger(__name__)

SORRY = (
    "Something went wrong on my side. Check the task with /duty show N before trying again, "
    "and tell the duty manager if it keeps happening."
)
DATABASE_AWAY = (
    "I can't reach my database just now, so that may not have gone through. Try again in a "
    "few minutes, and check it with /duty show N."
)

Extra = Callable[[str, c.Command], Message]  # (actor, command) -> reply


@dataclass
class Desk:
    """Everything a command can reach. Later parts (handover, rota, cases, clock) plug in here."""

    duty: Duty
    extras: dict[type, Extra] = field(default_factory=dict)

    def handle(self, actor: str, line: str) -> Message:
        command = c.parse_command(line)
        if isinstance(command, c.Invalid):
            return text(command.message)
        try:
            return self.run(actor, command)
        except Refused as no:
            return no.reply
        except Exception as exc:
            return text(failed(exc, f"command {type(command).__name__}"))  # not the text: privacy

    def run(self, actor: str, cmd: c.Command) -> Message:
        d = self.duty
        match cmd:
            case c.Help(topic):
                return text(c.help_text(topic))
            case c.List(scope):
                return d.list_tasks(actor, scope)
            case c.Show(n):
                return d.show(actor, n)
            case c.Claim(n):
                return d.claim(actor, n)
            case c.Unclaim(n):
                return d.unclaim(actor, n)
            case c.Assign(n, who):
                return d.assign(actor, n, who)
            case c.Resolve(n, note):
                return d.resolve(actor, n, note)
            case c.Reopen(n, why):
                return d.reopen(actor, n, why)
            case c.Alert(n, users, note):
                return d.alert(actor, n, users, note)
            case c.Flag(n, flag, on):
                return d.flag(actor, n, flag, on)
            case c.Note(n, note):
                return d.note(actor, n, note)
            case c.FollowUp(n, when, note):
                return d.follow_up(actor, n, when, note)
        extra = self.extras.get(type(cmd))
        if extra is not None:
            return extra(actor, cmd)
        return text("That command isn't available yet. Type /duty help to see what works.")


def failed(exc: Exception, what: str) -> str:
    """Log a failed command or button (one line if the database is away, else the trace) and
    give the sentence to answer with."""
    if database_unreachable(exc):
        log.error("%s failed: the database can't be reached", what)
        return DATABASE_AWAY
    log.exception("%s failed", what)
    return SORRY
