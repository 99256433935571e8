"""What could come due, for many teams in one question.

`dutybot run` runs every held team's scheduled pass each tick; each job asks its own question
(one indexed query each), which with 50 teams is hundreds of queries a minute for an idle
bot. This asks, in one statement for all the teams, the few facts that tell a job it has
nothing to look at (no open tasks old enough to chase, no follow-up come due, ...); the job
still asks its own question whenever the facts say it might have work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Select, cast, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from storage.acks import stuck_query
from storage.models import Case, Cover, FollowUp, Task


@dataclass(frozen=True)
class TeamDue:
    """One team's facts; None or False where the team has nothing of that kind."""

    oldest_open: datetime | None = None  # earliest arrival of a task still open
    oldest_claim: datetime | None = None  # earliest last event of a task still claimed
    next_follow_up: datetime | None = None  # earliest due time of a follow-up not yet sent
    back_by: datetime | None = None  # earliest "back by" of someone still out
    has_cases: bool = False  # anything on the case register
    stuck_acks: bool = False  # an acknowledgement started before the cut-off, never finished
    mail_today: tuple[int, int] = (0, 0)  # tasks since the day began, and their versions summed


def due_facts(
    s: Session, teams: Sequence[str], *, day_began: datetime, acks_before: datetime
) -> dict[str, TeamDue]:
    """Each of ``teams``' facts (one statement). ``day_began``: the earliest of the teams'
    midnights; ``acks_before``: when an unfinished acknowledgement counts as stuck."""
    rows: dict[str, dict[str, Any]] = {t: {} for t in teams}
    for team, fact, at, n, total in s.execute(_facts(teams, day_began, acks_before)):
        rows[team][fact] = (at, n, total)
    return {team: _team_due(got) for team, got in rows.items()}


def _team_due(got: dict[str, Any]) -> TeamDue:
    def at(fact: str) -> datetime | None:
        return got[fact][0] if fact in got else None

    mail = got.get("mail", (None, 0, 0))
    return TeamDue(
        oldest_open=at("open"),
        oldest_claim=at("claim"),
        next_follow_up=at("follow_up"),
        back_by=at("back_by"),
        has_cases="cases" in got,
        stuck_acks="acks" in got,
        mail_today=(int(mail[1] or 0), int(mail[2] or 0)),
    )


def _fact(name: str, team: Any, at: Any = None, n: Any = None, total: Any = None) -> Select[Any]:
    """One row per team: (team, the fact's name, a time, a count, a sum)."""
    return select(
        team,
        literal(name),
        at if at is not None else cast(null(), DateTime(timezone=True)),
        n if n is not None else cast(null(), BigInteger),
        total if total is not None else cast(null(), BigInteger),
    )


def _facts(teams: Sequence[str], day_began: datetime, acks_before: datetime) -> Any:
    open_task = _fact("open", Task.team, func.min(Task.received_at)).where(
        Task.team.in_(teams), Task.state == "open"
    )
    claim = _fact("claim", Task.team, func.min(Task.last_event_at)).where(
        Task.team.in_(teams), Task.state == "claimed"
    )
    follow_up = _fact("follow_up", FollowUp.team, func.min(FollowUp.due_at)).where(
        FollowUp.team.in_(teams), FollowUp.done_at.is_(None), FollowUp.notified_at.is_(None)
    )
    back_by = _fact("back_by", Cover.team, func.min(Cover.until)).where(
        Cover.team.in_(teams), Cover.ended_at.is_(None), Cover.until.is_not(None)
    )
    cases = _fact("cases", Case.team, n=func.count()).where(Case.team.in_(teams))
    acks = stuck_query(teams, acks_before).with_only_columns(Task.team).subquery()
    stuck = _fact("acks", acks.c.team, n=func.count())
    mail = _fact("mail", Task.team, n=func.count(), total=func.sum(Task.card_version)).where(
        Task.team.in_(teams), Task.received_at >= day_began
    )
    facts = (open_task, claim, follow_up, back_by, cases, stuck, mail)
    return union_all(*(q.group_by(q.selected_columns[0]) for q in facts))  # a row per team
