"""Retention and audit: the purge of old email content, its daily job, and the two commands.

Runs the real wiring (DutyBot with a folder mailbox, the shell chat adapter) on SQLite and
PostgreSQL. The email text is made of made-up words, so "is it still anywhere?" is a plain
search of every row of every table.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.mail.adapters.ews import EwsMailbox
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.mailbox import Mailbox, MailboxError, OutgoingEmail
from bot.ops.retention import number_ranges, purge
from handlers.cli import main
from handlers.shell import ShellChat
from storage.db import Database
from storage.models import Base, Email, Event, JobRun, Task
from tests.bot_process import database_url
from tests.conftest import TEAM
from tests.fakes.ews_server import FakeEws
from tests.mail import email_message
from tests.test_ews_mailbox import settings_for

DAY = timedelta(days=1)
LONDON = ZoneInfo("Europe/London")
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
# Words that only the emails contain (the workers' notes use none of them).
FIRST = ("Zebracorn", "Quillfeather", "Marigold", "marigold@example.org", "Brambleton")
SECOND = ("Oakhollow", "Pemberton", "pf@example.org", "Thistledown")
REPLY = ("Nettlebury", "Wilhelmina", "crumb@example.org")


def email(
    subject: str,
    body: str,
    sender: str,
    mid: str,
    *,
    reply_to: str | None = None,
    attachment: str | None = None,
    date: datetime = START,
) -> bytes:
    msg = email_message(
        subject,
        body,
        sender=sender,
        message_id=mid,
        date=date.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        in_reply_to=reply_to,
    )
    if attachment:
        msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename=attachment)
    return bytes(msg)


class TeamAtWork:
    """The bot as a team uses it: mail arrives, people type commands, the chat shows it."""

    def __init__(self, db: Database, tmp: Path, clock: ManualClock, days: int = 30) -> None:
        self.inbox = tmp / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.cfg = parse_config(
            {
                "retention": {"email_content_days": days},
                "teams": [{**TEAM, "mailbox": {"kind": "folder", "path": str(self.inbox)}}],
            }
        )
        self.bot = DutyBot(self.cfg, clock=clock, db=db).start()
        self.db = db
        self.out = io.StringIO()
        self.chat = ShellChat(self.out, self.cfg.team().names)

    def arrive(self, name: str, mime: bytes) -> None:
        (self.inbox / name).write_bytes(mime)
        self.tick()

    def do(self, who: str, line: str) -> str:
        reply = self.bot.team().command(who, line).plain()
        self.tick()
        return reply

    def tick(self) -> None:
        self.bot.check_mail(TEAM["name"])
        self.bot.deliver(TEAM["name"], self.chat)

    def later(self, days: int) -> None:
        self.clock.set(self.clock.now() + days * DAY)

    def purge(self, dry_run: bool = False, mailbox: Mailbox | None = None) -> Any:
        team = self.cfg.team()
        return purge(self.db, team, self.cfg.retention.email_content_days, self.clock.now(),
                     dry_run=dry_run, mailbox=mailbox)  # fmt: skip

    def task(self, number: int) -> Task:
        with self.db.session() as s:
            return s.scalars(select(Task).where(Task.number == number)).one()

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.inbox)) for p in self.inbox.rglob("*") if p.is_file())


def dump(db: Database) -> str:
    """Every row of every table, as text."""
    out = []
    with db.session() as s:
        for table in Base.metadata.sorted_tables:
            out += [repr(tuple(row)) for row in s.execute(table.select())]
    return "\n".join(out)


def found(db: Database, words: tuple[str, ...]) -> list[str]:
    everything = dump(db)
    return [w for w in words if w in everything]


@pytest.fixture
def work(db: Database, tmp_path: Path) -> TeamAtWork:
    """Two tasks taken in on day 0: #1 worked and resolved (its email moves to Done), #2
    alerted and left open. A reply to #2 comes on day 25."""
    d = TeamAtWork(db, tmp_path, ManualClock(START))
    d.arrive(
        "01.eml",
        email("Zebracorn rent arrears", "Please call Quillfeather on 07700 900123.",
              "Marigold Tumbleweed <marigold@example.org>", "<a@x>",
              attachment="tenancy-Brambleton.pdf"),
    )  # fmt: skip
    d.arrive(
        "02.eml",
        email("Welfare check for Oakhollow", "Thistledown was seen at the park.",
              "Pemberton Fizzwick <pf@example.org>", "<b@x>"),
    )  # fmt: skip
    assert d.do("sam", "/duty claim 1") == "You've claimed #1."
    d.do("sam", "/duty note 1 rang the landlord")
    d.do("sam", "/duty resolve 1 recorded on Mosaic")
    d.do("alex", "/duty alert 2 @priya please call back")
    assert d.files() == ["02.eml", "Done/01.eml"]
    d.later(25)
    d.arrive(
        "03.eml",
        email("Re: an update from Nettlebury", "More news.", "Wilhelmina Crumb <crumb@example.org>",
              "<c@x>", reply_to="<b@x>", date=d.clock.now()),
    )  # fmt: skip
    assert found(db, FIRST + SECOND + REPLY) == list(FIRST + SECOND + REPLY)
    return d


def events(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.scalars(select(Event).order_by(Event.id))
        return [(e.actor, e.kind, e.note) for e in rows]


def test_purge_clears_content_keeps_the_trail_and_removes_done_copies(work: TeamAtWork) -> None:
    before = events(work.db)
    work.later(6)  # day 31: #1 and #2 are past 30 days; the reply on #2 is 6 days old
    report = work.purge()
    assert (report.tasks, report.emails, report.done_copies) == ([1, 2], 2, 1)
    assert found(work.db, FIRST + SECOND) == []
    assert found(work.db, REPLY) == list(REPLY)  # the young reply keeps its details
    assert work.files() == ["02.eml", "03.eml"]  # Done/ copy gone; open work stays in the inbox

    one, two = work.task(1), work.task(2)
    assert one.subject == two.subject == "(email content removed after 30 days)"
    assert (one.preview, one.attachments, one.sender) == ("", [], "(removed)")
    assert (one.state, one.resolved_by, one.resolve_note) == (
        "resolved",
        "sam",
        "recorded on Mosaic",
    )
    # every event is still there, with the workers' notes, plus one "content purged" each
    after = events(work.db)
    assert after[: len(before)] == before
    assert (
        after[len(before) :]
        == [
            ("retention", "content_purged", "Email content removed after 30 days."),
        ]
        * 2
    )
    assert ("sam", "noted", "rang the landlord") in after
    assert ("alex", "alerted", "please call back") in after


def test_a_copy_in_done_an_older_version_lost_track_of_goes_too(work: TeamAtWork) -> None:
    # Older versions let a poll point #1's email back at its inbox name after it had moved, so
    # no row pointed at its copy in Done/ any more and no purge removed it.
    with work.db.session() as s:
        s.scalars(select(Email).where(Email.message_id == "a@x")).one().item_id = "01.eml"
    done = work.inbox / "Done"
    # beside it: an email of no task, and a young one reusing #1's Message-ID, put there by hand
    (done / "unknown.eml").write_bytes(email("x", "Zebracorn", "z@example.org", "<z@x>"))
    (done / "young.eml").write_bytes(email("Re", "Zebracorn", "z@example.org", "<a@x>"))
    written = {"01.eml": START, "unknown.eml": START, "young.eml": START + 2 * DAY}
    for name, at in written.items():
        os.utime(done / name, (at.timestamp(), at.timestamp()))
    work.later(6)
    plan = work.purge(dry_run=True)
    report = work.purge()
    assert plan.done_copies == report.done_copies == 1
    assert work.files() == ["02.eml", "03.eml", "Done/unknown.eml", "Done/young.eml"]


def test_a_purged_open_task_can_still_be_worked(work: TeamAtWork) -> None:
    work.later(6)
    work.purge()
    work.out.truncate(0)
    work.tick()
    assert "~ card #2 now:" in work.out.getvalue()  # the card is redrawn without the content
    assert work.do("priya", "/duty claim 2") == "You've claimed #2."
    shown = work.do("priya", "/duty show 2")
    assert "#2 (email content removed after 30 days)" in shown
    assert "content purged by @retention: Email content removed after 30 days." in shown
    assert work.do("priya", "/duty resolve 2 passed to the allocated worker").startswith("#2 is")
    work.tick()
    assert work.files() == ["Done/02.eml", "Done/03.eml"]
    work.later(1)
    again = work.purge()
    assert again.done_copies == 1  # #2's own email, purged already, goes as soon as it moves
    assert work.files() == ["Done/03.eml"]  # the reply is 7 days old: it stays for now
    work.later(24)
    last = work.purge()
    assert (last.tasks, last.emails, last.done_copies) == ([], 1, 1)
    assert found(work.db, FIRST + SECOND + REPLY) == [] and work.files() == []


def test_a_dry_run_changes_nothing_and_says_what_would_go(work: TeamAtWork) -> None:
    work.later(6)
    rows, files = dump(work.db), work.files()
    plan = work.purge(dry_run=True)
    assert dump(work.db) == rows and work.files() == files
    done = work.purge()
    assert (plan.tasks, plan.emails, plan.done_copies, plan.chat_messages) == (
        done.tasks, done.emails, done.done_copies, done.chat_messages,
    )  # fmt: skip
    assert plan.chat_messages > 0  # the alert DM quoting the subject, sent on day 0


def test_twice_is_the_same_as_once(work: TeamAtWork) -> None:
    work.later(6)
    work.purge()
    rows, files = dump(work.db), work.files()
    again = work.purge()
    assert again.empty
    assert dump(work.db) == rows and work.files() == files


def test_too_young_to_purge_stays(work: TeamAtWork) -> None:
    work.later(4)  # day 29
    assert work.purge().empty
    assert found(work.db, FIRST + SECOND) == list(FIRST + SECOND)


def test_an_old_backlog_taken_in_today_keeps_its_content_for_the_full_period(
    db: Database, tmp_path: Path
) -> None:
    d = TeamAtWork(db, tmp_path, ManualClock(START))
    d.arrive("old.eml", email("Zebracorn backlog", "Quillfeather", "marigold@example.org", "<o@x>",
                              date=START - 90 * DAY))  # fmt: skip
    assert d.task(1).received_at == START - 90 * DAY
    assert d.purge().empty
    d.later(31)
    assert d.purge().tasks == [1]


def test_the_daily_job_purges_once_a_day(work: TeamAtWork) -> None:
    jobs = work.bot.team().jobs
    assert jobs is not None
    work.later(6)
    assert jobs.run_due(work.clock.now()).purged == 2
    assert found(work.db, FIRST + SECOND) == []
    assert jobs.run_due(work.clock.now() + timedelta(hours=1)).purged == 0
    with work.db.session() as s:
        runs = s.scalars(select(JobRun.run_key).where(JobRun.job == "purge")).all()
    assert runs == ["2026-12-24"]
    work.later(1)
    jobs.run_due(work.clock.now())
    with work.db.session() as s:
        assert s.scalar(select(func.count()).where(JobRun.job == "purge")) == 2


def test_old_handover_copies_in_outbox_go_too(db: Database, tmp_path: Path) -> None:
    d = TeamAtWork(db, tmp_path, ManualClock(START))
    box = FolderMailbox(d.inbox)
    box.send(OutgoingEmail("Duty handover", "#1 Zebracorn rent arrears"))
    (copy,) = (d.inbox / "Outbox").iterdir()
    written = datetime.strptime(copy.name[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    team = d.cfg.team()
    assert purge(db, team, 30, written + 29 * DAY, mailbox=box).own_copies == 0
    assert purge(db, team, 30, written + 31 * DAY, dry_run=True, mailbox=box).own_copies == 1
    assert copy.exists()
    assert purge(db, team, 30, written + 31 * DAY, mailbox=box).own_copies == 1
    assert not copy.exists()


class DownOnce(FolderMailbox):
    """A folder mailbox that cannot be reached the first time the purge asks it."""

    down = True

    def remove_own_copies(self, before: datetime, *, dry_run: bool = False) -> int:
        if self.down:
            self.down = False
            raise MailboxError("The mailbox can't be reached.")
        return super().remove_own_copies(before, dry_run=dry_run)


def written_at(copy: Path) -> datetime:
    return datetime.strptime(copy.name[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def noon_in_london(at: datetime) -> datetime:
    """Midday of ``at``'s day in London, the team's time zone (its days are the purge's)."""
    local = at.astimezone(LONDON)
    return datetime.combine(local.date(), time(12), tzinfo=LONDON)


def test_the_daily_purge_removes_the_bots_own_copies_a_day_late_if_the_mailbox_is_down(
    db: Database, tmp_path: Path
) -> None:
    d = TeamAtWork(db, tmp_path, ManualClock(START))
    jobs = d.bot.team().jobs
    assert jobs is not None
    jobs.mailbox = DownOnce(d.inbox)
    jobs.mailbox.send(OutgoingEmail("Duty handover", "#1 Zebracorn rent arrears"))
    (copy,) = (d.inbox / "Outbox").iterdir()
    day = noon_in_london(written_at(copy) + 32 * DAY)  # so an hour later is the same day
    assert "purge" not in jobs.run_due(day).failed  # the rest of the purge went ahead
    assert copy.exists()
    jobs.run_due(day + timedelta(hours=1))  # today's purge is done: tomorrow tries again
    assert copy.exists()
    jobs.run_due(day + DAY)
    assert not copy.exists()


def test_an_exchange_mailbox_that_is_down_does_not_stop_the_purge(
    work: TeamAtWork, ews: FakeEws
) -> None:
    with EwsMailbox(settings_for(ews)) as box:
        box.send(OutgoingEmail("Duty handover for Mon 23 Nov", "#1 Zebracorn rent arrears"))
        ews.age(datetime.now(UTC) - START)  # sent on day 0, with the tasks' emails
        work.later(6)
        ews.down = True
        report = work.purge(mailbox=box)
        assert (report.tasks, report.own_copies) == ([1, 2], None)
        assert found(work.db, FIRST + SECOND) == []
        said = report.lines("Europe/London", dry_run=False)
        assert said[-1].startswith("  The bot's own email copies could not be removed: Exchange ")
        assert said[-1].endswith(" The next purge tries again.")
        assert len(ews.folder_items("sentitems")) == 1
        ews.down = False
        again = work.purge(mailbox=box)
        assert (again.tasks, again.own_copies) == ([], 2)  # Sent Items, and the inbox's copy
        assert "  2 of the bot's own email copies were removed" in again.lines(
            "Europe/London", dry_run=False
        )
    assert ews.folder_items("sentitems") == [] and ews.inbox_items() == []


def test_a_one_day_setting_says_one_day(db: Database, tmp_path: Path) -> None:
    d = TeamAtWork(db, tmp_path, ManualClock(START), days=1)
    d.arrive("01.eml", email("Zebracorn", "x", "marigold@example.org", "<a@x>"))
    d.later(2)
    plan = d.purge(dry_run=True).lines("Europe/London", dry_run=True)
    assert plan[0].startswith(f"{TEAM['name']}: email content older than 1 day (taken in before")
    d.purge()
    assert d.task(1).subject == "(email content removed after 1 day)"
    assert events(db)[-1] == ("retention", "content_purged", "Email content removed after 1 day.")


def test_number_ranges_stay_short() -> None:
    assert number_ranges([7, 1, 2, 3, 4, 9, 10]) == "#1-#4, #7, #9-#10"
    assert number_ranges([]) == "none"


# ---- the commands ----------------------------------------------------------------------------


def cli_config(db: Database, tmp: Path, inbox: Path, mailbox: str | None = None) -> Path:
    """A config file for the CLI pointing at the test's database (its schema on PostgreSQL),
    with a folder mailbox at ``inbox`` unless ``mailbox`` gives other [teams.mailbox] lines."""
    path = tmp / "dutybot.toml"
    box = mailbox or f'kind = "folder"\npath = "{inbox}"\n'
    path.write_text(
        f'[database]\nurl = "{database_url(db)}"\n[retention]\nemail_content_days = 30\n'
        f'[[teams]]\nname = "{TEAM["name"]}"\nchannel = "C0DUTY"\n'
        f'members = ["sam", "alex", "priya"]\nmanagers = ["jo"]\n'
        f'[teams.names]\njo = "Jo"\n'
        f"[teams.mailbox]\n{box}"
    )
    return path


def test_purge_commands(db: Database, tmp_path: Path) -> None:
    # the commands use the real time: make the duty day 40 days ago
    d = TeamAtWork(db, tmp_path, ManualClock(datetime.now(UTC).replace(microsecond=0) - 40 * DAY))
    d.arrive("01.eml", email("Zebracorn rent", "Quillfeather", "Marigold <marigold@example.org>",
                             "<a@x>", date=d.clock.now()))  # fmt: skip
    d.do("sam", "/duty resolve 1 done")
    cfg = cli_config(db, tmp_path, d.inbox)
    runner = CliRunner()
    rows = dump(db)

    dry = runner.invoke(main, ["purge", "--dry-run", "--config", str(cfg)])
    assert dry.exit_code == 0, dry.output
    assert "1 task(s) would be purged: #1" in dry.output
    assert "1 copy(ies) in the Done folder would be deleted" in dry.output
    assert "Dry run: nothing was changed." in dry.output
    assert not [w for w in FIRST if w in dry.output]  # counts and numbers, never content
    assert dump(db) == rows and d.files() == ["Done/01.eml"]

    done = runner.invoke(main, ["purge", "--config", str(cfg)])
    assert done.exit_code == 0, done.output
    assert "1 task(s) were purged: #1" in done.output
    assert found(db, FIRST) == [] and d.files() == []
    again = runner.invoke(main, ["purge", "--config", str(cfg)])
    assert "nothing to purge" in again.output


def test_purge_commands_remove_the_bots_own_copies(db: Database, tmp_path: Path) -> None:
    d = TeamAtWork(db, tmp_path, ManualClock(datetime.now(UTC) - 40 * DAY))
    FolderMailbox(d.inbox).send(OutgoingEmail("Duty handover", "#1 Zebracorn rent arrears"))
    (copy,) = (d.inbox / "Outbox").iterdir()
    old = copy.rename(copy.with_name(f"{d.clock.now():%Y%m%dT%H%M%S%f}-handover.eml"))
    cfg = cli_config(db, tmp_path, d.inbox)
    runner = CliRunner()

    dry = runner.invoke(main, ["purge", "--dry-run", "--config", str(cfg)])
    assert dry.exit_code == 0, dry.output
    assert "  1 of the bot's own email copies would be removed" in dry.output
    assert old.exists()
    done = runner.invoke(main, ["purge", "--config", str(cfg)])
    assert "  1 of the bot's own email copies were removed" in done.output
    assert not old.exists()


def test_purge_commands_go_ahead_when_a_mailbox_cannot_be_reached(
    db: Database, tmp_path: Path, ews: FakeEws, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = TeamAtWork(db, tmp_path, ManualClock(datetime.now(UTC).replace(microsecond=0) - 40 * DAY))
    d.arrive("01.eml", email("Zebracorn rent", "Quillfeather", "Marigold <marigold@example.org>",
                             "<a@x>", date=d.clock.now()))  # fmt: skip
    monkeypatch.setenv("TEST_EWS_PASSWORD", ews.password)
    ews.down = True
    cfg = cli_config(
        db, tmp_path, d.inbox,
        f'kind = "ews"\naddress = "{ews.address}"\nendpoint = "{ews.endpoint}"\n'
        f'auth = "basic"\nusername = "{ews.username}"\npassword_env = "TEST_EWS_PASSWORD"\n'
        "max_retry_seconds = 1\n",
    )  # fmt: skip
    down = CliRunner().invoke(main, ["purge", "--config", str(cfg)])
    assert down.exit_code == 0, down.output
    assert "1 task(s) were purged: #1" in down.output
    assert "  The bot's own email copies could not be removed: Exchange at 127.0.0.1" in down.output
    assert found(db, FIRST) == []

    monkeypatch.delenv("TEST_GRAPH_SECRET", raising=False)
    cfg = cli_config(
        db, tmp_path, d.inbox,
        'kind = "graph"\naddress = "duty@council.example"\ntenant_id = "t"\nclient_id = "c"\n'
        'client_secret_env = "TEST_GRAPH_SECRET"\n',
    )  # fmt: skip
    closed = CliRunner().invoke(main, ["purge", "--dry-run", "--config", str(cfg)])
    assert closed.exit_code == 0, closed.output
    assert closed.output.splitlines()[0] == (
        f"{TEAM['name']}: the mailbox could not be opened, so the bot's own email copies in it "
        "are left for the next purge. The Graph client secret is missing. Set the "
        "TEST_GRAPH_SECRET environment variable."
    )
    assert "nothing to purge" in closed.output


def test_audit_export_writes_the_trail_for_the_days_asked(db: Database, tmp_path: Path) -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (summer time)
    d = TeamAtWork(db, tmp_path, ManualClock(datetime(2026, 6, 30, 22, 0, tzinfo=UTC)))
    d.arrive("01.eml", email("Zebracorn", "x", "marigold@example.org", "<a@x>", date=d.clock.now()))
    d.do("sam", "/duty note 1 -1 tried twice")  # on 30 June, local time
    d.clock.set(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    d.do("sam", "/duty claim 1")
    d.do("sam", '/duty note 1 =HYPERLINK("https://evil.example","x")')
    d.do("jo", "/duty resolve 1 @alex +done")
    d.later(2)
    d.do("alex", "/duty reopen 1 not finished")
    assert "C1234" in d.do("jo", "/duty case add C1234 amber @jo")
    cfg = cli_config(db, tmp_path, d.inbox)
    out = tmp_path / "audit.csv"

    result = CliRunner().invoke(main, ["audit", "export", "--since", "2026-07-01",
                                       "--until", "2026-07-01", "--csv", str(out),
                                       "--config", str(cfg)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Wrote 3 event(s) from 2026-07-01 to 2026-07-01" in result.output
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert rows[0] == [
        "team",
        "task",
        "case",
        "when_local",
        "when_utc",
        "who",
        "who_name",
        "what",
        "note",
    ]
    assert rows[1:] == [
        [TEAM["name"], "1", "", "2026-07-01 00:30:00 BST", "2026-06-30T23:30:00Z", "sam", "",
         "claimed", ""],
        [TEAM["name"], "1", "", "2026-07-01 00:30:00 BST", "2026-06-30T23:30:00Z", "sam", "",
         "noted", "'=HYPERLINK(\"https://evil.example\",\"x\")"],
        [TEAM["name"], "1", "", "2026-07-01 00:30:00 BST", "2026-06-30T23:30:00Z", "jo", "Jo",
         "resolved", "'@alex +done"],
    ]  # fmt: skip

    files = ["--csv", str(out), "--config", str(cfg)]
    wide = CliRunner().invoke(
        main, ["audit", "export", "--since", "2026-06-30", "--until", "2026-07-03", *files]
    )
    assert wide.exit_code == 0, wide.output
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert [r[7] for r in rows[1:]] == ["received", "noted", "claimed", "noted", "resolved",
                                        "reopened", "case added"]  # fmt: skip
    assert rows[-1][1:3] == ["", "C1234"]  # a case's events carry its reference
    assert rows[2][8] == "'-1 tried twice"
    assert not [w for w in ("Zebracorn", "marigold") if w in out.read_text()]

    backwards = CliRunner().invoke(
        main, ["audit", "export", "--since", "2026-07-02", "--until", "2026-07-01", *files]
    )
    assert backwards.exit_code != 0
    assert "--until (2026-07-01) is before --since (2026-07-02); swap them." in backwards.output
