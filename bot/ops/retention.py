"""Retention: email content is kept for `retention.email_content_days`, the audit trail for good.

What goes, once a task's email is older than that (counted from when the bot took it in, so
an old backlog picked up today is not purged at once), whether the task is resolved or not:
- on the task: the subject, sender, preview and attachment names. It keeps its number, state,
  flags, claimer, resolve note and Outlook link, and shows a placeholder subject, so a task
  still open can be worked (claimed, noted, resolved) as before; its card is redrawn;
- on each stored email of the task older than that: its subject, sender and attachment names
  (the Message-ID and thread ids stay, so a resend is still recognised and not made a task);
- the folder mailbox's copies of those emails in Done/ (an email still in the inbox is live
  work: it goes once resolved and moved). Each copy is found by the row that points at it (a
  second copy of an email has a row of its own). A file in Done/ that no row points at, left
  by versions that could lose track of a copy, goes too if it is a copy of an email purged
  (known by its Message-ID) and is itself older than that;
- the bot's own email copies sent longer ago than that: the handover and acknowledgements in
  Sent Items (the folder mailbox's Outbox/), and the handovers that came back into the inbox,
  through the team's mailbox (``Mailbox.remove_own_copies``: only mail with the bot's keyed
  mark). Without a mailbox this step is left out; a mailbox that fails is said in the report
  and tried again at the next purge, and the rest goes ahead;
- every message the bot posted that quoted a purged task's content (its DMs, reminders,
  handover posts, and the thread lines that showed a reply): rewritten in the chat, through
  the chat's own edit call, to say the content was removed, and scrubbed in the send queue;
- chat messages sent longer ago than that, from the send queue.
What stays: every event (who did what, when), with the notes workers wrote. Intake's own
events lose any note and the content digest in their data. Each purged task gets a
"content_purged" event.

Safe to run twice and from two processes; runs in its own database sessions.
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.kernel.config import FolderMailboxConfig, TeamConfig
from bot.kernel.message import Message, text
from bot.kernel.words import count
from bot.mail.intake import NEW_EMAIL
from bot.mail.mailbox import Mailbox, MailboxError
from bot.mail.parse import parse_email
from storage import jobs as jobs_db
from storage import retention as rq
from storage import tasks as q
from storage.db import Database
from storage.models import Outbox, Task

log = logging.getLogger(__name__)

JOB = "purge"
ACTOR = "retention"
CHUNK = 200  # tasks per transaction: a first purge of years of mail holds no long lock
MIN_QUOTE = 4  # a subject shorter than this is not looked for in messages (too many hits)


@dataclass
class PurgeReport:
    """What a purge did, or would do: counts and task numbers, never content."""

    team: str
    days: int
    cutoff: datetime
    tasks: list[int] = field(default_factory=list)
    emails: int = 0
    done_copies: int = 0
    own_copies: int | None = None  # the bot's own email copies; None: no mailbox to ask
    mailbox_problem: str | None = None  # why the mailbox could not be asked (one sentence)
    chat_messages: int = 0
    rewritten: int = 0  # posted messages that quoted purged content, rewritten in the chat

    @property
    def empty(self) -> bool:
        return not (
            self.tasks
            or self.emails
            or self.done_copies
            or self.own_copies
            or self.chat_messages
            or self.rewritten
        )

    def lines(self, tz_name: str, dry_run: bool) -> list[str]:
        from zoneinfo import ZoneInfo

        when = self.cutoff.astimezone(ZoneInfo(tz_name)).strftime("%a %d %b %Y %H:%M")
        verb = "would be" if dry_run else "were"
        older = count(self.days, "day")
        head = f"{self.team}: email content older than {older} (taken in before {when})"
        if self.empty:
            out = [f"{head}: nothing to purge."]
        else:
            out = [f"{head}:"]
            out.append(f"  {len(self.tasks)} task(s) {verb} purged: {number_ranges(self.tasks)}")
            out.append(f"  {self.emails} stored email(s) {verb} cleared")
            out.append(f"  {self.done_copies} copy(ies) in the Done folder {verb} deleted")
            out.append(f"  {self.rewritten} posted chat message(s) {verb} rewritten without it")
            out.append(f"  {self.chat_messages} sent chat message(s) {verb} dropped from the queue")
            if self.own_copies is not None:
                out.append(f"  {self.own_copies} of the bot's own email copies {verb} removed")
        if self.mailbox_problem:
            what = "counted" if dry_run else "removed"
            out.append(
                f"  The bot's own email copies could not be {what}: {self.mailbox_problem} "
                "The next purge tries again."
            )
        return out


def number_ranges(numbers: list[int]) -> str:
    """#1-#4, #7 (short, for a thousand tasks on the first purge)."""
    if not numbers:
        return "none"
    out: list[str] = []
    nums = sorted(set(numbers))
    start = prev = nums[0]
    for n in [*nums[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"#{start}" if start == prev else f"#{start}-#{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out)


def placeholder(days: int) -> dict[str, object]:
    return {
        "subject": f"(email content removed after {count(days, 'day')})",
        "sender": "(removed)",
        "preview": "",
        "attachments": [],
    }


@dataclass(frozen=True)
class Folders:
    """Where the folder mailbox keeps its copies; None for Exchange mailboxes."""

    done: Path | None = None

    @classmethod
    def of(cls, team: TeamConfig) -> Folders:
        mb = team.mailbox
        if isinstance(mb, FolderMailboxConfig):
            return cls(Path(mb.path) / mb.done_folder)
        return cls()


def purge(
    db: Database,
    team: TeamConfig,
    days: int,
    now: datetime,
    *,
    dry_run: bool = False,
    mailbox: Mailbox | None = None,
) -> PurgeReport:
    """Purge (or, with ``dry_run``, only count) the email content of ``team`` older than
    ``days`` days at ``now``; with ``mailbox``, the bot's own email copies in it too."""
    cutoff = now - timedelta(days=days)
    report = PurgeReport(team.name, days, cutoff)
    folders = Folders.of(team)
    if dry_run:
        _plan(db, team.name, folders, report)
        _own_copies(team.name, mailbox, report, dry_run=True)
        return report
    quoted: list[Quoted] = []
    while True:
        with db.session() as s:
            due = rq.tasks_due(s, team.name, cutoff, CHUNK)
            if not due:
                break
            quoted += [Quoted(t.id, t.subject) for t in due]
            report.tasks += _purge_tasks(s, team.name, [t.id for t in due], days, now)
    report.rewritten = _rewrite_posted(db, team.name, quoted, days, now)
    with db.session() as s:
        report.emails = rq.purge_emails(s, team.name, cutoff, now)
        report.chat_messages = rq.delete_sent_messages(s, team.name, cutoff)
    report.done_copies = _delete_done_copies(db, team.name, folders.done)
    report.done_copies += _strays(db, team.name, folders.done, cutoff, delete=True)
    _own_copies(team.name, mailbox, report, dry_run=False)  # last: a slow mailbox holds up nothing
    if not report.empty:
        log.info(
            "retention %s: purged %d task(s), %d email(s), %d Done copy(ies), %d own email "
            "copy(ies), %d chat message(s)", team.name, len(report.tasks), report.emails,
            report.done_copies, report.own_copies or 0, report.chat_messages,
        )  # fmt: skip
    return report


def _own_copies(team: str, mailbox: Mailbox | None, report: PurgeReport, *, dry_run: bool) -> None:
    """The bot's own copies in the mailbox. A mailbox that is down or refuses is said in the
    report and logged, and does not stop the purge: the next one tries again."""
    if mailbox is None:
        return
    try:
        report.own_copies = mailbox.remove_own_copies(report.cutoff, dry_run=dry_run)
    except (MailboxError, OSError) as exc:
        # A MailboxError is one plain sentence with no email content; an OSError only its kind.
        said = (
            str(exc)
            if isinstance(exc, MailboxError)
            else f"the mailbox folder could not be changed ({type(exc).__name__})."
        )
        report.mailbox_problem = said
        log.warning("retention %s: the bot's own email copies were left for now: %s", team, said)


def _purge_tasks(s: Session, team: str, task_ids: list[int], days: int, now: datetime) -> list[int]:
    done: list[int] = []
    for task_id in task_ids:
        if not rq.purge_task(s, task_id, now, placeholder(days)):
            continue  # another run got there first
        task = s.get(Task, task_id)
        q.add_event(
            s, team=team, task_id=task_id, actor=ACTOR, kind="content_purged", at=now,
            note=f"Email content removed after {count(days, 'day')}.", data={"days": days},
        )  # fmt: skip
        done.append(task.number if task else 0)
    for ev in rq.mailbox_events(s, task_ids):
        ev.note = ""
        if isinstance(ev.data, dict) and "digest" in ev.data:
            ev.data = {k: v for k, v in ev.data.items() if k != "digest"}
    return done


@dataclass(frozen=True)
class Quoted:
    """A task whose content goes now, as messages may have quoted it."""

    task_id: int
    subject: str


def _quoting(s: Session, team: str, quoted: list[Quoted]) -> list[Outbox]:
    """The sent messages that quoted any of ``quoted``: its subject, or (in its thread) a
    reply's own lines."""
    if not quoted:
        return []
    ids = {x.task_id for x in quoted}
    subjects = [x.subject for x in quoted if len(x.subject) >= MIN_QUOTE]
    found = []
    for row in rq.posted_messages(s, team):
        said = Message.from_json(row.body).plain()
        shown_email = row.task_id in ids and said.startswith(NEW_EMAIL)
        if shown_email or any(subject in said for subject in subjects):
            found.append(row)
    return found


def _rewrite_posted(db: Database, team: str, quoted: list[Quoted], days: int, now: datetime) -> int:
    """Rewrite, in the chat, every message the bot posted that quoted purged content, and
    scrub its copy in the send queue. Safe to run twice: a scrubbed row is not found again."""
    notice = text(
        f"(This message quoted email content, which was removed after {count(days, 'day')}.)"
    ).with_fallback("A message from dutybot: content removed")
    with db.session() as s:
        rows = _quoting(s, team, quoted)
        for row in rows:
            row.body, row.scrubbed_at = notice.to_json(), now
            if row.posted_channel and row.posted_ts:
                q.queue_message(
                    s, team=team, kind="edit", body=notice.to_json(), at=now,
                    task_id=row.task_id, posted=(row.posted_channel, row.posted_ts),
                )  # fmt: skip
    return len(rows)


def _plan(db: Database, team: str, folders: Folders, report: PurgeReport) -> None:
    cutoff = report.cutoff
    with db.session() as s:
        due = rq.tasks_due(s, team, cutoff)
        report.tasks = [t.number for t in due]
        quoted = [Quoted(t.id, t.subject) for t in due]
        report.rewritten = len(_quoting(s, team, quoted))
        report.emails = rq.count_emails_due(s, team, cutoff)
        report.chat_messages = rq.count_sent_messages(s, team, cutoff)
        items = rq.done_copies_due(s, team, cutoff)
    if folders.done is not None:
        report.done_copies = sum(1 for item in items if _done_path(folders.done, item))
        report.done_copies += _strays(db, team, folders.done, cutoff, delete=False)


def _done_path(done: Path, item_id: str) -> Path | None:
    """The file in Done/ for an item id, if it is there (never anything outside Done/)."""
    path = done / Path(item_id).name
    if Path(item_id).parent.name != done.name or not path.is_file():
        return None
    return path


def _delete_done_copies(db: Database, team: str, done: Path | None) -> int:
    if done is None:
        return 0
    deleted = 0
    while True:
        with db.session() as s:
            batch = rq.done_copies(s, team)
        if not batch:
            return deleted
        for email_id, item_id in batch:
            path = _done_path(done, item_id)
            if path is not None:
                path.unlink(missing_ok=True)
                deleted += 1
            with db.session() as s:
                rq.forget_item(s, email_id)


def _strays(db: Database, team: str, done: Path | None, cutoff: datetime, *, delete: bool) -> int:
    """Copies in Done/ that no row points at: an older version could lose track of one (a
    twin, or a poll that read it just before it moved, took its row over). Each is known by
    its Message-ID (or its raw bytes, with none): it goes if that email's content is purged
    (or due, for a dry run) and the file is older than ``cutoff`` itself. Anything else in
    Done/ (an email not on record, or one whose content is kept) is left alone."""
    if done is None or not done.is_dir():
        return 0
    found = 0
    for path in sorted(done.iterdir()):
        if path.name.startswith(".") or not _written_before(path, cutoff):
            continue
        with db.session() as s:
            if q.known_item(s, team, f"{done.name}/{path.name}"):
                continue  # on record: its row says when it goes
        try:
            mime = path.read_bytes()
        except OSError:
            continue
        message_id = parse_email(mime, body_limit=0).message_id
        with db.session() as s:
            if not rq.purged_or_due(s, team, message_id, cutoff):
                continue
        if delete:
            path.unlink(missing_ok=True)
        found += 1
    return found


def _written_before(path: Path, cutoff: datetime) -> bool:
    """A file (not a folder) last written before ``cutoff``; a move keeps that time."""
    try:
        found = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and datetime.fromtimestamp(found.st_mtime, UTC) < cutoff


def purge_due(
    db: Database, team: TeamConfig, days: int, now: datetime, mailbox: Mailbox | None = None
) -> PurgeReport | None:
    """The daily purge: once per local day per team, recorded in job_runs after it has run
    (so a crash mid-purge runs it again; the purge itself is idempotent). A mailbox that could
    not be asked does not hold the day back: its copies wait for the next day's purge."""
    day: date = now.astimezone(team.tz).date()
    with db.session() as s:
        if jobs_db.job_run(s, team.name, JOB, day.isoformat()) is not None:
            return None
    report = purge(db, team, days, now, mailbox=mailbox)
    try:
        with db.session() as s:
            jobs_db.start_job_run(s, team=team.name, job=JOB, run_key=day.isoformat(), at=now)
    except IntegrityError:
        pass  # another process recorded today's purge as well; the work was done once
    return report
