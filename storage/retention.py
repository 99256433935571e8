"""Queries for the retention purge and the audit export.

A task is due for purging when its email came in before the cutoff (``Task.received_at``)
*and* the bot took it in before the cutoff (its "received" event): a backlog of old mail
picked up today keeps its content for the full retention period. Every update here is
conditional on the content not being purged yet, so a purge run twice, or by two processes
at once, does the work once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Case, Email, Event, Outbox, Task
from storage.tasks import is_copy

MAILBOX_ACTOR = "mailbox"  # events written by intake; their notes may carry email content


def _taken_in_before(cutoff: datetime) -> ColumnElement[bool]:
    later = select(Event.id).where(
        Event.task_id == Task.id, Event.kind == "received", Event.at >= cutoff
    )
    return ~exists(later)


def _task_due(team: str, cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        Task.team == team,
        Task.content_purged_at.is_(None),
        Task.received_at < cutoff,
        _taken_in_before(cutoff),
    )


def tasks_due(s: Session, team: str, cutoff: datetime, limit: int | None = None) -> list[Task]:
    q = select(Task).where(_task_due(team, cutoff)).order_by(Task.id)
    return list(s.scalars(q.limit(limit) if limit else q))


def _email_due(team: str, cutoff: datetime, *, with_due_tasks: bool) -> ColumnElement[bool]:
    """An email whose content goes: old enough itself, and its task purged (or due now)."""
    task_gone = select(Task.id).where(Task.team == team, Task.content_purged_at.is_not(None))
    tasks = or_(
        Email.task_id.in_(task_gone),
        Email.task_id.in_(select(Task.id).where(_task_due(team, cutoff))),
    )
    return and_(
        Email.team == team,
        Email.content_purged_at.is_(None),
        Email.received_at < cutoff,
        tasks if with_due_tasks else Email.task_id.in_(task_gone),
    )


def count_emails_due(s: Session, team: str, cutoff: datetime) -> int:
    """Emails due, not counting the extra copies of them (see storage.tasks.copy_key)."""
    due = _email_due(team, cutoff, with_due_tasks=True)
    return int(s.scalar(select(func.count(Email.id)).where(due, ~is_copy())) or 0)


def purge_task(s: Session, task_id: int, at: datetime, placeholder: dict[str, Any]) -> bool:
    """Clear one task's email content. False if it was already done (by us or another)."""
    stmt = (
        update(Task)
        .where(Task.id == task_id, Task.content_purged_at.is_(None))
        .values(**placeholder, content_purged_at=at, card_version=Task.card_version + 1)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def purge_emails(s: Session, team: str, cutoff: datetime, at: datetime) -> int:
    """Clear the stored details of every old email whose task has been purged, and mark its
    copies purged too (so their Done copies go). Returns how many emails, copies not counted."""
    due = _email_due(team, cutoff, with_due_tasks=False)

    def clear(which: ColumnElement[bool]) -> int:
        stmt = (
            update(Email)
            .where(due, which)
            .values(subject="", from_name="", from_addr="", attachments=[], content_purged_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(s.execute(stmt).rowcount)  # type: ignore[attr-defined]

    clear(is_copy())
    return clear(~is_copy())


def mailbox_events(s: Session, task_ids: Sequence[int]) -> list[Event]:
    """Intake's events on these tasks: the only ones whose note or data may echo an email."""
    if not task_ids:
        return []
    q = select(Event).where(Event.task_id.in_(list(task_ids)), Event.actor == MAILBOX_ACTOR)
    return list(s.scalars(q))


def _copies(team: str) -> ColumnElement[bool]:
    """Emails purged whose mailbox copy has moved to Done and is still on record."""
    return and_(
        Email.team == team,
        Email.content_purged_at.is_not(None),
        Email.move_state == "moved",
        Email.item_id.is_not(None),
    )


def done_copies(s: Session, team: str, limit: int = 500) -> list[tuple[int, str]]:
    q = select(Email.id, Email.item_id).where(_copies(team)).order_by(Email.id).limit(limit)
    return [(i, item) for i, item in s.execute(q).all()]


def done_copies_due(s: Session, team: str, cutoff: datetime) -> list[str]:
    """For a dry run: Done copies of emails purged already or due now."""
    q = select(Email.item_id).where(
        Email.team == team,
        Email.move_state == "moved",
        Email.item_id.is_not(None),
        or_(Email.content_purged_at.is_not(None), _email_due(team, cutoff, with_due_tasks=True)),
    )
    return [item for item in s.scalars(q)]


def purged_or_due(s: Session, team: str, message_id: str, cutoff: datetime) -> bool:
    """Whether the email with this Message-ID is on record with its content purged, or due to
    be at ``cutoff`` (a dry run asks before anything is purged)."""
    q = select(Email.id).where(
        Email.team == team,
        Email.message_id == message_id,
        or_(Email.content_purged_at.is_not(None), _email_due(team, cutoff, with_due_tasks=True)),
    )
    return s.scalar(q.limit(1)) is not None


def forget_item(s: Session, email_id: int) -> None:
    """The mailbox copy is deleted: drop its address, so it is not looked for again."""
    s.execute(
        update(Email)
        .where(Email.id == email_id)
        .values(item_id=None)
        .execution_options(synchronize_session=False)
    )


def posted_messages(s: Session, team: str) -> list[Outbox]:
    """Chat messages sent and not yet scrubbed (kept for at most the retention period)."""
    return list(
        s.scalars(
            select(Outbox).where(
                Outbox.team == team,
                Outbox.sent_at.is_not(None),
                Outbox.scrubbed_at.is_(None),
                Outbox.kind.in_(("thread", "dm", "channel")),
            )
        )
    )


def _sent_before(team: str, cutoff: datetime) -> ColumnElement[bool]:
    return and_(Outbox.team == team, Outbox.sent_at.is_not(None), Outbox.created_at < cutoff)


def count_sent_messages(s: Session, team: str, cutoff: datetime) -> int:
    return int(s.scalar(select(func.count(Outbox.id)).where(_sent_before(team, cutoff))) or 0)


def delete_sent_messages(s: Session, team: str, cutoff: datetime) -> int:
    """Chat messages sent long ago (alerts and nudges quote subjects): Slack has them now."""
    stmt = delete(Outbox).where(_sent_before(team, cutoff))
    return int(s.execute(stmt.execution_options(synchronize_session=False)).rowcount)  # type: ignore[attr-defined]


# ---- the audit trail -----------------------------------------------------------------------


def audit_events(
    s: Session, team: str, start: datetime, end: datetime
) -> Iterator[tuple[Event, int | None, str | None]]:
    """Every event of the team in [start, end), oldest first, with its task's number or its
    case's reference."""
    q = (
        select(Event, Task.number, Case.ref)
        .outerjoin(Task, Task.id == Event.task_id)
        .outerjoin(Case, Case.id == Event.case_id)
        .where(Event.team == team, Event.at >= start, Event.at < end)
        .order_by(Event.at, Event.id)
        .execution_options(yield_per=1000)
    )
    for row in s.execute(q):
        yield row[0], row[1], row[2]
