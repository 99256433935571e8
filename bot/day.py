"""Day commands for the shell and Slack: the handover, the rota and the shell's clock."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import commands as c
from bot.kernel.clock import ManualClock, OffsetClock
from bot.kernel.message import Message, say, text, user
from bot.ops.jobs import TeamJobs
from bot.rota.rota import Rota
from bot.tasks.actions import Refused
from bot.tasks.cards import local_time
from storage import jobs as jobs_db


def handover(jobs: TeamJobs, actor: str, cmd: c.Command) -> Message:
    """`/duty handover` previews today's handover to the asker; `post` posts it now."""
    assert isinstance(cmd, c.Handover)
    duty = jobs.duty
    if not duty.roster.is_member(actor):
        raise Refused("Only members of the duty team can see the handover.")
    if cmd.post and not duty.roster.is_manager(actor):
        raise Refused("Only a duty manager can post the handover.")
    now = duty.clock.now()
    if not cmd.post:
        return text("Preview (only you can see this):\n") + jobs.handover.preview(now).view.message
    today = now.astimezone(duty.team.tz).date()
    posted = jobs.handover.post(today, now, actor=actor)
    if posted is None:
        with duty.db.session() as s:
            run = jobs_db.job_run(s, duty.name, "handover", today.isoformat())
        when = f" at {local_time(run.ran_at, duty.team.tz)}" if run else ""
        raise Refused(
            f"Today's handover was already posted{when}. /duty handover shows it as it is now."
        )
    reply = text("Handover posted to the channel")
    if posted.manager:
        reply = reply + say(
            ", sent to ", user(posted.manager), f" (duty manager {posted.view.next_day:%a %d %b})"
        )
    if jobs.config.handover.email:
        reply = reply + " and emailed to the duty inbox"
    return reply + "."


def rota(rota: Rota, actor: str, cmd: c.Command) -> Message:
    """`/duty rota` shows today and the next working day; `/duty rota set` changes it."""
    if isinstance(cmd, c.RotaSet):
        return rota.set(actor, cmd)
    return rota.show(actor)


_STEP = re.compile(r"\+([0-9]+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def move_clock(
    clock: OffsetClock | ManualClock, tz: ZoneInfo, actor: str, cmd: c.Command
) -> Message:
    """`/duty clock +2h` or `/duty clock 2026-12-24 16:30` (local time): shell mode only."""
    assert isinstance(cmd, c.Clock)
    if m := _STEP.fullmatch(cmd.spec):
        clock.advance(timedelta(**{_UNITS[m[2]]: int(m[1])}))
    else:
        clock.set(datetime.strptime(cmd.spec, "%Y-%m-%d %H:%M").replace(tzinfo=tz))
    return text(f"The clock is now {local_time(clock.now(), tz)}.")


def clock_fixed(actor: str, cmd: c.Command) -> Message:
    raise Refused("The clock can only be moved in shell mode (dutybot shell).")
