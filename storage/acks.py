"""Acknowledgements of emails: who sent one for a task and when (on the task, once), and how
far the sending got (its events: started, then acknowledged, failed or unsure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from storage.models import Event, Task
from storage.tasks import transition

STARTED = "acknowledgement_started"
SENT = "acknowledged"
FAILED = "acknowledgement_failed"
UNSURE = "acknowledgement_unsure"
KINDS = (STARTED, SENT, FAILED, UNSURE)


def claim(s: Session, task_id: int, actor: str, at: datetime) -> bool:
    """Mark the task acknowledged by ``actor``, if nobody has: two people pressing at once
    both run this, and the database lets exactly one match."""
    return transition(
        s,
        task_id,
        [Task.acked_at.is_(None), Task.channel == "email"],
        {"acked_by": actor, "acked_at": at},
    )


def release(s: Session, task_id: int, actor: str) -> bool:
    """Undo ``actor``'s claim (the mailbox surely didn't send), so it can be tried again."""
    return transition(
        s,
        task_id,
        [Task.acked_by == actor, Task.acked_at.is_not(None)],
        {"acked_by": None, "acked_at": None},
    )


def state(s: Session, task_id: int) -> str | None:
    """The latest of the task's acknowledgement events, by kind."""
    q = select(Event.kind).where(Event.task_id == task_id, Event.kind.in_(KINDS))
    return s.scalar(q.order_by(Event.id.desc()).limit(1))


def stuck(s: Session, team: str, started_before: datetime) -> list[Task]:
    """Tasks whose acknowledgement started before then and never finished: the bot stopped
    between the claim and the mailbox's answer."""
    return list(s.scalars(stuck_query([team], started_before).order_by(Task.number)))


def stuck_query(teams: Sequence[str], started_before: datetime) -> Select[tuple[Task]]:
    """The stuck acknowledgements' tasks of ``teams`` (storage.due counts them for many)."""
    # From the teams' "started" events (an index seek: few, and none for a team that never
    # acknowledges) to those with no later acknowledgement event on their task; not from
    # every task the team ever had.
    later = aliased(Event)
    return (
        select(Task)
        .join(Event, Event.task_id == Task.id)
        .where(Event.team.in_(teams), Event.kind == STARTED, Task.team == Event.team)
        .where(
            ~select(later.id)
            .where(later.task_id == Event.task_id, later.kind.in_(KINDS), later.id > Event.id)
            .exists()
        )
        .where(Task.acked_at < started_before)
    )
