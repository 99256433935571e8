"""The end-of-day handover as a job.

The handover of a working day is due at `handover.time`. Its run is one `job_runs` row,
keyed (team, "handover", the day), inserted in the same transaction that queues the channel
post and the DM, so a second run hits the unique key and does nothing. When the bot was
down at handover time:
- back within `scheduler.misfire_grace_minutes`: the handover is posted then, once;
- back later (the evening, the next morning before the next handover): `handover.late`
  says what to do: "post" (the default) posts that day's handover, marked late; "skip"
  records it as skipped and posts nothing. Only the latest missed working day counts, and
  a brand-new database never posts a handover for a day before it started.
The handover email goes to the duty inbox after the transaction commits. Until the mailbox
takes it, the row stays "pending" and the next pass tries again (so a crash between sending
and recording may send it twice; it is never lost).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.handover.view import HandoverView, build_handover
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import Config
from bot.kernel.message import Message, lines, text
from bot.mail.mailbox import Mailbox, MailboxError, OutgoingEmail
from bot.rota.rota import Rota
from bot.tasks.actions import Tasks
from bot.tasks.cards import local_time
from storage import jobs as jobs_db
from storage import tasks as q

log = logging.getLogger(__name__)

HANDOVER = "handover"


@dataclass
class Posted:
    view: HandoverView
    manager: str | None


@dataclass
class Handover:
    """One team's handover: when it is due, its preview, posting it once, its email."""

    tasks: Tasks
    cal: WorkingCalendar
    rota: Rota
    config: Config
    mailbox: Mailbox | None = None
    # The latest day whose handover this process saw recorded in job_runs (rows never
    # removed): an idle pass then asks nothing; any other day is asked of the database.
    _recorded: date | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.tasks.name

    def at(self, day: date) -> datetime:
        return datetime.combine(day, self.config.handover.time, tzinfo=self.tasks.team.tz)

    def latest_day(self, now: datetime) -> date:
        """The latest working day whose handover time has come by ``now``."""
        local = now.astimezone(self.tasks.team.tz)
        today = local.date()
        if self.cal.is_working_day(today) and now >= self.at(today):
            return today
        return self.cal.previous_working_day(today)

    def _began_by(self, s: Session, at: datetime) -> bool:
        """Had this team's handovers begun by ``at``? A late one is posted only then, so a new
        database, even one whose first handover was posted by hand this morning, never posts
        one for a day before it began."""
        first = jobs_db.first_run(s, self.name, HANDOVER)
        return first is not None and first <= at

    def passed(self, before: datetime, after: datetime) -> datetime | None:
        """The last handover time in (``before``, ``after``], if the clock passed one.

        The shell runs the jobs at that moment when `/duty clock` jumps over it, so the
        handover comes out as it would have with the bot running, not as a late one.
        """
        at = self.at(self.latest_day(after))
        return at if before < at <= after else None

    def due(self, now: datetime) -> str | None:
        """Post the handover if it is due and not yet done. Returns what happened, if anything."""
        day = self.latest_day(now)
        if day == self._recorded:
            return None
        late = now - self.at(day) > timedelta(minutes=self.config.scheduler.misfire_grace_minutes)
        with self.tasks.db.session() as s:
            if jobs_db.job_run(s, self.name, HANDOVER, day.isoformat()) is not None:
                self._recorded = day
                return None
            if late and not self._began_by(s, self.at(day)):
                self._recorded = day  # a new install: no handover for a day before it began
                return None
        if late and self.config.handover.late == "skip":
            try:
                with self.tasks.db.session() as s:
                    run = jobs_db.start_job_run(
                        s, team=self.name, job=HANDOVER, run_key=day.isoformat(), at=now,
                        outcome="skipped",
                    )  # fmt: skip
            except IntegrityError:
                return None
            if run is None:
                return None
            log.info("handover for %s on %s missed; skipped as configured", self.name, day)
            return "skipped"
        posted = self.post(day, now, late=late)
        return None if posted is None else ("late" if late else "posted")

    def preview(self, now: datetime) -> Posted:
        """Today's handover as it stands now, posting nothing."""
        day = now.astimezone(self.tasks.team.tz).date()
        with self.tasks.db.session() as s:
            manager = self.rota.of_day(s, self.cal.next_working_day(day)).manager
            return Posted(build_handover(s, self.tasks.team, self.cal, day, manager), manager)

    def post(
        self, day: date, now: datetime, *, late: bool = False, actor: str = "scheduler"
    ) -> Posted | None:
        """Post ``day``'s handover to the channel and the next duty manager, and queue the
        email. None if it was already done (by this process or another)."""
        team = self.tasks.team
        try:
            with self.tasks.db.session() as s:
                run = jobs_db.start_job_run(
                    s, team=self.name, job=HANDOVER, run_key=day.isoformat(), at=now,
                    outcome="late" if late else "done", actor=actor,
                )  # fmt: skip
                if run is None:
                    return None
                manager = self.rota.of_day(s, self.cal.next_working_day(day)).manager
                view = build_handover(s, team, self.cal, day, manager)
                pages, message = list(view.pages), view.message
                if late:
                    said = text(
                        f"(Late: posted {local_time(now, team.tz)}, because the bot was not "
                        f"running at {self.config.handover.time:%H:%M}.)"
                    )
                    pages[0] = lines([said, pages[0]])
                    message = lines([said, message])
                for page in pages:  # in order, each once: the outbox keeps both
                    q.queue_message(
                        s, team=self.name, kind="channel", target=team.channel,
                        body=page.to_json(), at=now,
                    )  # fmt: skip
                if manager and manager != actor:  # never a DM about one's own action
                    first = text(f"You're duty manager on {view.next_day:%a %d %b}.\n")
                    for i, page in enumerate(pages):
                        dm = first + page if i == 0 else page
                        q.queue_message(
                            s, team=self.name, kind="dm", target=manager, body=dm.to_json(),
                            at=now,
                        )  # fmt: skip
                if self.config.handover.email:
                    run.email_state = "pending"
                    run.email = self._email(view, message)
        except IntegrityError:
            return None  # another process posted it first
        log.info("handover for %s on %s posted", self.name, day)
        return Posted(view, manager)

    def _email(self, view: HandoverView, message: Message) -> dict[str, str]:
        body = message.plain(self.tasks.team.names)
        subject = f"Duty handover for {view.day:%a %d %b %Y}"
        if view.quiet:
            subject += ": nothing outstanding"
        page = (
            '<html><body><pre style="font-family: sans-serif; white-space: pre-wrap">'
            f"{html.escape(body)}</pre></body></html>"
        )
        return {"subject": subject, "text": body, "html": page}

    def send_emails(self, now: datetime) -> int:
        """Send handover emails still waiting; a failure is retried on the next pass."""
        if self.mailbox is None:
            return 0
        with self.tasks.db.session() as s:
            waiting = jobs_db.emails_waiting(s, self.name)
        sent = 0
        for run in waiting:
            mail = run.email
            try:
                self.mailbox.send(OutgoingEmail(mail["subject"], mail["text"], mail.get("html")))
            except MailboxError as exc:
                log.warning("handover email for %s not sent, will retry: %s", self.name, exc)
                with self.tasks.db.session() as s:
                    jobs_db.email_failed(s, run.id)
                continue
            except Exception as exc:  # the type only: the text could carry content
                log.warning(
                    "handover email for %s not sent, will retry: %s", self.name, type(exc).__name__
                )
                with self.tasks.db.session() as s:
                    jobs_db.email_failed(s, run.id)
                continue
            with self.tasks.db.session() as s:
                jobs_db.email_sent(s, run.id, now)
            sent += 1
        return sent
