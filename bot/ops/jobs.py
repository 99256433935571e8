"""Scheduled work for one team, as plain functions of the database and a time: "do what is due
at ``now``". APScheduler (in `dutybot run`) and the shell's tick only decide *when* to call
them; calling twice, or from two processes, does the work once (see each job's module).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot.cases.clocks import CaseClocks
from bot.handover.post import Handover
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import Config
from bot.mail.mailbox import Mailbox
from bot.nudges.nudges import Nudger
from bot.ops.retention import purge_due
from bot.rota.rota import Rota
from bot.tasks.actions import Duty

log = logging.getLogger(__name__)


@dataclass
class JobReport:
    """What one pass did (for logs and tests; never any content)."""

    handover: str | None = None  # posted | late | skipped
    nudges: int = 0
    emails: int = 0
    purged: int = 0  # tasks whose email content the daily retention purge removed
    cases: int = 0  # case reminders, escalations and the weekly case report


@dataclass
class TeamJobs:
    duty: Duty
    cal: WorkingCalendar
    rota: Rota
    config: Config
    mailbox: Mailbox | None = None
    handover: Handover = field(init=False)
    nudger: Nudger = field(init=False)
    cases: CaseClocks = field(init=False)

    def __post_init__(self) -> None:
        self.handover = Handover(self.duty, self.cal, self.rota, self.config, self.mailbox)
        self.nudger = Nudger(
            self.duty, self.cal, self.rota, self.config.office_hours, self.config.nudges
        )
        d = self.duty
        self.cases = CaseClocks.of(d.db, d.team, d.roster, self.cal, self.config)

    @property
    def name(self) -> str:
        return self.duty.name

    def run_due(self, now: datetime | None = None) -> JobReport:
        """Everything due at ``now``: the handover (or its catch-up), emails, nudges."""
        now = now or self.duty.clock.now()
        report = JobReport()
        # first, so nothing posted below quotes content due to go (once a day, in job_runs)
        days = self.config.retention.email_content_days
        purged = purge_due(self.duty.db, self.duty.team, days, now)
        report.purged = len(purged.tasks) if purged else 0
        report.handover = self.handover.due(now)
        report.emails = self.handover.send_emails(now)
        report.nudges = self.nudger.run(now)
        report.cases = self.cases.run(now)
        return report
