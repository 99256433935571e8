"""Scheduled work for one team, as plain functions of the database and a time: "do what is due
at ``now``". APScheduler (in `dutybot run`) and the shell's tick only decide *when* to call
them; calling twice, or from two processes, does the work once (see each job's module).

Each job runs in its own guard: one raising is logged once, with its name, and listed in the
pass's report; the team's other jobs still run, and the failed one runs again at the next
pass (safe, as each is idempotent). Only an unreachable database stops the pass: every later
job, and every other team, would fail the same way, and the scheduler says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from bot.cases.clocks import CaseClocks
from bot.contacts.ack import STUCK_AFTER as ACK_STUCK_AFTER
from bot.contacts.ack import unfinished as unfinished_acks
from bot.handover.post import Handover
from bot.kernel.calendar import WorkingCalendar, day_began
from bot.kernel.config import Config
from bot.mail.mailbox import Mailbox
from bot.nudges.nudges import Nudger
from bot.ops.logsafe import trace_without_text
from bot.ops.outage import database_unreachable
from bot.ops.retention import purge_due
from bot.rota.cover import PhoneCover
from bot.rota.morning import Morning
from bot.rota.rota import Rota
from bot.tasks.actions import Tasks
from storage.db import Database
from storage.due import TeamDue, due_facts

log = logging.getLogger(__name__)

T = TypeVar("T")
JOB_NOTE = "in the scheduled job "  # on an unreachable-database error a guard lets through


@dataclass
class JobReport:
    """What one pass did (for logs and tests; never any content)."""

    handover: str | None = None  # posted | late | skipped
    morning: str | None = None  # sent | nothing: claims held by people off today's rota
    nudges: int = 0
    oversight: int = 0  # DMs to the duty manager about new money and housing requests
    emails: int = 0
    purged: int = 0  # tasks whose email content the daily retention purge removed
    cases: int = 0  # case reminders, escalations and the weekly case report
    failed: list[str] = field(default_factory=list)  # the jobs that raised, by name


@dataclass
class TeamJobs:
    tasks: Tasks
    cal: WorkingCalendar
    rota: Rota
    config: Config
    mailbox: Mailbox | None = None
    handover: Handover = field(init=False)
    nudger: Nudger = field(init=False)
    cases: CaseClocks = field(init=False)
    cover: PhoneCover = field(init=False)
    morning: Morning = field(init=False)
    # The day whose purge this process saw done or recorded (job_runs rows are never removed),
    # so the rest of that day's passes ask nothing; restarts and other processes ask the
    # database as before.
    _purged: date | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.handover = Handover(self.tasks, self.cal, self.rota, self.config, self.mailbox)
        self.cover = PhoneCover(self.rota)
        self.nudger = Nudger(
            self.tasks, self.cal, self.rota, self.config.office_hours, self.config.nudges,
            self.cover,
        )  # fmt: skip
        self.morning = Morning(self.rota, self.config.office_hours)
        d = self.tasks
        self.cases = CaseClocks.of(d.db, d.team, d.roster, self.cal, self.config)

    @property
    def name(self) -> str:
        return self.tasks.name

    def run_due(self, now: datetime | None = None, due: TeamDue | None = None) -> JobReport:
        """Everything due at ``now``: the purge, the handover (or its catch-up), its emails,
        the morning's claims, each kind of nudge, the phone cover reminder, the case clocks and
        acknowledgements left unfinished, each in its own guard. ``due`` (storage.due: the
        scheduler asks it for all its teams at once; asked here if not given) lets a job with
        nothing to look at skip its own question."""
        now = now or self.tasks.clock.now()
        report = JobReport()

        def guarded(name: str, job: Callable[[], T]) -> T | None:
            return self._guarded(report, name, job)

        if due is None:  # if this fails, each job asks its own question
            due = guarded("due", lambda: due_of(self.tasks.db, {self.name: self}, now)[self.name])

        # first, so nothing posted below quotes content due to go (once a day, in job_runs)
        report.purged = guarded("purge", lambda: self._purge(now)) or 0
        report.handover = guarded("handover", lambda: self.handover.due(now))
        report.emails = guarded("handover_emails", lambda: self.handover.send_emails(now)) or 0
        report.morning = guarded("morning", lambda: self.morning.due(now))
        for kind, send in self.nudger.parts(now, due):
            sent = guarded(f"nudges.{kind}", send) or 0
            if kind == "oversight":  # not a reminder: a new request, told once
                report.oversight += sent
            else:
                report.nudges += sent
        report.nudges += guarded("cover_overdue", lambda: self.cover.overdue(now, due)) or 0
        report.cases = guarded("case_clocks", lambda: self.cases.run(now, due)) or 0
        guarded("acknowledgements", lambda: self._acks(now, due))
        return report

    def _acks(self, now: datetime, due: TeamDue | None) -> int:
        if due is not None and not due.stuck_acks:
            return 0
        return unfinished_acks(self.tasks.db, self.tasks.team, now)

    def _purge(self, now: datetime) -> int:
        """Today's purge if not done yet; how many tasks' content it removed."""
        day = now.astimezone(self.tasks.team.tz).date()
        if day == self._purged:
            return 0
        days = self.config.retention.email_content_days
        purged = purge_due(self.tasks.db, self.tasks.team, days, now, self.mailbox)
        self._purged = day  # returned: today's run is in job_runs (ours or another process's)
        return len(purged.tasks) if purged else 0

    def _guarded(self, report: JobReport, name: str, job: Callable[[], T]) -> T | None:
        """Run one job; None if it raised (logged once, and listed in ``report.failed``)."""
        try:
            return job()
        except Exception as exc:
            if database_unreachable(exc):
                # The rest would fail the same way: stop the pass; the scheduler says so once.
                exc.add_note(f"{JOB_NOTE}{name} for {self.name}")
                raise
            report.failed.append(name)
            log.error(
                "scheduled job %s for %s failed; it runs again at the next pass\n%s",
                name, self.name, trace_without_text(exc),
            )  # fmt: skip
            return None


def due_of(db: Database, teams: Mapping[str, TeamJobs], now: datetime) -> dict[str, TeamDue]:
    """What could come due for each of ``teams``, in one question (storage.due)."""
    if not teams:
        return {}
    began = min(day_began(now, jobs.tasks.team.tz) for jobs in teams.values())
    with db.session() as s:
        return due_facts(s, list(teams), day_began=began, acks_before=now - ACK_STUCK_AFTER)


def failed_job(exc: BaseException) -> str | None:
    """The job (and team) whose guard let ``exc`` through, if one did."""
    notes: list[str] = getattr(exc, "__notes__", [])
    return next((n.removeprefix(JOB_NOTE) for n in notes if n.startswith(JOB_NOTE)), None)
