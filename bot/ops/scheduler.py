"""The clocks in `dutybot run` and `dutybot shell`: APScheduler 3 decides *when*, bot.jobs
decides *what*.

- A cron trigger per team fires at `handover.time` on weekdays, in the team's time zone, so
  it stays at 16:30 local time on both sides of a clock change (bank holidays are skipped
  by the job itself, which knows the working-day calendar).
- An interval trigger every `scheduler.tick_seconds` sends due nudges and pending emails,
  and catches up a handover missed while the bot was down. In `run` it first runs at
  start-up; the shell runs its own first pass in the foreground.
- In `dutybot run` a team's clocks run in the process that holds the team's lease (the
  runner's TeamLeases), so the teams' clocks spread across the processes like their mail.
  Elsewhere (the shell) only the holder of the "scheduler" lease row acts. Each pass renews
  it; if the holder dies, the lease expires after `scheduler.lease_seconds` and another
  process takes over. Leases run on the real clock (they are about processes being alive),
  never on the shell's movable one. The jobs are idempotent anyway, so even two acting at
  once post one handover.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.kernel.clock import Clock, SystemClock
from bot.kernel.config import SchedulerConfig
from bot.ops.jobs import JobReport, TeamJobs, due_of, failed_job
from bot.ops.lease import Lease, TeamLeases
from bot.ops.logs import team_context
from bot.ops.logsafe import trace_without_text
from bot.ops.outage import DatabaseWatch, database_unreachable
from storage.db import Database
from storage.due import TeamDue

log = logging.getLogger(__name__)

LEASE = "scheduler"

# What one pass did, team by team; None when another process holds the lease.
Reports = dict[str, JobReport] | None
AfterTick = Callable[[str | None, Reports], None]


def handover_trigger(at: time, tz: ZoneInfo) -> CronTrigger:
    """Weekdays at ``at`` local time, wherever the clocks have gone."""
    return CronTrigger(day_of_week="mon-fri", hour=at.hour, minute=at.minute, timezone=tz)


class DutyScheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: SchedulerConfig,
        teams: Mapping[str, TeamJobs],
        holder: str | None = None,
        *,
        lease_clock: Clock | None = None,
        after_tick: AfterTick | None = None,
        db_watch: DatabaseWatch | None = None,
        team_leases: TeamLeases | None = None,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.teams = teams
        self.db = db
        ttl = timedelta(seconds=settings.lease_seconds)
        self.lease = Lease(db, lease_clock or SystemClock(), ttl, holder, LEASE)
        self.team_leases = team_leases  # given: a team's clocks run where its lease is held
        self.after_tick = after_tick  # told after each scheduled pass (the shell prints then)
        self.db_watch = db_watch or DatabaseWatch()
        self._aps: BackgroundScheduler | None = None
        self._lock = threading.Lock()  # one pass at a time in this process

    def tick(self, team: str | None = None, at: datetime | None = None) -> Reports:
        """Run what is due at ``at`` (default: now) for one team or all, if we hold the lease.

        None means another process holds the lease, so this one did nothing.
        """
        with self._lock:
            if self.team_leases is None and not self.lease.hold():
                return None
            now = at or self.clock.now()
            names = [team] if team else self._ours()
            due = self._due(names, now) if team is None else {}
            reports: dict[str, JobReport] = {}
            for name in names:
                try:
                    with self._acting(name) as ours, team_context(name):
                        if ours:
                            reports[name] = self.teams[name].run_due(now, due.get(name))
                except Exception as exc:
                    if database_unreachable(exc):
                        raise  # the other teams would fail the same way; _scheduled says so once
                    # Outside any job's guard (TeamJobs.run_due guards each job itself).
                    log.error(
                        "scheduled jobs for %s failed; will try again\n%s",
                        name, trace_without_text(exc),
                    )  # fmt: skip
            return reports

    def _ours(self) -> list[str]:
        """The teams whose clocks this process runs now (all, without per-team leases)."""
        if self.team_leases is None:
            return list(self.teams)
        self.team_leases.keep_up()
        return [t for t in self.team_leases.held() if t in self.teams]

    def _due(self, names: list[str], now: datetime) -> dict[str, TeamDue]:
        """What could come due, for all ``names`` in one question. Empty if that fails for any
        reason but the database being away: each team's pass then asks for itself."""
        try:
            return due_of(self.db, {n: self.teams[n] for n in names}, now)
        except Exception as exc:
            if database_unreachable(exc):
                raise
            log.error("could not look at what is due; each job looks itself\n%s",
                      trace_without_text(exc))  # fmt: skip
            return {}

    def _acting(self, team: str) -> AbstractContextManager[bool]:
        return nullcontext(True) if self.team_leases is None else self.team_leases.acting(team)

    def leads(self) -> bool:
        """True while this process runs some team's clocks."""
        if self.team_leases is None:
            return self.lease.held
        return bool(self.team_leases.held())

    def _scheduled(self, team: str | None = None) -> None:
        """What APScheduler calls: one pass, then tell whoever wants to know. While the
        database is away the pass is skipped (said once); the next tick catches up."""
        try:
            reports = self.tick(team)
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            job = failed_job(exc)  # the one that met the outage, so the line can name it
            doing = f"running the scheduled job {job}" if job else "running the scheduled jobs"
            self.db_watch.failed(exc, doing)
            return
        self.db_watch.worked()
        if self.after_tick is not None:
            try:
                self.after_tick(team, reports)
            except Exception:
                log.exception("after a scheduled pass for %s", team or "all teams")

    def start(self, *, catch_up: bool = True) -> None:
        """Start the clocks in the background. ``catch_up`` runs the first pass at once
        (a handover missed while the bot was down); otherwise after one tick."""
        grace = max(1, self.settings.misfire_grace_minutes * 60)
        aps = BackgroundScheduler(timezone=UTC)
        first = datetime.now(UTC)
        if not catch_up:
            first += timedelta(seconds=self.settings.tick_seconds)
        aps.add_job(
            self._scheduled,
            IntervalTrigger(seconds=self.settings.tick_seconds, timezone=UTC),
            id="tick",
            next_run_time=first,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace,
        )
        for name, jobs in self.teams.items():
            aps.add_job(
                self._scheduled,
                handover_trigger(jobs.config.handover.time, jobs.tasks.team.tz),
                args=[name],
                id=handover_job_id(name),
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
            )
        aps.start()
        self._aps = aps
        who = self.lease.holder if self.team_leases is None else self.team_leases.holder
        log.info("scheduler started as %s", who)

    @property
    def aps(self) -> BackgroundScheduler | None:
        """The running APScheduler, if started (for inspection)."""
        return self._aps

    def shutdown(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=True)
            self._aps = None
        try:
            if self.team_leases is None:
                self.lease.release()
        except Exception:
            log.warning("could not release the scheduler lease; it will expire by itself")


def handover_job_id(team: str) -> str:
    return f"handover-{team}"
