"""Nudges: when each reminder was last sent. A first nudge is an INSERT against a unique key,
a repeat a conditional UPDATE on the time it was last sent, so a second process doing the
same work loses the UPDATE or gets an IntegrityError, and its transaction rolls back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage.models import Nudge


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
