"""Queries for the bot's health: the mailbox checkpoints, cards waiting, task counts, nudges
sent and the scheduler lease. A handful of grouped reads, cheap enough for every scrape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import MailboxState, Nudge, SchedulerLease, Task, Team

WAITING_CARD_STATES = ("pending", "posting")
TASK_STATES = ("open", "claimed", "resolved")


@dataclass
class TeamFacts:
    team: str
    synced_at: datetime | None = None  # the last mailbox check, whether it worked or not
    last_error: str | None = None  # what went wrong then; None when it worked
    pending_cards: int = 0  # tasks whose card is not posted yet
    oldest_pending: datetime | None = None  # when the longest-waiting of them came in
    tasks: dict[str, int] = field(default_factory=dict)  # state -> count
    nudges: dict[str, int] = field(default_factory=dict)  # kind -> how many were ever sent


@dataclass(frozen=True)
class LeaseFacts:
    holder: str
    acquired_at: datetime
    expires_at: datetime


def ping(s: Session) -> None:
    """Raises if the database can't answer."""
    s.execute(text("select 1"))


def sqlite_file_missing(db: Database) -> str | None:
    """The SQLite file's path if it is gone from disk. An open connection keeps working on a
    deleted file, so `select 1` alone would say all is well while every write is lost."""
    url = make_url(db.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)  # type: ignore[arg-type]
    return None if path.exists() else str(path)


def team_facts(s: Session, teams: Sequence[str]) -> dict[str, TeamFacts]:
    """One TeamFacts per team, in the order given. Each query reads an index range, not the
    whole history, so a scrape costs the same with a million tasks as with a thousand."""
    facts = {name: TeamFacts(name) for name in teams}
    # Only the columns it shows: a database a migration behind still says it needs upgrading.
    synced = select(MailboxState.team, MailboxState.synced_at, MailboxState.last_error)
    for team, synced_at, last_error in s.execute(synced.where(MailboxState.team.in_(teams))):
        facts[team].synced_at = synced_at
        facts[team].last_error = last_error
    # No team filter: with one, SQLite walks the team's whole (team, state) index instead of
    # the few rows in ix_tasks_card.
    waiting = (
        select(Task.team, func.count(), func.min(Task.received_at))
        .where(Task.card_state.in_(WAITING_CARD_STATES))
        .group_by(Task.team)
    )
    for team, count, oldest in s.execute(waiting):
        if team in facts:
            facts[team].pending_cards = int(count)
            # min() may come back without the column type's UTC handling
            facts[team].oldest_pending = _utc(oldest)
    live = (
        select(Task.team, Task.state, func.count())
        .where(Task.team.in_(teams), Task.state.in_(("open", "claimed")))
        .group_by(Task.team, Task.state)
    )
    for team, state, count in s.execute(live):
        facts[team].tasks[state] = int(count)
    # Every task ever numbered is still a row (the purge keeps them), and all that are not
    # open or claimed are resolved: so no count over the whole history is needed.
    for name, numbered in s.execute(
        select(Team.name, Team.last_task_number).where(Team.name.in_(teams))
    ):
        held = facts[name].tasks
        held["resolved"] = max(0, int(numbered) - held.get("open", 0) - held.get("claimed", 0))
    nudges = (
        select(Nudge.team, Nudge.kind, func.sum(Nudge.count))
        .where(Nudge.team.in_(teams))
        .group_by(Nudge.team, Nudge.kind)
    )
    for team, kind, total in s.execute(nudges):
        facts[team].nudges[kind] = int(total or 0)
    return facts


def lease(s: Session, name: str) -> LeaseFacts | None:
    """The lease row as it stands (it may have run out)."""
    row = s.get(SchedulerLease, name)
    if row is None:
        return None
    return LeaseFacts(row.holder, row.acquired_at, row.expires_at)


def leases(s: Session, names: list[str]) -> dict[str, LeaseFacts]:
    """The lease rows of ``names`` that exist (they may have run out)."""
    rows = s.scalars(select(SchedulerLease).where(SchedulerLease.name.in_(names)))
    return {r.name: LeaseFacts(r.holder, r.acquired_at, r.expires_at) for r in rows}


def _utc(value: object) -> datetime | None:
    """An aggregate's datetime as aware UTC (SQLite hands back text or a naive value)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
