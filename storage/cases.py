"""Queries and conditional updates for the unallocated-case register and its events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from storage.models import Case, Event

OPEN = "open"


def case_by_ref(s: Session, team: str, ref: str) -> Case | None:
    return s.scalar(select(Case).where(Case.team == team, Case.ref == ref))


def add_case(s: Session, case: Case) -> Case:
    """Insert a new case; a racing insert of the same reference raises IntegrityError."""
    s.add(case)
    s.flush()
    return case


def change_case(
    s: Session, case_id: int, conditions: Sequence[ColumnElement[bool]], values: dict[str, Any]
) -> bool:
    """A conditional update: True only if the case still matched ``conditions``.

    Two managers allocating the same case at once both run this; exactly one matches.
    """
    stmt = (
        update(Case)
        .where(Case.id == case_id, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def open_cases(s: Session, team: str) -> list[Case]:
    """Every case still waiting for a worker, oldest first."""
    q = select(Case).where(Case.team == team, Case.state == OPEN)
    return list(s.scalars(q.order_by(Case.unallocated_since, Case.ref)))


def has_cases(s: Session, team: str) -> bool:
    """True once the team has put any case on the register."""
    return s.scalar(select(Case.id).where(Case.team == team).limit(1)) is not None


def events_of_case(s: Session, case_id: int, limit: int = 100) -> list[Event]:
    """The newest ``limit`` events of a case, oldest first."""
    newest = Event.at.desc(), Event.id.desc()
    q = select(Event).where(Event.case_id == case_id).order_by(*newest).limit(limit)
    return list(reversed(s.scalars(q).all()))
