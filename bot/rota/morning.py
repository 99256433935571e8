"""The start of the working day: claims still held by people who aren't on today's rota.

At `office_hours.start` on a working day, today's duty manager gets one DM listing every
task claimed by someone not on today's rota (yesterday's team, or someone off today), with
a button per task that gives it to today's PA 1 (the `assign` verb). The run is one
`job_runs` row, keyed (team, "morning", the day), written in the same transaction as the
DM, so a second pass or a second process sends nothing. A bot started later in office
hours sends it then; one started after office hours leaves that day's alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from sqlalchemy.exc import IntegrityError

from bot.kernel.config import OfficeHoursConfig
from bot.kernel.message import Action, Message, button, lines, say, text, user
from bot.rota.rota import Rota
from bot.tasks.cards import local_time
from storage import jobs as jobs_db
from storage import tasks as q

log = logging.getLogger(__name__)

MORNING: Final = "morning"
MOST_BUTTONS: Final = 5  # a chat message shows at most five buttons (see handlers' render)


@dataclass
class Morning:
    rota: Rota
    hours: OfficeHoursConfig
    # The day whose morning message this process saw recorded in job_runs (rows never
    # removed), so the rest of that day's passes ask nothing.
    _recorded: date | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.rota.name

    def due(self, now: datetime) -> str | None:
        """Send the morning message if it is due and not yet done: "sent", "nothing" (no such
        claims, or no duty manager to tell), or None (not due, or done already)."""
        tz = self.rota.team.tz
        local = now.astimezone(tz)
        day = local.date()
        in_hours = self.hours.start <= local.time() < self.hours.end
        if not (self.rota.cal.is_working_day(day) and in_hours) or day == self._recorded:
            return None
        with self.rota.db.session() as s:
            if jobs_db.job_run(s, self.name, MORNING, day.isoformat()) is not None:
                self._recorded = day
                return None
        try:
            with self.rota.db.session() as s:
                run = jobs_db.start_job_run(
                    s, team=self.name, job=MORNING, run_key=day.isoformat(), at=now
                )
                if run is None:
                    return None
                today = self.rota.of_day(s, day)
                held = [
                    t for t in q.claimed_tasks(s, self.name)
                    if t.claimed_by and not today.on_duty(t.claimed_by)
                ]  # fmt: skip
                if not held or not today.manager:
                    return "nothing"
                body = self._message(held, today.people.get("pa1"))
                q.queue_message(
                    s, team=self.name, kind="dm", target=today.manager, body=body.to_json(),
                    at=now, task_id=held[0].id if len(held) == 1 else None,
                )  # fmt: skip
        except IntegrityError:
            return None  # another process sent it first
        log.info("morning claims for %s on %s sent", self.name, day)
        return "sent"

    def _message(self, held: list[q.Task], pa1: str | None) -> Message:
        tz = self.rota.team.tz
        head = "Good morning. These tasks are still claimed by people who aren't on today's rota:"
        rows: list[Message] = [text(head)]
        for t in held:
            since = local_time(t.claimed_at, tz) if t.claimed_at else "?"
            who = user(t.claimed_by or "")
            rows.append(say(f"  #{t.number} {t.subject} (", who, f", since {since})"))
        if pa1 is None:
            rows.append(text("Nobody is PA 1 today: give each with /duty assign N @name."))
            return lines(rows)
        rows.append(
            say("Give each to today's PA 1, ", user(pa1), ", with its button, or to someone else ")
            + "with /duty assign N @name."
        )
        if len(held) > MOST_BUTTONS:
            rows.append(text(f"(Buttons for the first {MOST_BUTTONS}: give the others with "
                             "/duty assign N @name.)"))  # fmt: skip
        buttons = Message()
        for i, t in enumerate(held[:MOST_BUTTONS]):
            buttons = buttons + (" " if i else "") + button(self._give(t.number, pa1))
        return lines([*rows, buttons])

    def _give(self, number: int, pa1: str) -> Action:
        """A button that runs `/duty assign N @pa1`. Its label is plain text (no mentions),
        so it names the person only when the config gives a name."""
        name = self.rota.team.display_name(pa1)
        to = f"@{name}" if name != pa1 else "PA 1"
        return Action(f"Give #{number} to {to}", "assign", f"{number} @{pa1}")
