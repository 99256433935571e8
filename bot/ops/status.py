"""The bot's health in one snapshot: what /healthz answers, what /metrics counts from the
database, and what `dutybot status` says in plain words. One function builds it for all three.

Only an unreachable database makes the bot "down" (/healthz answers 503, so a container is
restarted): without it nothing can be taken in or posted. Everything else that is wrong (Slack
unreachable, a mailbox error, nobody running the clocks, cards waiting too long) makes it
"degraded": worth a look, but restarting would not help.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot.kernel.config import Config
from bot.kernel.words import count
from bot.ops.lease import team_lease_name
from bot.ops.outage import database_reason
from bot.ops.scheduler import LEASE
from storage import status as sq
from storage.db import Database
from storage.db import schema_current as db_schema_current
from storage.status import TASK_STATES

# A card not posted after this long means Slack (or the channel) has been failing for a while.
CARDS_LATE_AFTER = timedelta(minutes=15)
SLACK_CHECK_SECONDS = 30.0  # how long a Slack check (auth.test) is believed

State = Literal["ok", "degraded", "down"]


@dataclass(frozen=True)
class Check:
    """The answer of one reachability check: yes or no, and a short plain reason."""

    ok: bool
    detail: str
    refused: bool = False  # told no (a wrong token), rather than not reached: retrying won't help


Probe = Callable[[], Check]


class CachedProbe:
    """Ask at most every ``seconds``, in the background: /healthz (polled by a load balancer
    with a short timeout) and a metrics scrape answer at once with the last answer while a
    fresh one is fetched. The first call may wait up to ``first_wait`` seconds for an answer;
    before any, the check says there is none yet."""

    def __init__(
        self,
        probe: Probe,
        seconds: float = SLACK_CHECK_SECONDS,
        *,
        first_wait: float = 0.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.seconds = seconds
        self.first_wait = first_wait
        self.timer = timer
        self._lock = threading.Lock()
        self._last: Check | None = None
        self._asked_at: float | None = None
        self._answered = threading.Event()

    def __call__(self) -> Check:
        with self._lock:
            now = self.timer()
            if self._asked_at is None or now - self._asked_at >= self.seconds:
                self._asked_at = now
                threading.Thread(target=self._refresh, name="slack-check", daemon=True).start()
        if self._last is None:
            self._answered.wait(self.first_wait)
        return self._last or Check(False, "no answer from Slack yet")

    def _refresh(self) -> None:
        try:
            self._last = self.probe()
        except Exception as exc:  # a probe that breaks says so, rather than killing the check
            self._last = Check(False, f"the check failed ({type(exc).__name__})")
        self._answered.set()


@dataclass
class TeamStatus:
    name: str
    tz: ZoneInfo
    mailbox_kind: str
    facts: sq.TeamFacts
    now: datetime

    @property
    def sync_age(self) -> timedelta | None:
        return self.now - self.facts.synced_at if self.facts.synced_at else None

    @property
    def pending_wait(self) -> timedelta | None:
        oldest = self.facts.oldest_pending
        return max(self.now - oldest, timedelta(0)) if oldest else None

    def problems(self) -> list[str]:
        found: list[str] = []
        if self.facts.last_error:
            found.append(
                f"{self.name}: the last mailbox check failed ({self.facts.last_error}). "
                "Run: dutybot check --mailbox --config FILE"
            )
        wait = self.pending_wait
        if wait is not None and wait >= CARDS_LATE_AFTER:
            found.append(
                f"{self.name}: {_cards(self.facts.pending_cards)} waiting to be posted, the "
                f"oldest for {how_long(wait)}; check Slack and that the bot is in the channel"
            )
        return found

    def lines(self) -> list[str]:
        f = self.facts
        if f.synced_at is None:
            sync = "not checked yet"
        else:
            sync = f"last checked {local(f.synced_at, self.tz)}, {how_long(self.sync_age)} ago"
            sync += f"; it failed: {f.last_error}" if f.last_error else "; it worked"
        if f.pending_cards:
            assert self.pending_wait is not None
            cards = (
                f"{_cards(f.pending_cards)} waiting to be posted, "
                f"the oldest for {how_long(self.pending_wait)}"
            )
        else:
            cards = "no cards waiting to be posted"
        counts = ", ".join(f"{f.tasks.get(s, 0)} {s}" for s in TASK_STATES)
        return [
            f"Team {self.name}:",
            f"  Mailbox ({self.mailbox_kind}): {sync}.",
            f"  Cards: {cards}.",
            f"  Tasks: {counts}.",
        ]

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        wait = self.pending_wait
        return {
            "name": self.name,
            "mailbox": {
                "kind": self.mailbox_kind,
                "last_sync": _iso(f.synced_at),
                "age_seconds": _seconds(self.sync_age),
                "last_error": f.last_error,
            },
            "pending_cards": f.pending_cards,
            "oldest_pending_seconds": _seconds(wait),
            "tasks": {s: f.tasks.get(s, 0) for s in TASK_STATES},
            "nudges_sent": dict(sorted(f.nudges.items())),
        }


@dataclass
class Status:
    checked_at: datetime
    database: Check
    slack: Check | None  # the chat's check (Slack's or Teams'); None: the shell, no chat
    leader: sq.LeaseFacts | None  # the scheduler lease row (the shell), which may have run out
    teams: list[TeamStatus]
    schema_current: bool = True
    chat: str = "slack"  # which chat ``slack`` checked
    # each team's lease row (`dutybot run`: its mail, cards and clocks), which may have run out
    holders: dict[str, sq.LeaseFacts] | None = None

    @property
    def chat_name(self) -> str:
        return {"teams": "Teams"}.get(self.chat, "Slack")

    @property
    def state(self) -> State:
        if not self.database.ok:
            return "down"
        return "degraded" if self.problems() else "ok"

    @property
    def leader_alive(self) -> bool:
        return self.leader is not None and self.leader.expires_at > self.checked_at

    def held_by(self, team: str) -> str | None:
        """Who acts for ``team`` now (its lease not run out), if anyone."""
        lease = (self.holders or {}).get(team)
        return lease.holder if lease is not None and lease.expires_at > self.checked_at else None

    @property
    def unheld(self) -> list[str]:
        return [t.name for t in self.teams if self.held_by(t.name) is None]

    @property
    def clocks_run(self) -> bool:
        """The shell's scheduler lease, or every team held by a `dutybot run`."""
        return self.leader_alive or bool(self.teams) and not self.unheld

    def _runners(self) -> list[str]:
        """The processes holding teams' leases, busiest first."""
        held = [h for t in self.teams if (h := self.held_by(t.name)) is not None]
        return sorted(set(held), key=lambda h: (-held.count(h), h))

    def problems(self) -> list[str]:
        """Everything wrong, one plain sentence each (with what to do)."""
        if not self.database.ok:
            return [
                f"The database can't be reached ({self.database.detail}). Check [database] url "
                "and that the database server is running."
            ]
        found: list[str] = []
        if not self.schema_current:
            found.append("The database needs upgrading. Run: dutybot db upgrade --config FILE")
        if self.slack is not None and not self.slack.ok:
            found.append(f"{self.chat_name}: {self.slack.detail}")
        if not self.clocks_run and len(self.unheld) < len(self.teams):
            found += [
                f"{team}: no dutybot run holds the team's lease, so its mail, cards and clocks "
                "wait. Look at the log of each dutybot run."
                for team in self.unheld
            ]
        elif not self.clocks_run:
            found.append(
                "Nobody is running the clocks (handover, nudges): no dutybot run holds the "
                "teams' leases. Start dutybot run, or look at its log."
            )
        for team in self.teams:
            found += team.problems()
        return found

    def to_json(self) -> dict[str, Any]:
        lease = self.leader
        return {
            "status": self.state,
            "checked_at": _iso(self.checked_at),
            "problems": self.problems(),
            "database": {"ok": self.database.ok, "detail": self.database.detail},
            "slack": None
            if self.slack is None or self.chat != "slack"
            else {"ok": self.slack.ok, "detail": self.slack.detail},
            **(
                {"msteams": {"ok": self.slack.ok, "detail": self.slack.detail}}
                if self.slack is not None and self.chat == "teams"
                else {}
            ),
            "scheduler": {
                "leader": lease.holder if lease and self.leader_alive else None,
                "since": _iso(lease.acquired_at) if lease and self.leader_alive else None,
                "lease_expires_at": _iso(lease.expires_at) if lease else None,
            }
            if self.leader_alive or not self.clocks_run
            else {
                "leader": ", ".join(self._runners()),  # `dutybot run`: per team below
                "since": None,
                "lease_expires_at": None,
            },
            "teams": [{**t.to_json(), "held_by": self.held_by(t.name)} for t in self.teams],
        }

    def lines(self) -> list[str]:
        """The status in plain words, times in the (first) team's zone."""
        tz = self.teams[0].tz if self.teams else ZoneInfo("UTC")
        if self.database.ok:
            out = ["Database: reachable."]
        else:
            out = [f"Database: can't be reached ({self.database.detail})."]
        if self.slack is None:
            out.append("Slack: not used (chat is not slack).")
        else:
            out.append(
                f"{self.chat_name}: {'reachable' if self.slack.ok else 'not working'} "
                f"({self.slack.detail})."
            )
        if self.database.ok:
            out.append(self._leader_line(tz))
            for team in self.teams:
                lines = team.lines()
                if self.holders is not None and not self.leader_alive:
                    by = self.held_by(team.name)
                    lines.insert(1, f"  Held by {by}." if by else "  Held by no process.")
                out += lines
        problems = self.problems()
        if problems:
            out.append(f"{len(problems)} problem(s):")
            out += [f"  - {p}" for p in problems]
        else:
            out.append("All is well.")
        return out

    def _leader_line(self, tz: ZoneInfo) -> str:
        lease = self.leader
        runners = self._runners()
        if not self.leader_alive and runners:
            held = [self.held_by(t.name) for t in self.teams]
            who = ", ".join(f"{h} ({count(held.count(h), 'team')})" for h in runners)
            return f"Duty teams: run by {who}; each team's lease is renewed while its process runs."
        if lease is None:
            return "Scheduler: nobody has held the lease yet."
        if not self.leader_alive:
            return (
                f"Scheduler: nobody holds the lease; the last holder was {lease.holder}, "
                f"until {local(lease.expires_at, tz)}."
            )
        left = how_long(lease.expires_at - self.checked_at)
        return (
            f"Scheduler: run by {lease.holder} since {local(lease.acquired_at, tz)}; "
            f"its lease runs to {local(lease.expires_at, tz)} (in {left}) and is renewed "
            "while it runs."
        )


def build_status(config: Config, db: Database, now: datetime, slack: Probe | None = None) -> Status:
    """Read everything once. Never raises for database trouble: that is the answer then."""
    names = [t.name for t in config.teams]
    facts: dict[str, sq.TeamFacts] = {n: sq.TeamFacts(n) for n in names}
    lease: sq.LeaseFacts | None = None
    holders: dict[str, sq.LeaseFacts] | None = None
    schema_current = True
    missing = sq.sqlite_file_missing(db)
    if missing:
        database = Check(False, f"the SQLite file {missing} is missing")
    else:
        try:
            with db.session() as s:
                sq.ping(s)
                facts = sq.team_facts(s, names)
                lease = sq.lease(s, LEASE)
                found = sq.leases(s, [team_lease_name(n) for n in names])
                holders = {n: f for n in names if (f := found.get(team_lease_name(n)))}
                schema_current = db_schema_current(s.connection())
            database = Check(True, "reachable")
        except SQLAlchemyError as exc:
            database = Check(False, database_reason(exc))
    teams = [TeamStatus(t.name, t.tz, t.mailbox.kind, facts[t.name], now) for t in config.teams]
    return Status(now, database, slack() if slack else None, lease, teams, schema_current,
                  chat=config.chat, holders=holders)  # fmt: skip


# ---- plain words -------------------------------------------------------------------------


def local(when: datetime, tz: ZoneInfo) -> str:
    """e.g. "Mon 23 Nov 10:42 GMT": the team's own clock, with its zone."""
    return when.astimezone(tz).strftime("%a %d %b %H:%M %Z")


def how_long(delta: timedelta | None) -> str:
    """A duration as people say it: "under a minute", "12 minutes", "3 hours 5 minutes"."""
    seconds = max(0, int((delta or timedelta(0)).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return "under a minute"
    if hours < 1:
        return count(minutes, "minute")
    if days < 1:
        rest = minutes % 60
        return count(hours, "hour") + (f" {count(rest, 'minute')}" if rest else "")
    return count(days, "day")


def _cards(n: int) -> str:
    return count(n, "card")


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


def _seconds(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds(), 1) if delta is not None else None
