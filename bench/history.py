"""Fill a database fast with a team's task history, for the benchmarks that need a big one.

Rows go in with SQLAlchemy Core ``insert`` in batches (not through intake): years of tasks
resolved long ago, each with its "received" and "resolved" events, plus a realistic duty day
on top (a few hundred tasks open or claimed, today's arrivals and resolutions, notes, alerts
and follow-ups due on the next working day). Every card is already posted (a made-up ts), so
nothing is waiting to go to Slack unless a benchmark says otherwise.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text

from bot.ops.retention import placeholder
from storage.db import Database
from storage.models import Email, Event, FollowUp, Outbox, Task, Team

BATCH = 20_000
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # as tests/conftest.py
SUBJECTS = [
    "Rent arrears",
    "Accommodation request",
    "Setting up home allowance",
    "Missed appointment",
    "Safeguarding concern raised by school",
    "Bus pass renewal",
    "Leaving care grant query",
    "Change of address",
    "Pathway plan review",
    "Hospital discharge",
]
NOTES = [
    "Left a voicemail for the allocated worker.",
    "Recorded on Mosaic; waiting for housing to call back.",
    "Spoke to the young person; visit booked for Thursday.",
    "Team leader informed.",
]


def open_db(pg: bool, path: Path) -> tuple[Database, Callable[[], None]]:
    """A migrated database and a function to throw it away (a SQLite file is left).

    PostgreSQL (DUTYBOT_TEST_PG_URL, else the tests' server) gets a schema of its own, dropped
    after.
    """
    if not pg:
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        return db, db.dispose
    url = os.environ.get("DUTYBOT_TEST_PG_URL", PG_URL)
    schema = f"dutybot_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(url, schema=schema)
    db.upgrade()

    def drop() -> None:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return db, drop


@dataclass(frozen=True)
class DutyDay:
    """The live part of the history: what a busy duty day looks like."""

    open: int = 250  # open and unclaimed, received over the last few days
    claimed: int = 150  # claimed, not resolved, each with a note
    came_in_resolved: int = 60  # received today and already resolved
    resolved_today: int = 40  # received earlier, resolved today
    alerts: int = 15
    follow_ups: int = 20

    @property
    def live(self) -> int:
        return self.open + self.claimed + self.came_in_resolved + self.resolved_today

    def within(self, total: int) -> DutyDay:
        """This day shrunk in proportion to fit ``total`` tasks (a small benchmark run)."""
        if total >= self.live:
            return self
        k = total / self.live
        parts = [self.open, self.claimed, self.came_in_resolved, self.resolved_today]
        sizes = [int(p * k) for p in parts]
        sizes[0] += total - sum(sizes)  # what rounding left over stays open
        return DutyDay(*sizes, alerts=int(self.alerts * k), follow_ups=int(self.follow_ups * k))


def _task(
    team: str, number: int, received: datetime, state: str, rng: random.Random, **extra: Any
) -> dict[str, Any]:
    row = {
        "team": team,
        "number": number,
        "state": state,
        "subject": f"{rng.choice(SUBJECTS)} ({number})",
        "sender": "Casey Example <casey@example.org>",
        "preview": "Hello duty team, I am writing about the young person we discussed. " * 3,
        "attachments": [],
        "web_link": None,
        "received_at": received,
        "claimed_by": None,
        "claimed_at": None,
        "resolved_by": None,
        "resolved_at": None,
        "resolve_note": None,
        "urgent": rng.random() < 0.05,
        "safeguarding": rng.random() < 0.03,
        "last_event_at": received,
        "card_state": "posted",
        "card_channel": "C0DUTY",
        "card_ts": f"{1_600_000_000 + number}.000100",
        "card_version": 1,
        "card_shown_version": 1,
        "content_purged_at": None,
    }
    row.update(extra)
    return row


def _batches(rows: Iterator[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def count_tasks(db: Database, team: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Task).where(Task.team == team)))


def ensure_filled(
    db: Database,
    team: str,
    total: int,
    now: datetime,
    *,
    name: str = "the database",
    say_reuse: bool = True,
) -> bool:
    """Fill an empty database with ``total`` tasks (``fill``), or reuse one that holds exactly
    that many (a kept --db file). False, after saying so, when it holds some other number."""
    have = count_tasks(db, team)
    if have == 0:
        fill(db, team, total, now)
    elif have != total:
        print(f"{name} holds {have:,} tasks, not {total:,}; use another --db")
        return False
    elif say_reuse:
        print(f"reusing {name} ({have:,} tasks)")
    return True


@dataclass(frozen=True)
class Backlog:
    """What the database holds of the mail taken in and what is still to go to the chat."""

    emails: int  # emails taken in
    tasks: int
    cards_waiting: int  # tasks whose card is not posted yet
    notes_unsent: int  # thread notes (outbox) not sent yet

    def drained(self, emails: int) -> bool:
        """All ``emails`` taken in, and every card and thread note gone out."""
        return self.emails == emails and not self.cards_waiting and not self.notes_unsent


def backlog_left(db: Database) -> Backlog:
    """Count emails, tasks, cards not yet posted and thread notes not yet sent (all teams)."""
    with db.engine.connect() as conn:

        def count(model: Any, *where: Any) -> int:
            return int(conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        return Backlog(
            emails=count(Email),
            tasks=count(Task),
            cards_waiting=count(Task, Task.card_state != "posted"),
            notes_unsent=count(Outbox, Outbox.sent_at.is_(None)),
        )


def fill(
    db: Database,
    team: str,
    total: int,
    now: datetime,
    *,
    day: DutyDay | None = None,
    people: tuple[str, ...] = ("sam", "alex", "priya"),
    per_day: int = 400,
    retention_days: int = 30,
    seed: int = 1,
    quiet: bool = False,
) -> DutyDay:
    """Insert ``total`` tasks for ``team`` ending at ``now`` (the team row is made if missing).

    Numbers 1..(total - live) are history, resolved long ago (and, past ``retention_days``,
    with their email content purged); the rest are today's duty day.
    """
    day = (day or DutyDay()).within(total)
    rng = random.Random(seed)
    history = max(0, total - day.live)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(Team).where(Team.name == team)) == 0:
            conn.execute(insert(Team), [{"name": team, "last_task_number": 0}])

    def rows() -> Iterator[dict[str, Any]]:
        first_day = now - timedelta(days=history // per_day + 2)
        for n in range(1, history + 1):
            received = first_day + timedelta(seconds=n * 86_400 / per_day)
            resolved = received + timedelta(hours=rng.uniform(0.2, 30))
            who = rng.choice(people)
            row = _task(
                team, n, received, "resolved", rng,
                claimed_by=who, claimed_at=received + timedelta(minutes=10),
                resolved_by=who, resolved_at=resolved, resolve_note=rng.choice(NOTES),
                last_event_at=resolved,
            )  # fmt: skip
            if received < now - timedelta(days=retention_days - 1):
                # The daily purge has cleared these, as it would have in a live bot (a day
                # early, so none falls due while a benchmark runs and changes its card).
                row.update(placeholder(retention_days))
                row.update(content_purged_at=received + timedelta(days=retention_days))
                row.update(card_version=2, card_shown_version=2)
            yield row
        n = history
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for i in range(day.open):
            n += 1
            yield _task(team, n, now - timedelta(hours=1 + i * 72 / max(1, day.open)), "open", rng)
        for i in range(day.claimed):
            n += 1
            got = now - timedelta(hours=2 + i * 96 / max(1, day.claimed))
            yield _task(
                team, n, got, "claimed", rng, claimed_by=rng.choice(people),
                claimed_at=got + timedelta(minutes=20), last_event_at=got + timedelta(hours=1),
            )  # fmt: skip
        for i in range(day.came_in_resolved + day.resolved_today):
            n += 1
            today = i < day.came_in_resolved
            got = midnight + timedelta(hours=8, minutes=i * 5) if today else now - timedelta(days=3)
            done = now - timedelta(minutes=5 + i)
            who = rng.choice(people)
            yield _task(
                team, n, got, "resolved", rng, claimed_by=who, claimed_at=got,
                resolved_by=who, resolved_at=done, resolve_note=rng.choice(NOTES),
                last_event_at=done,
            )  # fmt: skip

    inserted = 0
    for batch in _batches(rows()):
        with db.engine.begin() as conn:
            conn.execute(insert(Task), batch)
            lo, hi = batch[0]["number"], batch[-1]["number"]
            ids = dict(
                conn.execute(
                    select(Task.number, Task.id).where(
                        Task.team == team, Task.number.between(lo, hi)
                    )
                ).all()
            )
            conn.execute(insert(Event), list(_events(team, ids, batch, rng)))
        inserted += len(batch)
        if not quiet and inserted % 200_000 < BATCH:
            print(f"  ... {inserted:,} tasks in {time.perf_counter() - started:.0f} s", flush=True)
    _extras(db, team, now, day, rng, people)
    with db.engine.begin() as conn:
        conn.execute(
            Team.__table__.update()
            .where(Team.name == team)
            .values(last_task_number=n_max(db, team))
        )
    if not quiet:
        print(f"filled {inserted:,} tasks in {time.perf_counter() - started:.1f} s", flush=True)
    return day


def n_max(db: Database, team: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(select(func.max(Task.number)).where(Task.team == team)) or 0)


def _events(
    team: str, ids: dict[int, int], batch: list[dict[str, Any]], rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Each task's "received" event, its "claimed" and "resolved" ones, and notes on claims."""
    for t in batch:
        tid = ids[t["number"]]
        yield _event(team, tid, t["received_at"], "mailbox", "received")
        if t["claimed_by"]:
            yield _event(team, tid, t["claimed_at"], t["claimed_by"], "claimed")
        if t["state"] == "claimed":
            yield _event(team, tid, t["last_event_at"], t["claimed_by"], "noted", rng.choice(NOTES))
        if t["state"] == "resolved":
            yield _event(
                team, tid, t["resolved_at"], t["resolved_by"], "resolved", t["resolve_note"]
            )


def _event(
    team: str, task_id: int, at: datetime, actor: str, kind: str, note: str = ""
) -> dict[str, Any]:
    return {
        "team": team,
        "task_id": task_id,
        "case_id": None,
        "at": at,
        "actor": actor,
        "kind": kind,
        "note": note,
        "data": {},
    }


def _extras(
    db: Database,
    team: str,
    now: datetime,
    day: DutyDay,
    rng: random.Random,
    people: tuple[str, ...],
) -> None:
    """Today's alerts, and follow-ups due on the next working day, on live tasks."""
    with db.engine.begin() as conn:
        live = list(
            conn.scalars(
                select(Task.id).where(Task.team == team, Task.state.in_(("open", "claimed")))
            )
        )
        if not live:
            return
        alerts = [
            {
                **_event(team, rng.choice(live), now - timedelta(minutes=30 + i), "sam", "alerted"),
                "data": {"people": [rng.choice(people)]},
            }
            for i in range(day.alerts)
        ]
        tomorrow = now + timedelta(days=1 if now.weekday() < 4 else 7 - now.weekday())
        follow_ups = [
            {
                "team": team,
                "task_id": rng.choice(live),
                "owner": rng.choice(people),
                "due_at": tomorrow.replace(hour=9 + i % 8, minute=0),
                "note": "Call back about the tenancy.",
                "created_at": now - timedelta(hours=2),
                "done_at": None,
                "notified_at": None,
            }
            for i in range(day.follow_ups)
        ]
        for table, rows in ((Event, alerts), (FollowUp, follow_ups)):
            if rows:  # an empty list would be an INSERT of defaults
                conn.execute(insert(table), rows)
