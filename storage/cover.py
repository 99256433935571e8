"""Phone cover: the spells when whoever had the duty phone handed it on (`/duty out`) until
they took it back (`/duty back`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Cover, Team


def lock_cover(s: Session, team: str) -> None:
    """Hold the team's row until this transaction ends, so two changes of cover for one team
    happen one after the other: the second reads what the first wrote. Called first in the
    transaction (on SQLite, before any read, so the wait starts from a fresh snapshot)."""
    s.execute(
        update(Team)
        .where(Team.name == team)
        .values(last_task_number=Team.last_task_number)
        .execution_options(synchronize_session=False)
    )


def open_spells(s: Session, team: str, since: datetime) -> list[Cover]:
    """Spells started since ``since`` (the start of the day) and not yet ended, oldest first."""
    q = select(Cover).where(Cover.team == team, Cover.ended_at.is_(None), Cover.started_at >= since)
    return list(s.scalars(q.order_by(Cover.id)))


def start_spell(
    s: Session,
    *,
    team: str,
    person: str,
    holder: str,
    at: datetime,
    until: datetime | None,
    note: str,
) -> Cover:
    spell = Cover(team=team, person=person, holder=holder, started_at=at, until=until, note=note)
    s.add(spell)
    s.flush()
    return spell


def end_spell(s: Session, spell_id: int, at: datetime) -> bool:
    """End a spell; False if it had already ended (someone else said they were back)."""
    stmt = (
        update(Cover)
        .where(Cover.id == spell_id, Cover.ended_at.is_(None))
        .values(ended_at=at)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
