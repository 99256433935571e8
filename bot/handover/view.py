"""The end-of-day handover: what came in, what was resolved, and what is still open."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message, heading, lines, say, task_link, text, user
from bot.tasks.cards import clock_time, local_time
from storage import tasks as q
from storage.models import Task

PAGE_ROWS = 120  # lines per message: a busy day's handover goes as several, in order
SUBJECT_CHARS = 150  # a subject in a handover line, at most


@dataclass(frozen=True)
class HandoverView:
    day: date
    next_day: date
    message: Message  # the whole handover: the preview, the email
    quiet: bool
    pages: tuple[Message, ...] = ()  # the same, as the messages to post


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
    # Old mail without a card (from before the bot's first start) is one line, not thousands.
    unclaimed = _flagged_first(q.list_tasks(s, team.name, ["open"], limit=500, with_cards=True))
    old_mail = q.count_held(s, team.name)
    claimed = _flagged_first(q.list_tasks(s, team.name, ["claimed"], limit=500))
    nd_start, nd_end = day_bounds(next_day, team)
    follow_ups = q.follow_ups_due_between(s, team.name, nd_start, nd_end)
    alerts = q.events_between(s, team.name, ["alerted"], start, end)
    notes = q.last_notes(s, [t.id for t in [*claimed, *came_in] if t.state == "claimed"])

    head = text(f"Duty handover for {day:%a %d %b}, to {next_day:%a %d %b}")
    if next_manager:
        head = head + say(" (duty manager ", user(next_manager), ")")
    fallback = f"Duty handover for {day:%a %d %b}: " \
        f"{len(unclaimed) + len(claimed) + old_mail} open, {len(resolved)} resolved"  # fmt: skip
    if not (unclaimed or claimed or follow_ups or old_mail):
        said = text(f"Nothing outstanding. {len(came_in)} came in today, {len(resolved)} resolved.")
        whole = lines([head, said]).with_fallback(fallback)
        return HandoverView(day, next_day, whole, quiet=True, pages=(whole,))

    rows: list[Message] = [heading(f"Came in today: {len(came_in)}")]
    for t in came_in:
        at = clock_time(t.received_at, team.tz)
        rows.append(_line("  ", t, f" (in at {at})"))
    rows.append(heading(f"Resolved today: {len(resolved)}"))
    rows += [_line("  ", t, outcome(t)) for t in resolved]
    rows += _watched(team, came_in, notes)
    if unclaimed:
        rows.append(heading(f"Open and unclaimed ({len(unclaimed)}):"))
        rows += [_line("  ", t) for t in unclaimed]
    if old_mail:
        rows.append(heading(f"Open from before the bot started, without cards: {old_mail:,}"))
        rows.append(text("  See them with /duty list."))
    if claimed:
        rows.append(heading(f"Claimed, not yet resolved ({len(claimed)}):"))
        by_worker: dict[str, list[Task]] = defaultdict(list)
        for t in claimed:
            by_worker[t.claimed_by or ""].append(t)
        for worker, tasks in by_worker.items():
            rows.append(say("  ", user(worker), ":"))
            rows += [_line("    ", t, _last_note(notes, t)) for t in tasks]
    if follow_ups:
        rows.append(heading(f"Follow-ups due {next_day:%a %d %b}:"))
        for fu in follow_ups:
            task = s.get(Task, fu.task_id)
            num = task_link(task.number) if task else text("#?")
            at = clock_time(fu.due_at, team.tz)
            note = f": {fu.note}" if fu.note else ""
            rows.append(say("  ", num, f" at {at} (", user(fu.owner), f"){note}"))
    if alerts:
        rows.append(heading(f"Alerts sent today: {len(alerts)}"))
        for ev in alerts:
            task = s.get(Task, ev.task_id) if ev.task_id else None
            num = task_link(task.number) if task else text("#?")
            people = Message()
            for i, person in enumerate(ev.data.get("people", [])):
                people = people + (text(", ") if i else Message()) + user(person)
            rows.append(say("  ", num, f" at {local_time(ev.at, team.tz)} to ", people))
    whole = lines([head, *rows]).with_fallback(fallback)
    return HandoverView(day, next_day, whole, quiet=False, pages=_pages(head, rows, day, fallback))


def _line(indent: str, task: Task, after: Message | str = "") -> Message:
    """ "  #42 [URGENT] Rent arrears", the number linking to the task's card."""
    subject = task.subject if len(task.subject) <= SUBJECT_CHARS else (
        task.subject[: SUBJECT_CHARS - 1] + "…"
    )  # fmt: skip
    return say(indent, task_link(task.number), f" {_flags(task)}{subject}", after)


def outcome(task: Task) -> Message:
    """How a resolved task ended: who, and what they said was done."""
    note = f": {task.resolve_note}" if task.resolve_note else ""
    return say(", resolved by ", user(task.resolved_by or ""), note)


def _last_note(notes: dict[int, Any], task: Task) -> str:
    last = notes.get(task.id)
    return f" (last note: {last.note})" if last else ""


def _watched(team: TeamConfig, came_in: list[Task], notes: dict[int, Any]) -> list[Message]:
    """The day's requests in the categories the duty manager oversees (seeds/000: "oversight
    of any financial, accommodation requests made that day"), with each one's state."""
    watched = [c.name for c in team.categories if c.oversight]
    found = [t for t in came_in if set(t.categories or []) & set(watched)]
    if not watched or not found:
        return []
    names = watched[0].capitalize() if len(watched) == 1 else (
        ", ".join(watched[:-1]).capitalize() + " and " + watched[-1]
    )  # fmt: skip
    rows = [heading(f"{names} requests today ({len(found)}):")]
    for t in found:
        if t.state == "resolved":
            rows.append(_line("  ", t, outcome(t)))
        elif t.state == "claimed":
            held = say(", with ", user(t.claimed_by or ""), _last_note(notes, t))
            rows.append(_line("  ", t, held))
        else:
            rows.append(_line("  ", t, ", open and unclaimed"))
    return rows


def _pages(head: Message, rows: list[Message], day: date, fallback: str) -> tuple[Message, ...]:
    """The handover as messages of at most PAGE_ROWS lines, each saying which part it is."""
    groups = [rows[i : i + PAGE_ROWS] for i in range(0, len(rows), PAGE_ROWS)] or [[]]
    if len(groups) == 1:
        return (lines([head, *groups[0]]).with_fallback(fallback),)
    pages = []
    for i, group in enumerate(groups, start=1):
        top = head if i == 1 else text(f"Duty handover for {day:%a %d %b} (continued)")
        part = text(f" (part {i} of {len(groups)})")
        pages.append(lines([top + part, *group]).with_fallback(f"{fallback} (part {i})"))
    return tuple(pages)
