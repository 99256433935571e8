"""Leases: which process acts (runs the clocks, delivers) for now."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import SchedulerLease


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


def renew_leases(
    s: Session, names: list[str], holder: str, now: datetime, ttl: timedelta
) -> set[str]:
    """Renew every lease in ``names`` still ours, in one statement; the names we hold now."""
    if not names:
        return set()
    s.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name.in_(names), SchedulerLease.holder == holder)
        .values(expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    ours = select(SchedulerLease.name).where(
        SchedulerLease.name.in_(names), SchedulerLease.holder == holder
    )
    return set(s.scalars(ours))


def leases_named(s: Session, prefix: str) -> list[tuple[str, str, datetime]]:
    """Every lease row whose name starts with ``prefix``: (name, holder, expires_at)."""
    rows = s.execute(
        select(SchedulerLease.name, SchedulerLease.holder, SchedulerLease.expires_at).where(
            SchedulerLease.name.startswith(prefix, autoescape=True)
        )
    )
    return [(name, holder, expires) for name, holder, expires in rows]


def drop_expired(s: Session, prefix: str, now: datetime) -> None:
    """Forget run-out rows under ``prefix`` (the presence of processes long gone)."""
    s.execute(
        delete(SchedulerLease)
        .where(SchedulerLease.name.startswith(prefix, autoescape=True))
        .where(SchedulerLease.expires_at <= now)
        .execution_options(synchronize_session=False)
    )


def count_held(s: Session, names: list[str], now: datetime) -> int:
    """How many of ``names`` some process holds (a row not run out): one indexed look."""
    if not names:
        return 0
    return int(
        s.scalar(
            select(func.count())
            .select_from(SchedulerLease)
            .where(SchedulerLease.name.in_(names), SchedulerLease.expires_at > now)
        )
        or 0
    )
