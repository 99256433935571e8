"""The end-of-day handover: what came in, what was resolved, and what is still open."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message, lines, say, text, user
from bot.tasks.cards import clock_time, local_time
from storage import tasks as q
from storage.models import Task


@dataclass(frozen=True)
class HandoverView:
    day: date
    next_day: date
    message: Message
    quiet: bool


def day_bounds(day: date, team: TeamConfig) -> tuple[datetime, datetime]:
    """The start of ``day`` and of the day after, in the team's time zone."""
    start = datetime.combine(day, time(0), tzinfo=team.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=team.tz)
    return start, end


def _flags(task: Task) -> str:
    return "".join(f"[{f.upper()}] " for f in ("safeguarding", "urgent") if getattr(task, f))


def _flagged_first(tasks: list[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: (not t.safeguarding, not t.urgent, t.number))


def build_handover(
    s: Session,
    team: TeamConfig,
    cal: WorkingCalendar,
    day: date,
    next_manager: str | None = None,
) -> HandoverView:
    """The handover of ``day`` to the next working day (whose duty manager is ``next_manager``)."""
    start, end = day_bounds(day, team)
    next_day = cal.next_working_day(day)
    came_in = q.tasks_received_between(s, team.name, start, end)
    resolved = q.tasks_resolved_between(s, team.name, start, end)
    unclaimed = _flagged_first(q.list_tasks(s, team.name, ["open"], limit=500))
    claimed = _flagged_first(q.list_tasks(s, team.name, ["claimed"], limit=500))
    nd_start, nd_end = day_bounds(next_day, team)
    follow_ups = q.follow_ups_due_between(s, team.name, nd_start, nd_end)
    alerts = q.events_between(s, team.name, ["alerted"], start, end)

    head = text(f"Duty handover for {day:%a %d %b}, to {next_day:%a %d %b}")
    if next_manager:
        head = head + say(" (duty manager ", user(next_manager), ")")
    rows: list[Message] = [head]
    if not (unclaimed or claimed or follow_ups):
        rows.append(
            text(f"Nothing outstanding. {len(came_in)} came in today, {len(resolved)} resolved.")
        )
        return HandoverView(day, next_day, lines(rows), quiet=True)

    rows.append(text(f"Came in today: {len(came_in)}"))
    for t in came_in:
        at = clock_time(t.received_at, team.tz)
        rows.append(text(f"  #{t.number} {_flags(t)}{t.subject} (in at {at})"))
    rows.append(text(f"Resolved today: {len(resolved)}"))
    for t in resolved:
        rows.append(say(f"  #{t.number} {t.subject}, resolved by ", user(t.resolved_by or "")))
    if unclaimed:
        rows.append(text(f"Open and unclaimed ({len(unclaimed)}):"))
        rows += [text(f"  #{t.number} {_flags(t)}{t.subject}") for t in unclaimed]
    if claimed:
        rows.append(text(f"Claimed, not yet resolved ({len(claimed)}):"))
        by_worker: dict[str, list[Task]] = defaultdict(list)
        for t in claimed:
            by_worker[t.claimed_by or ""].append(t)
        notes = q.last_notes(s, [t.id for t in claimed])
        for worker, tasks in by_worker.items():
            rows.append(say("  ", user(worker), ":"))
            for t in tasks:
                last = notes.get(t.id)
                note = f" (last note: {last.note})" if last else ""
                rows.append(text(f"    #{t.number} {_flags(t)}{t.subject}{note}"))
    if follow_ups:
        rows.append(text(f"Follow-ups due {next_day:%a %d %b}:"))
        for fu in follow_ups:
            task = s.get(Task, fu.task_id)
            num = task.number if task else "?"
            rows.append(
                say(
                    f"  #{num} at {clock_time(fu.due_at, team.tz)} (",
                    user(fu.owner),
                    f"){': ' + fu.note if fu.note else ''}",
                )
            )
    if alerts:
        rows.append(text(f"Alerts sent today: {len(alerts)}"))
        for ev in alerts:
            task = s.get(Task, ev.task_id) if ev.task_id else None
            num = task.number if task else "?"
            people = Message()
            for i, p in enumerate(ev.data.get("people", [])):
                people = people + (text(", ") if i else Message()) + user(p)
            rows.append(say(f"  #{num} at {local_time(ev.at, team.tz)} to ", people))
    return HandoverView(day, next_day, lines(rows), quiet=False)
