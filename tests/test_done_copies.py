"""Every copy of a resolved email reaches Done/, and an aged purge leaves none anywhere.

The folder mailbox reads the whole inbox on every poll, and `dutybot run` moves resolved mail
from another thread while a poll may be in hand. Two things used to lose a copy: a twin in the
inbox (the same email saved twice) took over its email's row once the first moved, and a poll
that read a file just before it moved pointed the row back at the old name. Either way the
copy in Done/ had no row pointing at it, so no purge would ever remove it.

Runs the real wiring (DutyBot, the folder mailbox, the purge) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.mail import intake
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.mailbox import Batch
from bot.mail.parse import parse_email
from bot.mail.watcher import SyncResult, move_resolved
from bot.ops.retention import PurgeReport, purge
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Task
from tests.bot_process import BotProcess, sqlite_database, until
from tests.conftest import TEAM
from tests.corpus.build import corpus
from tests.fakes.slack_api import FakeSlack
from tests.mail import make_email

NAME = str(TEAM["name"])
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class MovedWhileReading:
    """The folder mailbox, with the mover (the runner's move loop) running between a poll's
    reading of the inbox and the intake of what it read: the worst moment for it."""

    def __init__(self, db: Database, inner: FolderMailbox) -> None:
        self.db, self.inner = db, inner

    def poll(self, checkpoint: str | None) -> Batch:
        batch = self.inner.poll(checkpoint)
        move_resolved(self.db, NAME, self.inner)
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def lost_copies(db: Database, inbox: Path) -> tuple[list[str], list[str]]:
    """(moved rows whose item is not in Done/, files in Done/ that no row points at)."""
    with db.session() as s:
        moved = list(s.scalars(select(Email.item_id).where(Email.move_state == "moved")))
    on_record = {str(i) for i in moved if i}
    in_done = {f"Done/{p.name}" for p in (inbox / "Done").glob("*") if p.is_file()}
    return sorted(on_record - in_done), sorted(in_done - on_record)


def every_file(inbox: Path) -> list[str]:
    """Every email file in the inbox folder and its Done/ (not the handover's Outbox/)."""
    found = (str(p.relative_to(inbox)) for p in inbox.rglob("*") if p.is_file())
    return sorted(f for f in found if not f.startswith("Outbox/"))


class Desk:
    """A team on a folder inbox: mail arrives, tasks are resolved, time passes, purge."""

    def __init__(self, db: Database, tmp: Path, *, racing: bool = False) -> None:
        self.db = db
        self.inbox = tmp / "inbox"
        self.inbox.mkdir()
        self.clock = ManualClock(START)
        self.cfg = parse_config(
            {"teams": [{**TEAM, "mailbox": {"kind": "folder", "path": str(self.inbox)}}]}
        )
        self.bot = DutyBot(self.cfg, clock=self.clock, db=db).start()
        if racing:
            team = self.bot.team()
            assert isinstance(team.mailbox, FolderMailbox)
            team.mailbox = MovedWhileReading(db, team.mailbox)  # type: ignore[assignment]

    def drop(self, name: str, mime: bytes) -> None:
        (self.inbox / name).write_bytes(mime)

    def poll(self) -> SyncResult:
        return self.bot.check_mail(NAME)

    def resolve_all(self) -> None:
        with self.db.session() as s:
            numbers = list(s.scalars(select(Task.number).where(Task.state != "resolved")))
        for n in numbers:
            self.bot.team().tasks.resolve("sam", n, "done")

    def purge_after(self, days: int, *, dry_run: bool = False) -> PurgeReport:
        self.clock.set(self.clock.now() + timedelta(days=days))
        return purge(self.db, self.cfg.team(), 30, self.clock.now(), dry_run=dry_run)

    def files(self) -> list[str]:
        return every_file(self.inbox)

    def lost(self) -> tuple[list[str], list[str]]:
        return lost_copies(self.db, self.inbox)


@pytest.mark.parametrize("racing", [False, True], ids=["polled", "moved-while-reading"])
def test_the_hostile_corpus_leaves_no_copy_anywhere_after_an_aged_purge(
    db: Database, tmp_path: Path, racing: bool
) -> None:
    desk = Desk(db, tmp_path, racing=racing)
    mails = corpus()
    for m in mails:
        desk.drop(m.name, m.mime)
    desk.poll()
    desk.poll()  # the folder mailbox sees every file again on each poll
    desk.resolve_all()
    for _ in range(3):
        desk.poll()

    # A clash (another email reusing a Message-ID) was never taken in: it stays for people.
    clashes = sorted(m.name for m in mails if m.same_content is False)
    assert desk.files() == sorted(
        [f"Done/{m.name}" for m in mails if m.same_content is not False] + clashes
    )
    assert desk.lost() == ([], [])  # every copy in Done/ is on record, and where it says

    report = desk.purge_after(31)
    assert desk.files() == clashes  # nothing left in Done/, nor in the inbox
    assert report.done_copies == len(mails) - len(clashes)


def test_a_twin_goes_to_done_with_its_email_and_is_not_read_again_meanwhile(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(db, tmp_path)
    mime = make_email(message_id="<twin@x>")
    desk.drop("a.eml", mime)
    desk.drop("copy-of-a.eml", mime)  # the same email saved twice
    assert desk.poll().new == [1]

    read: list[bytes] = []
    parse = intake.parse_email
    monkeypatch.setattr(intake, "parse_email", lambda b: read.append(b) or parse(b))
    for _ in range(3):
        desk.poll()
    assert read == []  # both are known: neither is parsed and compared on every poll

    desk.bot.team().tasks.resolve("sam", 1, "done")
    desk.poll()
    assert desk.files() == ["Done/a.eml", "Done/copy-of-a.eml"]
    assert desk.lost() == ([], [])
    plan = desk.purge_after(31, dry_run=True)
    done = desk.purge_after(0)
    # one email in two files: the report counts it once, and both files go
    assert (plan.emails, plan.done_copies) == (done.emails, done.done_copies) == (1, 2)
    assert desk.files() == []


def test_a_twin_arriving_after_the_task_was_resolved_follows_it_to_done(
    db: Database, tmp_path: Path
) -> None:
    desk = Desk(db, tmp_path)
    mime = make_email(message_id="<late@x>")
    desk.drop("a.eml", mime)
    desk.poll()
    desk.bot.team().tasks.resolve("sam", 1, "done")
    desk.poll()
    desk.drop("resent.eml", mime)  # the sender's client sent it again
    desk.poll()
    with db.session() as s:
        assert s.scalars(select(Task.state)).one() == "resolved"  # a resend reopens nothing
    assert desk.files() == ["Done/a.eml", "Done/resent.eml"]
    desk.purge_after(31)
    assert desk.files() == []


def test_an_email_reusing_the_id_of_a_purged_one_is_not_moved_to_done_unseen(
    db: Database, tmp_path: Path
) -> None:
    desk = Desk(db, tmp_path)
    desk.drop("a.eml", make_email(message_id="<form@x>"))
    desk.poll()
    desk.bot.team().tasks.resolve("sam", 1, "done")
    desk.poll()
    desk.purge_after(31)
    # A broken form mailer gives every email the same Message-ID. With the first one's
    # content purged, nothing tells a resend from another email: it stays where people see it.
    desk.drop("b.eml", make_email("Another referral", message_id="<form@x>"))
    desk.poll()
    desk.poll()
    assert desk.files() == ["b.eml"]


def test_a_poll_that_read_an_email_just_before_it_moved_leaves_the_row_on_its_done_copy(
    db: Database, tmp_path: Path
) -> None:
    desk = Desk(db, tmp_path, racing=True)
    desk.drop("a.eml", make_email(message_id="<a@x>"))
    desk.poll()
    desk.bot.team().tasks.resolve("sam", 1, "done")
    desk.poll()  # reads a.eml; the mover moves it to Done/; then the poll takes in what it read
    assert desk.files() == ["Done/a.eml"]
    assert desk.lost() == ([], [])
    assert desk.purge_after(31).done_copies == 1
    assert desk.files() == []


@pytest.mark.slow
def test_the_hostile_corpus_through_dutybot_run_leaves_no_copy_after_an_aged_purge(
    tmp_path: Path, bots: list[BotProcess]
) -> None:
    """The measurement of issue 14 as it was made: `dutybot run` (its mail and move loops in
    their own threads) on a folder inbox, every task resolved with /duty resolve, the purge
    31 days on. It left copies in Done/ that no row pointed at, and twins in the inbox."""
    mails = corpus()
    clashes = sorted(m.name for m in mails if m.same_content is False)
    wanted = {parse_email(m.mime).message_id for m in mails}
    with sqlite_database(tmp_path) as db, FakeSlack() as fake:
        bot = BotProcess(db, fake, tmp_path)
        bots.append(bot)
        for m in mails:  # written aside, then renamed in: a poll never reads half a file
            (bot.inbox / f".{m.name}").write_bytes(m.mime)
            (bot.inbox / f".{m.name}").rename(bot.inbox / m.name)
        bot.start()

        def stored() -> set[str]:
            with db.session() as s:
                return set(s.scalars(select(Email.message_id).where(~q.is_copy())))

        until(lambda: stored() >= wanted, 120, "every email to be taken in")
        with db.session() as s:
            numbers = list(s.scalars(select(Task.number).order_by(Task.number)))
        for n in numbers:
            assert bot.duty(f"resolve {n} done").status_code == 200
        moved = sorted([f"Done/{m.name}" for m in mails if m.same_content is not False] + clashes)
        until(lambda: every_file(bot.inbox) == moved, 60, "every email to move to Done/")
        time.sleep(2)  # a few more polls of the inbox, each racing the mover
        assert bot.stop(signal.SIGTERM) == 0
        assert every_file(bot.inbox) == moved
        assert lost_copies(db, bot.inbox) == ([], [])

        cfg = parse_config(
            {"teams": [{**TEAM, "mailbox": {"kind": "folder", "path": str(bot.inbox)}}]}
        )
        report = purge(db, cfg.team(), 30, datetime.now(UTC) + timedelta(days=31))
    assert every_file(bot.inbox) == clashes  # nothing in Done/, nor left in the inbox
    assert report.done_copies == len(mails) - len(clashes)
