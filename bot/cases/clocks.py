"""The case register's clocks: reminders to team managers, the escalation ladder, and the
weekly report. Run from `TeamJobs.run_due`, so the scheduler tick and the shell drive them.

Reminders go out in office hours on working days (as the task nudges do), by DM, one DM per
person per pass listing everything due for them:
- a review due today or on the next working day: once per due date, to the team manager;
- an overdue review: once per working day until it is recorded;
- each deadline (letter, summary, first contact, oversight note, first visit, RAY rating
  review): once on the day it is due, and once when it is missed (the working day after);
- each escalation threshold (days unallocated): one DM to the person in that role, with the
  reference, RAY, days unallocated, last review and what is overdue; once per case per level
  in each spell of being unallocated. It also writes an event on the case.
Only open cases are looked at, so allocating or closing a case stops all of this.

Every reminder is a row in `nudges` (kind, subject) written in the same transaction as its
DM, so a second pass, a restart or a second process sends nothing twice. The weekly report
is a `job_runs` row (team, "case_report", ISO week), like the handover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.cases.policy import (
    ROLE_NAMES,
    day_text,
    days_unallocated,
    days_word,
    deadlines,
    next_review,
    overdue_items,
    ray_text,
)
from bot.cases.report import build_report
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import CaseRules, Config, OfficeHoursConfig, TeamConfig
from bot.kernel.message import Message, lines, say, text, user
from bot.kernel.roles import Roster
from bot.nudges.nudges import in_office_hours
from bot.rota.rota import WEEKDAYS
from bot.tasks.cards import local_time
from storage import cases as cases_db
from storage import jobs as jobs_db
from storage import nudges as nudges_db
from storage import tasks as q
from storage.db import Database
from storage.due import TeamDue
from storage.models import Case

log = logging.getLogger(__name__)

REPORT_JOB: Final = "case_report"
SOON, OVERDUE, DUE, MISSED, ESCALATION = (
    "case_review_soon",
    "case_review_overdue",
    "case_due",
    "case_missed",
    "case_escalation",
)
KINDS: Final = (SOON, OVERDUE, DUE, MISSED, ESCALATION)


@dataclass(frozen=True)
class Reminder:
    kind: str
    subject: str  # "<case id>.<spell>:..." so each spell and each due date is its own
    previous: datetime | None  # when this reminder last went (None: never)
    line: str


@dataclass
class CaseClocks:
    db: Database
    team: TeamConfig
    roster: Roster
    cal: WorkingCalendar
    hours: OfficeHoursConfig
    grace: timedelta  # a report this late still counts as on time
    _sent: dict[str, dict[str, datetime]] = field(default_factory=dict, init=False)
    # Weekly reports seen recorded in job_runs (rows never removed), so an idle pass need not
    # ask again; another process's report is found in the database as before.
    _reported: set[str] = field(default_factory=set, init=False)

    @classmethod
    def of(
        cls, db: Database, team: TeamConfig, roster: Roster, cal: WorkingCalendar, config: Config
    ) -> CaseClocks:
        grace = timedelta(minutes=config.scheduler.misfire_grace_minutes)
        return cls(db, team, roster, cal, config.office_hours, grace)

    @property
    def name(self) -> str:
        return self.team.name

    def run(self, now: datetime, due: TeamDue | None = None) -> int:
        """Everything due at ``now``: the weekly report, reminders, escalations. Returns how
        many messages were queued. ``due`` (storage.due) may already say the register is
        empty."""
        if due is not None and not due.has_cases:
            return 0
        with self.db.session() as s:
            if not cases_db.has_cases(s, self.name):
                return 0  # a team that doesn't use the register: no report, no reminders
        sent = 1 if self.weekly_report(now) else 0
        if in_office_hours(now, self.team.tz, self.cal, self.hours):
            sent += self.remind(now)
        return sent

    # ---- reminders and escalations -------------------------------------------------------

    def remind(self, now: datetime) -> int:
        today = now.astimezone(self.team.tz).date()
        rules = self.team.cases.rules()
        with self.db.session() as s:
            cases = cases_db.open_cases(s, self.name)
            if not cases:
                return 0
            keys = [f"{case.id}.{case.spell}:" for case in cases]
            self._sent = nudges_db.last_nudges_about(s, self.name, KINDS, keys)
        due: dict[str, list[Reminder]] = {}
        sent = 0
        for case in cases:
            found = self._reminders(case, rules, today)
            if found:
                due.setdefault(self._manager_of(case), []).extend(found)
            sent += self._escalate(case, rules, today, now)
        for who, reminders in due.items():
            sent += self._send(who, reminders, now)
        return sent

    def _manager_of(self, case: Case) -> str:
        """The case's team manager; if they have left the team, the first manager."""
        managers = self.roster.managers()
        return case.team_manager if case.team_manager in managers or not managers else managers[0]

    def _reminders(self, case: Case, rules: CaseRules, today: date) -> list[Reminder]:
        key = f"{case.id}.{case.spell}"
        head = f"{case.ref} ({ray_text(case.ray)}):"
        out: list[Reminder] = []
        review = next_review(case, rules, self.cal, self.team)
        subject = f"{key}:review:{review.isoformat()}"
        if today > review:
            last = self._sent[OVERDUE].get(subject)
            if last is None or last.astimezone(self.team.tz).date() < today:
                late = self.cal.working_days_between(review, today)
                out.append(
                    Reminder(
                        OVERDUE, subject, last,
                        f"{head} review was due {day_text(review)} and is {late} working "
                        f"{'day' if late == 1 else 'days'} overdue. "
                        f"/duty case review {case.ref} note",
                    )
                )  # fmt: skip
        elif self.cal.next_working_day(today) >= review and subject not in self._sent[SOON]:
            when = "today" if review == today else day_text(review)
            out.append(
                Reminder(
                    SOON, subject, None,
                    f"{head} review due {when}. /duty case review {case.ref} note",
                )
            )  # fmt: skip
        for d in deadlines(case, rules, self.cal, self.team):
            if d.done is not None:
                continue
            subject = f"{key}:{d.key}:{d.due.isoformat()}"
            if today == d.due and subject not in self._sent[DUE]:
                out.append(Reminder(DUE, subject, None, f"{head} {d.label} due today. {d.how}"))
            elif today > d.due and subject not in self._sent[MISSED]:
                line = f"{head} {d.label} was due {day_text(d.due)} and isn't recorded. {d.how}"
                out.append(Reminder(MISSED, subject, None, line))
        return out

    def _send(self, who: str, reminders: list[Reminder], now: datetime) -> int:
        """One DM to ``who`` with every reminder no other process has sent since we looked."""
        try:
            with self.db.session() as s:
                won = [
                    r for r in reminders
                    if nudges_db.record_nudge(
                        s, team=self.name, kind=r.kind, subject=r.subject, at=now,
                        previous=r.previous,
                    )
                ]  # fmt: skip
                if not won:
                    return 0
                if len(won) == 1:
                    body = text(won[0].line)
                else:
                    body = lines([text("Unallocated cases:"), *(text(r.line) for r in won)])
                self._dm(s, who, body.with_fallback("Unallocated cases: something is due"), now)
        except IntegrityError:
            return 0  # another process sent these first
        return len(won)

    def _dm(self, s: Session, who: str, body: Message, now: datetime) -> None:
        q.queue_message(s, team=self.name, kind="dm", target=who, body=body.to_json(), at=now)

    def _escalate(self, case: Case, rules: CaseRules, today: date, now: datetime) -> int:
        days = days_unallocated(case, today)
        sent = 0
        for role, after in rules.escalate_after_days:
            subject = f"{case.id}.{case.spell}:{role}"
            if days < after or subject in self._sent[ESCALATION]:
                continue
            try:
                with self.db.session() as s:
                    nudges_db.record_nudge(
                        s, team=self.name, kind=ESCALATION, subject=subject, at=now,
                        previous=None,
                    )  # fmt: skip
                    to = self._write_escalation(s, case, rules, role, days, today, now)
                    q.add_event(
                        s, team=self.name, task_id=None, case_id=case.id, actor="scheduler",
                        kind="case_escalated", at=now,
                        data={"role": role, "to": to, "days": days},
                    )  # fmt: skip
                sent += 1
            except IntegrityError:
                continue  # another process escalated it first
        return sent

    def _write_escalation(
        self,
        s: Session,
        case: Case,
        rules: CaseRules,
        role: str,
        days: int,
        today: date,
        now: datetime,
    ) -> str:
        """Queue the escalation DM; returns who it went to."""
        role_name = ROLE_NAMES[role]
        last = case.last_review_at
        overdue = overdue_items(case, rules, self.cal, self.team, today)
        facts = (
            f"Last review: {day_text(last.astimezone(self.team.tz).date()) if last else 'none'}. "
            f"Overdue: {', '.join(overdue) if overdue else 'nothing'}."
        )
        since = day_text(case.unallocated_since)
        head = f"{case.ref} ({ray_text(case.ray)}) " + (
            f"has been unallocated for {days_word(days)}, since {since}."
            if days
            else f"became unallocated today, {since}."
        )
        person = getattr(self.team.cases.people, role)
        manager = self._manager_of(case)
        if person:
            body = say(
                f"Escalation to you as {role_name}: {head} {facts} Team manager: ",
                user(manager),
                ".",
            ).with_fallback(f"Escalation: unallocated case {case.ref}")
            self._dm(s, person, body, now)
            return str(person)
        log.warning("%s: no %s in config; the escalation went to the team manager", self.name, role)
        body = text(
            f"{head} It has reached the {role_name} escalation, but no {role_name} is set in "
            f"the config ([teams.cases.people]), so please tell them. {facts}"
        ).with_fallback(f"Escalation: unallocated case {case.ref}")
        self._dm(s, manager, body, now)
        return manager

    # ---- the weekly report ----------------------------------------------------------------

    def report_time(self, week_of: date) -> tuple[str, datetime]:
        """The run key and time of the report in the week holding ``week_of``: the configured
        day, or the next working day when that is a bank holiday or closure."""
        cfg = self.team.cases.weekly_report
        monday = week_of - timedelta(days=week_of.weekday())
        planned = monday + timedelta(days=WEEKDAYS.index(cfg.day))
        day = planned if self.cal.is_working_day(planned) else self.cal.next_working_day(planned)
        year, week, _ = planned.isocalendar()
        return f"{year}-W{week:02d}", datetime.combine(day, cfg.time, tzinfo=self.team.tz)

    def weekly_report(self, now: datetime) -> bool:
        """Post the week's report if it is due and not posted yet. True if it posted now."""
        cfg = self.team.cases.weekly_report
        if not cfg.enabled:
            return False
        today = now.astimezone(self.team.tz).date()
        # This week's, or last week's when a holiday pushed it into this week.
        due = [
            rt for w in (today, today - timedelta(days=7)) if (rt := self.report_time(w))[1] <= now
        ]
        if not due:
            return False
        run_key, at = max(due, key=lambda rt: rt[1])
        if run_key in self._reported:
            return False
        late = now - at > self.grace
        try:
            with self.db.session() as s:
                if jobs_db.job_run(s, self.name, REPORT_JOB, run_key) is not None:
                    self._reported.add(run_key)
                    return False
                if not cases_db.has_cases(s, self.name):
                    return False  # a team that doesn't use the register hears nothing
                if late and not jobs_db.has_job_runs(s, self.name, REPORT_JOB):
                    return False  # a new install: no report from before it began
                run = jobs_db.start_job_run(
                    s, team=self.name, job=REPORT_JOB, run_key=run_key, at=now,
                    outcome="late" if late else "done",
                )  # fmt: skip
                if run is None:
                    return False
                body = build_report(s, self.team, self.cal, today).message()
                body = body.with_fallback(f"Unallocated cases: the weekly report, {today:%a %d %b}")
                if late:
                    note = (
                        f"(Late: posted {local_time(now, self.team.tz)}, because the bot was "
                        f"not running at {local_time(at, self.team.tz)}.)"
                    )
                    body = lines([text(note), body])
                channel = cfg.channel or self.team.channel
                q.queue_message(
                    s, team=self.name, kind="channel", target=channel, body=body.to_json(), at=now
                )
        except IntegrityError:
            return False  # another process posted it first
        log.info("weekly case report for %s (%s) posted", self.name, run_key)
        return True
