"""What a task card shows, independent of the chat that draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.kernel.message import Action, Message, say, text, user
from bot.mail.addresses import address_of, no_reply_reason
from bot.people.directory import Colleague
from bot.people.words import leader_words
from storage import tasks as q
from storage.models import Task

WORKER_SET = "worker_set"  # the event that records a task's allocated worker


@dataclass(frozen=True)
class CardView:
    task_id: int
    number: int
    subject: str
    origin: Message  # "From Casey <c@x>", or "Phone call, logged by @sam"
    received: str  # local time, e.g. "Mon 23 Nov 10:42"
    flags: tuple[str, ...]
    categories: tuple[str, ...]  # "financial", "accommodation"
    hints: tuple[str, ...]  # "Possible safeguarding (overdose, police)", until someone decides
    state: str
    state_line: Message
    worker: Message  # "Allocated worker: @kim (team leader @rita)", or nothing
    preview: str
    attachments: str
    web_link: str | None
    actions: tuple[Action, ...]  # the buttons, in order
    fallback: str  # notification text when posted: generic, never personal data
    fallback_changed: str  # ... when redrawn


def local_time(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%a %d %b %H:%M")


def clock_time(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%H:%M")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n // 1024} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def attachments_line(items: list[list[object]] | list[tuple[str, int]]) -> str:
    if not items:
        return ""
    if not any(name for name, _ in items):  # the "minimal" card: how many, no names
        return f"{len(items)} attachment" + ("s" if len(items) != 1 else "")
    shown = ", ".join(f"{name} ({_size(int(size))})" for name, size in list(items)[:5])  # type: ignore[call-overload,misc]
    more = f" and {len(items) - 5} more" if len(items) > 5 else ""
    word = "attachment" if len(items) == 1 else "attachments"
    return f"{len(items)} {word}: {shown}{more}"


def state_line(task: Task, tz: ZoneInfo) -> Message:
    return _state(task, tz) + _acked(task, tz)


def _state(task: Task, tz: ZoneInfo) -> Message:
    if task.state == "claimed" and task.claimed_by and task.claimed_at:
        return say("Claimed by ", user(task.claimed_by), f" at {clock_time(task.claimed_at, tz)}")
    if task.state == "resolved" and task.resolved_by:
        note = f": {task.resolve_note}" if task.resolve_note else ""
        return say("Resolved by ", user(task.resolved_by), note)
    return text("Open: nobody has claimed this yet")


def _acked(task: Task, tz: ZoneInfo) -> Message:
    """On the same line: Slack's bold, around the whole line, stops at a line break."""
    if not (task.acked_by and task.acked_at):
        return Message()
    return say(" · Acknowledged by ", user(task.acked_by), f" at {clock_time(task.acked_at, tz)}")


def acknowledgeable(task: Task) -> bool:
    """An email not yet acknowledged, from someone who takes replies (bot.contacts.ack)."""
    return (
        task.channel == "email"
        and task.acked_at is None
        and no_reply_reason(address_of(task.sender or "")) is None
    )


def card_actions(task: Task) -> tuple[Action, ...]:
    """Claim (the one to press first) while open; Resolve and Alert until resolved, then
    Reopen; Acknowledge until an email is acknowledged, while the task is not resolved; and a
    link to the email in Outlook when there is a safe one."""
    number = str(task.number)
    if task.state == "resolved":
        found = [Action("Reopen", "reopen", number)]
    else:
        found = [Action("Claim", "claim", number, primary=True)] if task.state == "open" else []
        found += [Action("Resolve", "resolve", number), Action("Alert", "alert", number)]
        if acknowledgeable(task):
            found.append(Action("Acknowledge", "ack", number))
        for flag in task.hints or {}:
            found += [Action(f"Flag {flag}", "flag", f"{number} {flag}"),
                      Action(f"Not {flag}", "dismiss", f"{number} {flag}")]  # fmt: skip
    if task.web_link and task.web_link.startswith("https://"):
        found.append(Action("Open in Outlook", url=task.web_link))
    return tuple(found)


# How a contact that didn't come by email came: as a card says it, and as a reply says it.
CHANNELS: Final = {
    "phone": ("Phone call", "phone call"),
    "text": ("Text message", "text message"),
    "visit": ("Visit", "visit"),
    "other": ("Contact", "contact"),
}


def origin(task: Task) -> Message:
    if task.channel in CHANNELS:
        return say(f"{CHANNELS[task.channel][0]}, logged by ", user(task.logged_by or ""))
    return text(f"From {task.sender or '(unknown sender)'}")


def _notice(task: Task, said: str) -> str:
    """What a lock screen may say of a task: what it is and how urgent, never its content."""
    if task.safeguarding:
        urgency = "Safeguarding"
    elif "safeguarding" in (task.hints or {}):
        urgency = "Possible safeguarding"
    elif task.urgent:
        urgency = "Urgent"
    else:
        return said
    return f"{urgency}: {said[0].lower()}{said[1:]}"


def leader_on_record(s: Session, task_id: int) -> Colleague | None:
    """The allocated worker's team leader as recorded when the worker was set (None: the
    directory didn't know)."""
    found = q.events_of_kinds(s, task_id, [WORKER_SET])
    return _leader(found[-1].data if found else {})


def leaders_on_record(s: Session, task_ids: Sequence[int]) -> dict[int, Colleague | None]:
    """``leader_on_record`` for each of ``task_ids``, in one query (a delivery round's cards)."""
    found = q.last_events_of_kind(s, task_ids, WORKER_SET)
    return {tid: _leader(found[tid].data if tid in found else {}) for tid in task_ids}


def _leader(data: dict[str, Any]) -> Colleague | None:
    if not (data.get("team_leader") or data.get("team_leader_name")):
        return None
    return Colleague(None, data.get("team_leader_name"), data.get("team_leader"))


def worker_line(task: Task, leader: Colleague | None) -> Message:
    if not task.worker:
        return Message()
    return say("Allocated worker: ", user(task.worker), " (", leader_words(leader), ")")


def card_view(task: Task, tz: ZoneInfo, leader: Colleague | None = None) -> CardView:
    """``leader``: the allocated worker's team leader, if the task has a worker."""
    came = f" ({CHANNELS[task.channel][1]})" if task.channel in CHANNELS else ""
    flags = tuple(
        f for f, on in (("safeguarding", task.safeguarding), ("urgent", task.urgent)) if on
    )
    return CardView(
        task_id=task.id,
        number=task.number,
        subject=task.subject or "(no subject)",
        origin=origin(task),
        received=local_time(task.received_at, tz),
        flags=flags,
        categories=tuple(task.categories or ()),
        hints=tuple(
            f"Possible {flag} ({', '.join(words)})" for flag, words in (task.hints or {}).items()
        ),
        state=task.state,
        state_line=state_line(task, tz),
        worker=worker_line(task, leader),
        preview=task.preview,
        attachments=attachments_line(task.attachments),
        web_link=task.web_link,
        actions=card_actions(task),
        fallback=_notice(task, f"New duty task #{task.number}{came}"),
        fallback_changed=_notice(task, f"Duty task #{task.number}{came}"),
    )
