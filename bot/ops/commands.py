"""The shell's own verb: `/duty clock` moves its clock, to try a duty day (nudges, handover,
case reminders) in minutes. It works only in the shell, whose clock can move."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat.catalogue import Verb
from bot.chat.words import Bad, Words, iso_date, show
from bot.kernel.clock import Clock, ManualClock, OffsetClock
from bot.kernel.errors import Refused
from bot.kernel.message import Message, text
from bot.kernel.roles import ANYONE
from bot.tasks.cards import local_time

SHELL_ONLY = "The clock can only be moved in shell mode (dutybot shell)."
_STEP = re.compile(r"\+([0-9]{1,5})([mhd])", re.ASCII)
_AT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ t]([0-9]{1,2}):([0-9]{2})", re.ASCII)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class ClockMove:
    spec: str  # "+2h", "+30m", "+1d" or "2026-12-24 16:30" (local time)


@dataclass
class ClockHands:
    """The team's clock, as `/duty clock` moves it."""

    clock: Clock
    tz: ZoneInfo

    def move(self, spec: str) -> Message:
        clock = self.clock
        if not isinstance(clock, OffsetClock | ManualClock):
            raise Refused(SHELL_ONLY)
        if m := _STEP.fullmatch(spec):
            clock.advance(timedelta(**{_UNITS[m[2]]: int(m[1])}))
        else:
            clock.set(datetime.strptime(spec, "%Y-%m-%d %H:%M").replace(tzinfo=self.tz))
        return text(f"The clock is now {local_time(clock.now(), self.tz)}.")


def _read(w: Words) -> ClockMove:
    if not w:
        raise w.needs("a step or a time")
    said = w.text().lower()
    if (m := _STEP.fullmatch(said)) and int(m[1]) > 0:
        return ClockMove(f"+{int(m[1])}{m[2]}")
    if m := _AT.fullmatch(said):
        hour, minute = int(m[2]), int(m[3])
        day = iso_date(m[1], w.use)
        if hour > 23 or minute > 59:
            raise Bad(f"'{show(said)}' isn't a real time. Use: /duty clock 2026-12-24 16:30")
        return ClockMove(f"{day} {hour:02d}:{minute:02d}")
    raise Bad(f"I couldn't read '{show(said)}' as a clock step or time. {w.use}")


VERBS: list[Verb[ClockHands, Any]] = [
    Verb(
        name="clock", syntax="/duty clock +2h|+30m|+1d|2026-12-24 16:30",
        does="move the clock (shell and demo only)", example="/duty clock +2h", group="Day",
        who=ANYONE, on=ClockHands, read=_read, run=lambda hands, actor, a: hands.move(a.spec),
        only_in="shell", elsewhere=SHELL_ONLY,
    ),
]  # fmt: skip
