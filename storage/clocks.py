"""Queries for the duty day's clocks: job runs, nudges, the scheduler lease and the rota.

Idempotency lives here: a job run or a first nudge is an INSERT against a unique key, and a
repeat nudge is a conditional UPDATE on the time it was last sent. A second process doing
the same work either loses the UPDATE or gets an IntegrityError, and its transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import (
    Event,
    FollowUp,
    JobRun,
    Nudge,
    RotaDay,
    RotaWeekly,
    SchedulerLease,
    Task,
)

# Events after which a task is open and waiting for someone to claim it.
OPENING_EVENTS = ("received", "unclaimed", "reopened", "reopened_by_email")

# ---- job runs ----------------------------------------------------------------------------


def job_run(s: Session, team: str, job: str, run_key: str) -> JobRun | None:
    return s.scalar(
        select(JobRun).where(JobRun.team == team, JobRun.job == job, JobRun.run_key == run_key)
    )


def has_job_runs(s: Session, team: str, job: str) -> bool:
    q = select(JobRun.id).where(JobRun.team == team, JobRun.job == job).limit(1)
    return s.scalar(q) is not None


def start_job_run(
    s: Session,
    *,
    team: str,
    job: str,
    run_key: str,
    at: datetime,
    outcome: str = "done",
    actor: str = "scheduler",
) -> JobRun | None:
    """Claim this run, or None if it has already happened.

    The row is flushed at once, so a second process racing us waits on the unique key and
    then fails with IntegrityError: let it propagate so its whole transaction rolls back.
    """
    if job_run(s, team, job, run_key) is not None:
        return None
    row = JobRun(team=team, job=job, run_key=run_key, ran_at=at, outcome=outcome, actor=actor)
    s.add(row)
    s.flush()
    return row


def emails_waiting(s: Session, team: str, limit: int = 10) -> list[JobRun]:
    q = select(JobRun).where(JobRun.team == team, JobRun.email_state == "pending")
    return list(s.scalars(q.order_by(JobRun.id).limit(limit)))


def email_sent(s: Session, run_id: int, at: datetime) -> None:
    """Mark the handover email sent and drop its copy of the content (it lives in the mailbox)."""
    s.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.email_state == "pending")
        .values(email_state="sent", email_sent_at=at, email={})
        .execution_options(synchronize_session=False)
    )


def email_failed(s: Session, run_id: int) -> None:
    s.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(email_attempts=JobRun.email_attempts + 1)
        .execution_options(synchronize_session=False)
    )


# ---- nudges ------------------------------------------------------------------------------


def last_nudge(s: Session, team: str, kind: str, subject: str) -> datetime | None:
    q = select(Nudge.last_sent_at).where(
        Nudge.team == team, Nudge.kind == kind, Nudge.subject == subject
    )
    return s.scalar(q)


def last_nudges(s: Session, team: str, kind: str) -> dict[str, datetime]:
    q = select(Nudge.subject, Nudge.last_sent_at).where(Nudge.team == team, Nudge.kind == kind)
    return {subject: at for subject, at in s.execute(q).all()}


def last_nudges_about(
    s: Session, team: str, kinds: Sequence[str], prefixes: Sequence[str]
) -> dict[str, dict[str, datetime]]:
    """Kind -> subject -> last sent, for the ``kinds`` whose subject starts with one of
    ``prefixes`` (so a case's reminders read only that case's history, not the team's)."""
    found: dict[str, dict[str, datetime]] = {kind: {} for kind in kinds}
    if not prefixes:
        return found
    q = select(Nudge.kind, Nudge.subject, Nudge.last_sent_at).where(
        Nudge.team == team,
        Nudge.kind.in_(kinds),
        or_(*(Nudge.subject.startswith(p, autoescape=True) for p in prefixes)),
    )
    for kind, subject, at in s.execute(q):
        found[kind][subject] = at
    return found


def record_nudge(
    s: Session, *, team: str, kind: str, subject: str, at: datetime, previous: datetime | None
) -> bool:
    """Say a nudge goes out now. False if someone else recorded it since we looked.

    ``previous`` is the last_sent_at we read (None: never sent). A racing first insert
    raises IntegrityError, which rolls back the caller's transaction.
    """
    if previous is None:
        s.add(Nudge(team=team, kind=kind, subject=subject, last_sent_at=at, count=1))
        s.flush()
        return True
    stmt = (
        update(Nudge)
        .where(
            Nudge.team == team,
            Nudge.kind == kind,
            Nudge.subject == subject,
            Nudge.last_sent_at == previous,
        )
        .values(last_sent_at=at, count=Nudge.count + 1)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OpenTask:
    task: Task
    open_since: datetime  # when it last became open (arrived, released, reopened)


def open_tasks_since(s: Session, team: str) -> list[OpenTask]:
    """Open tasks with the time each last became open, oldest first."""
    # Only the open tasks' events: grouping every event of the team's history costs
    # seconds a pass once the history is long.
    open_ids = select(Task.id).where(Task.team == team, Task.state == "open")
    opened = (
        select(Event.task_id, func.max(Event.at).label("since"))
        .where(Event.task_id.in_(open_ids), Event.kind.in_(OPENING_EVENTS))
        .group_by(Event.task_id)
        .subquery()
    )
    q = (
        select(Task, opened.c.since)
        .outerjoin(opened, opened.c.task_id == Task.id)
        .where(Task.team == team, Task.state == "open")
        .order_by(Task.number)
    )
    return [OpenTask(task, since or task.received_at) for task, since in s.execute(q).all()]


def claimed_tasks(s: Session, team: str) -> list[Task]:
    q = select(Task).where(Task.team == team, Task.state == "claimed").order_by(Task.number)
    return list(s.scalars(q))


def follow_ups_due(s: Session, team: str, now: datetime, limit: int = 100) -> list[FollowUp]:
    """Follow-ups that have come due and nobody has been reminded of yet."""
    q = select(FollowUp).where(
        FollowUp.team == team,
        FollowUp.done_at.is_(None),
        FollowUp.notified_at.is_(None),
        FollowUp.due_at <= now,
    )
    return list(s.scalars(q.order_by(FollowUp.due_at, FollowUp.id).limit(limit)))


def mark_follow_up_notified(s: Session, follow_up_id: int, at: datetime) -> bool:
    stmt = (
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.notified_at.is_(None))
        .values(notified_at=at)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


# ---- the scheduler lease -----------------------------------------------------------------


def take_lease(
    s: Session,
    name: str,
    holder: str,
    now: datetime,
    ttl: timedelta,
    dead_holder: str | None = None,
) -> bool:
    """Take or renew the lease: True if ``holder`` now holds it until now + ttl.

    A conditional UPDATE (held by us, expired, or held by ``dead_holder``, a process known to
    have died) works the same on SQLite and PostgreSQL. The first taker ever INSERTs; a racing
    insert raises IntegrityError (the caller's transaction rolls back and it does not hold it).
    """
    takeable = (SchedulerLease.holder == holder) | (SchedulerLease.expires_at <= now)
    if dead_holder is not None:
        takeable = takeable | (SchedulerLease.holder == dead_holder)
    stmt = (
        update(SchedulerLease)
        .where(SchedulerLease.name == name, takeable)
        .values(
            holder=holder,
            expires_at=now + ttl,
            acquired_at=case(
                (SchedulerLease.holder == holder, SchedulerLease.acquired_at), else_=now
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if s.execute(stmt).rowcount == 1:  # type: ignore[attr-defined]
        return True
    if s.get(SchedulerLease, name) is not None:
        return False
    s.add(SchedulerLease(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
    s.flush()
    return True


def lease_holder(s: Session, name: str, now: datetime) -> str | None:
    row = s.get(SchedulerLease, name)
    return row.holder if row is not None and row.expires_at > now else None


def lease_row_holder(s: Session, name: str) -> str | None:
    """Who the lease row names, expired or not."""
    return s.scalar(select(SchedulerLease.holder).where(SchedulerLease.name == name))


def drop_lease(s: Session, name: str, holder: str, now: datetime) -> None:
    """Give the lease up (clean shutdown), so another process can take over at once.

    The row goes, rather than expiring ``now``: a process whose clock reads earlier could
    otherwise still find it held.
    """
    s.execute(
        delete(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .execution_options(synchronize_session=False)
    )


# ---- the rota ----------------------------------------------------------------------------


def rota_of_day(s: Session, team: str, day: date) -> dict[str, str]:
    q = select(RotaDay.role, RotaDay.user_id).where(RotaDay.team == team, RotaDay.day == day)
    return {role: uid for role, uid in s.execute(q).all()}


def rota_of_weekday(s: Session, team: str, weekday: int) -> dict[str, str]:
    q = select(RotaWeekly.role, RotaWeekly.user_id).where(
        RotaWeekly.team == team, RotaWeekly.weekday == weekday
    )
    return {role: uid for role, uid in s.execute(q).all()}


def _upsert(
    s: Session, model: Any, keys: dict[str, Any], user_id: str, by: str, at: datetime
) -> None:
    row = s.scalar(select(model).filter_by(**keys))
    if row is None:
        s.add(model(**keys, user_id=user_id, set_by=by, set_at=at))
    else:
        row.user_id, row.set_by, row.set_at = user_id, by, at


def set_rota_day(
    s: Session, team: str, day: date, roles: Iterable[tuple[str, str]], by: str, at: datetime
) -> None:
    for role, user_id in roles:
        _upsert(s, RotaDay, {"team": team, "day": day, "role": role}, user_id, by, at)


def set_rota_weekday(
    s: Session, team: str, weekday: int, roles: Iterable[tuple[str, str]], by: str, at: datetime
) -> None:
    for role, user_id in roles:
        _upsert(s, RotaWeekly, {"team": team, "weekday": weekday, "role": role}, user_id, by, at)
