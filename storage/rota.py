"""The rota as set from chat: by date, and as a weekly pattern."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import RotaDay, RotaWeekly


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
