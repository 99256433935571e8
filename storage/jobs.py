"""Job runs: one row per scheduled run (a day's handover, a weekly report), keyed so a
second run, or a second process, does the work once; and the handover emails they queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import JobRun


def job_run(s: Session, team: str, job: str, run_key: str) -> JobRun | None:
    return s.scalar(
        select(JobRun).where(JobRun.team == team, JobRun.job == job, JobRun.run_key == run_key)
    )


def first_run(s: Session, team: str, job: str) -> datetime | None:
    """When ``job`` first ran for the team (None: never)."""
    return s.scalar(select(func.min(JobRun.ran_at)).where(JobRun.team == team, JobRun.job == job))


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
