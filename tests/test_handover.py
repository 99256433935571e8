"""The end-of-day handover: when it runs, what it says, and where it goes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import DutyBot
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.kernel.message import Message
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.intake import take_in
from bot.mail.mailbox import MailboxError, OutgoingEmail
from bot.ops.jobs import TeamJobs
from storage.db import Database
from storage.models import JobRun, Outbox
from tests.conftest import TEAM
from tests.mail import make_email, raw

LONDON = ZoneInfo("Europe/London")
_ids = count(1)


def london(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON).astimezone(UTC)


def make_bot(db: Database, clock: ManualClock, top: dict[str, Any] | None = None, **team: Any):
    """The real wiring (DutyBot), on the test database, without mailboxes."""
    cfg = parse_config({**(top or {}), "teams": [{**TEAM, **team}]})
    return DutyBot(cfg, clock=clock, db=db).start(with_mailboxes=False)


def jobs_of(bot: DutyBot) -> TeamJobs:
    jobs = bot.team().jobs
    assert jobs is not None
    return jobs


def arrive(jobs: TeamJobs, subject: str = "Rent arrears") -> int:
    n = next(_ids)
    now = jobs.tasks.clock.now()
    message = raw(f"i{n}", make_email(subject, message_id=f"<h{n}-{now.timestamp()}@x>"))
    message = type(message)(item_id=message.item_id, mime=message.mime, received_at=now)
    return take_in(jobs.tasks.db, jobs.name, message, now).task_number


def drain(db: Database) -> list[tuple[str, str, str]]:
    """Messages waiting for the chat as (kind, target, plain text); marks them sent."""
    with db.session() as s:
        rows = list(s.scalars(select(Outbox).where(Outbox.sent_at.is_(None)).order_by(Outbox.id)))
        out = [(r.kind, r.target, Message.from_json(r.body).plain()) for r in rows]
        for r in rows:
            r.sent_at = datetime.now(UTC)
    return out


def posts(msgs: list[tuple[str, str, str]]) -> list[str]:
    return [body for kind, _, body in msgs if kind == "channel"]


def dms(msgs: list[tuple[str, str, str]], to: str | None = None) -> list[str]:
    return [body for kind, who, body in msgs if kind == "dm" and (to is None or who == to)]


def handover_dms(msgs: list[tuple[str, str, str]], to: str) -> list[str]:
    return [m for m in dms(msgs, to) if m.startswith("You're duty manager on")]


def handover_runs(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        runs = s.scalars(select(JobRun).where(JobRun.job == "handover").order_by(JobRun.id))
        return [(r.run_key, r.outcome) for r in runs]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 9, 0))  # Monday


# ---- who it goes to ----------------------------------------------------------------------


def test_a_fridays_handover_goes_to_mondays_manager(db: Database, clock: ManualClock) -> None:
    clock.set(london(2026, 11, 27, 9, 0))  # Friday
    bot = make_bot(db, clock, managers=["jo", "kim"])
    bot.team().command("jo", "/duty rota set 2026-11-30 manager @kim")
    bot.team().command("jo", "/duty rota set 2026-11-27 manager @jo")
    arrive(jobs_of(bot))
    drain(db)
    clock.set(london(2026, 11, 27, 16, 30))
    assert jobs_of(bot).run_due().handover == "posted"
    out = drain(db)
    assert len(posts(out)) == 1
    assert posts(out)[0].startswith(
        "Duty handover for Fri 27 Nov, to Mon 30 Nov (duty manager @kim)"
    )
    assert len(handover_dms(out, "kim")) == 1 and handover_dms(out, "jo") == []
    assert handover_dms(out, "kim")[0].startswith("You're duty manager on Mon 30 Nov.\nDuty")


def test_thursday_before_good_friday_hands_over_to_the_tuesday_after_easter(
    db: Database, clock: ManualClock
) -> None:
    clock.set(london(2026, 4, 2, 9, 0))  # Maundy Thursday, BST
    bot = make_bot(db, clock, managers=["jo", "kim"])
    assert "Rota set" in bot.team().command("jo", "/duty rota set 2026-04-07 manager @kim").plain()
    refused = bot.team().command("jo", "/duty rota set 2026-04-06 manager @kim").plain()
    assert refused == "Mon 06 Apr is not a working day (Easter Monday), so it has no rota."
    clock.set(london(2026, 4, 2, 16, 30))
    jobs_of(bot).run_due()
    out = drain(db)
    assert posts(out)[0].startswith(
        "Duty handover for Thu 02 Apr, to Tue 07 Apr (duty manager @kim)"
    )
    assert len(handover_dms(out, "kim")) == 1


def test_no_handover_on_a_bank_holiday_or_a_weekend(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    clock.set(london(2026, 4, 2, 16, 30))
    jobs_of(bot).run_due()
    drain(db)
    for day in (3, 4, 5, 6):  # Good Friday, Saturday, Sunday, Easter Monday
        clock.set(london(2026, 4, day, 16, 30))
        assert jobs_of(bot).run_due().handover is None
        clock.set(london(2026, 4, day, 18, 0))
        assert jobs_of(bot).run_due().handover is None
    assert posts(drain(db)) == []
    assert handover_runs(db) == [("2026-04-02", "done")]
    clock.set(london(2026, 4, 7, 16, 30))
    assert jobs_of(bot).run_due().handover == "posted"


def test_christmas_on_a_weekend_uses_the_substitute_days(db: Database, clock: ManualClock) -> None:
    cal = WorkingCalendar("ENG")
    # 2027: Christmas is a Saturday and Boxing Day a Sunday, so Mon 27 and Tue 28 are off.
    assert cal.add_working_days(date(2027, 12, 24), 1) == date(2027, 12, 29)
    assert cal.add_working_days(date(2027, 12, 23), 2, count_start=True) == date(2027, 12, 24)
    assert cal.add_working_days(date(2027, 12, 24), 3) == date(2027, 12, 31)
    assert not cal.is_working_day(date(2027, 12, 28))
    clock.set(london(2027, 12, 24, 16, 30))
    bot = make_bot(db, clock)
    jobs_of(bot).run_due()
    assert posts(drain(db))[0].startswith("Duty handover for Fri 24 Dec, to Wed 29 Dec")
    for day in (27, 28):
        clock.set(london(2027, 12, day, 16, 30))
        assert jobs_of(bot).run_due().handover is None


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        ((2026, 3, 27), 16),  # Friday before the clocks go forward: GMT
        ((2026, 3, 30), 15),  # Monday after: BST, so 15:30 UTC
        ((2026, 10, 23), 15),  # Friday before the clocks go back: BST
        ((2026, 10, 26), 16),  # Monday after: GMT
    ],
)
def test_the_handover_is_at_1630_local_in_clock_change_weeks(
    db: Database, clock: ManualClock, day: tuple[int, int, int], utc_hour: int
) -> None:
    clock.set(datetime(*day, utc_hour, 29, tzinfo=UTC))
    bot = make_bot(db, clock)
    assert jobs_of(bot).run_due().handover is None
    clock.set(datetime(*day, utc_hour, 30, tzinfo=UTC))
    assert jobs_of(bot).run_due().handover == "posted"
    assert len(posts(drain(db))) == 1


# ---- what it says ------------------------------------------------------------------------


def test_the_handover_lists_the_day_flagged_first(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    jobs, tasks = jobs_of(bot), jobs_of(bot).tasks
    clock.set(london(2026, 11, 23, 9, 30))
    a = arrive(jobs, "Rent arrears")
    b = arrive(jobs, "Bus pass")
    c = arrive(jobs, "Passport form")
    d = arrive(jobs, "Welfare check")
    e = arrive(jobs, "Bursary")
    clock.set(london(2026, 11, 23, 11, 0))
    tasks.alert("sam", a, ["priya"], "rang about rent")
    tasks.resolve("sam", a, "recorded on Mosaic")
    tasks.claim("alex", b)
    tasks.note("alex", b, "left a voicemail")
    tasks.follow_up("alex", b, "tomorrow 10:00", "")
    tasks.flag("sam", c, "urgent")
    tasks.flag("sam", d, "safeguarding")
    assert e
    drain(db)
    clock.set(london(2026, 11, 23, 16, 30))
    jobs.run_due()
    text = posts(drain(db))[0]
    assert text.splitlines() == [
        "Duty handover for Mon 23 Nov, to Tue 24 Nov (duty manager @jo)",
        "Came in today: 5",
        f"  #{a} Rent arrears (in at 09:30)",
        f"  #{b} Bus pass (in at 09:30)",
        f"  #{c} [URGENT] Passport form (in at 09:30)",
        f"  #{d} [SAFEGUARDING] Welfare check (in at 09:30)",
        f"  #{e} Bursary (in at 09:30)",
        "Resolved today: 1",
        f"  #{a} Rent arrears, resolved by @sam: recorded on Mosaic",  # its outcome
        "Open and unclaimed (3):",
        f"  #{d} [SAFEGUARDING] Welfare check",
        f"  #{c} [URGENT] Passport form",
        f"  #{e} Bursary",
        "Claimed, not yet resolved (1):",
        "  @alex:",
        f"    #{b} Bus pass (last note: left a voicemail)",
        "Follow-ups due Tue 24 Nov:",
        f"  #{b} at 10:00 (@alex)",
        "Alerts sent today: 1",
        f"  #{a} at Mon 23 Nov 11:00 to @priya",
    ]


def test_each_claimed_task_shows_its_own_newest_note(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    jobs, tasks = jobs_of(bot), jobs_of(bot).tasks
    clock.set(london(2026, 11, 23, 9, 30))
    a = arrive(jobs, "Rent arrears")
    b = arrive(jobs, "Bus pass")
    c = arrive(jobs, "Bursary")
    tasks.claim("alex", a)
    tasks.claim("sam", b)
    tasks.claim("sam", c)
    for hh, who, n, note in [
        (10, "alex", a, "rang the landlord"),
        (11, "sam", b, "form sent"),
        (12, "alex", a, "landlord will wait a week"),
        (13, "sam", b, "form came back signed"),
    ]:
        clock.set(london(2026, 11, 23, hh, 0))
        tasks.note(who, n, note)
    lines = jobs.handover.preview(clock.now()).view.message.plain().splitlines()
    assert f"    #{a} Rent arrears (last note: landlord will wait a week)" in lines
    assert f"    #{b} Bus pass (last note: form came back signed)" in lines
    assert f"    #{c} Bursary" in lines


def test_a_quiet_day_says_nothing_outstanding(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    clock.set(london(2026, 11, 23, 16, 30))
    jobs_of(bot).run_due()
    assert posts(drain(db)) == [
        "Duty handover for Mon 23 Nov, to Tue 24 Nov (duty manager @jo)\n"
        "Nothing outstanding. 0 came in today, 0 resolved."
    ]


def test_a_post_by_hand_is_sent_to_the_next_duty_manager_when_someone_else(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock, managers=["jo", "kim"])
    bot.team().command("jo", "/duty rota set tue manager @kim")
    clock.set(london(2026, 11, 23, 15, 0))
    assert bot.team().command("jo", "/duty handover post").plain() == (
        "Handover posted to the channel, sent to @kim (duty manager Tue 24 Nov) "
        "and emailed to the duty inbox."
    )
    assert len(handover_dms(drain(db), "kim")) == 1


def test_preview_for_members_post_for_managers_and_never_twice(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock)
    team = bot.team()
    arrive(jobs_of(bot))
    drain(db)
    clock.set(london(2026, 11, 23, 15, 0))
    preview = team.command("sam", "/duty handover").plain()
    assert preview.startswith("Preview (only you can see this):\nDuty handover for Mon 23 Nov")
    assert drain(db) == []
    assert team.command("sam", "/duty handover post").plain() == (
        "Only a duty manager can post the handover."
    )
    # Jo is duty manager tomorrow too: no DM to Jo about Jo's own post.
    assert team.command("jo", "/duty handover post").plain() == (
        "Handover posted to the channel and emailed to the duty inbox. "
        "You're duty manager on Tue 24 Nov too."
    )
    sent = drain(db)
    assert len(posts(sent)) == 1 and dms(sent) == []
    assert team.command("jo", "/duty handover post").plain() == (
        "Today's handover was already posted at Mon 23 Nov 15:00. "
        "/duty handover shows it as it is now."
    )
    clock.set(london(2026, 11, 23, 16, 30))
    assert jobs_of(bot).run_due().handover is None  # the 16:30 run sees it was done
    assert posts(drain(db)) == []


# ---- the email ---------------------------------------------------------------------------


class FlakyMailbox(FolderMailbox):
    """A folder mailbox whose first ``fail`` sends fail, as a mailbox that is down would."""

    def __init__(self, path: Path, fail: int) -> None:
        super().__init__(path)
        self.fail = fail

    def send(self, email: OutgoingEmail) -> None:
        if self.fail:
            self.fail -= 1
            raise MailboxError("The mailbox can't be reached.")
        super().send(email)


def test_the_email_goes_once_and_waits_while_the_mailbox_is_down(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    bot = make_bot(db, clock)
    jobs = jobs_of(bot)
    jobs.handover.mailbox = FlakyMailbox(tmp_path, fail=2)
    arrive(jobs, "Rent arrears")
    clock.set(london(2026, 11, 23, 16, 30))
    assert jobs.run_due().emails == 0
    clock.set(london(2026, 11, 23, 16, 31))
    assert jobs.run_due().emails == 0
    assert not (tmp_path / "Outbox").exists()
    clock.set(london(2026, 11, 23, 16, 32))
    assert jobs.run_due().emails == 1
    clock.set(london(2026, 11, 23, 16, 33))
    assert jobs.run_due().emails == 0
    sent = list((tmp_path / "Outbox").glob("*.eml"))
    assert len(sent) == 1
    body = sent[0].read_text()
    assert "Subject: Duty handover for Mon 23 Nov 2026" in body
    assert "Rent arrears" in body
    with db.session() as s:
        run = s.scalars(select(JobRun).where(JobRun.job == "handover")).one()
        assert (run.email_state, run.email_attempts, run.email) == ("sent", 2, {})


def test_no_email_when_configured_off(db: Database, clock: ManualClock, tmp_path: Path) -> None:
    bot = make_bot(db, clock, top={"handover": {"email": False}})
    jobs_of(bot).mailbox = FolderMailbox(tmp_path)
    clock.set(london(2026, 11, 23, 16, 30))
    jobs_of(bot).run_due()
    assert len(posts(drain(db))) == 1
    assert not (tmp_path / "Outbox").exists()


# ---- down at handover time ---------------------------------------------------------------


def test_down_at_1630_and_up_at_1640_makes_one_post(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    clock.set(london(2026, 11, 23, 16, 40))
    assert jobs_of(bot).run_due().handover == "posted"  # the start-up catch-up
    restarted = make_bot(db, clock)
    clock.set(london(2026, 11, 23, 16, 41))
    assert jobs_of(restarted).run_due().handover is None
    out = drain(db)
    assert len(posts(out)) == 1 and "Late" not in posts(out)[0]


def _missed_tuesday(db: Database, clock: ManualClock, late: str) -> list[tuple[str, str, str]]:
    bot = make_bot(db, clock, top={"handover": {"late": late}})
    clock.set(london(2026, 11, 23, 16, 30))
    jobs_of(bot).run_due()  # Monday's, as usual
    drain(db)
    # Down from Tuesday lunchtime; back on Wednesday at 09:00.
    clock.set(london(2026, 11, 25, 9, 0))
    back = make_bot(db, clock, top={"handover": {"late": late}})
    jobs_of(back).run_due()
    clock.set(london(2026, 11, 25, 9, 1))
    jobs_of(back).run_due()
    return drain(db)


def test_up_the_next_morning_posts_the_missed_handover_late_by_default(
    db: Database, clock: ManualClock
) -> None:
    out = _missed_tuesday(db, clock, "post")
    assert len(posts(out)) == 1
    assert posts(out)[0].startswith(
        "(Late: posted Wed 25 Nov 09:00, because the bot was not running at 16:30.)\n"
        "Duty handover for Tue 24 Nov, to Wed 25 Nov"
    )
    assert handover_runs(db) == [("2026-11-23", "done"), ("2026-11-24", "late")]


def test_up_the_next_morning_skips_it_when_configured(db: Database, clock: ManualClock) -> None:
    out = _missed_tuesday(db, clock, "skip")
    assert posts(out) == []
    assert handover_runs(db) == [("2026-11-23", "done"), ("2026-11-24", "skipped")]


def test_an_early_post_by_hand_on_a_new_database_brings_no_old_handover(
    db: Database, clock: ManualClock
) -> None:
    clock.set(london(2026, 12, 7, 9, 59))  # Monday; the database is new this morning
    bot = make_bot(db, clock)
    arrive(jobs_of(bot))
    assert (
        bot.team()
        .command("jo", "/duty handover post")
        .plain()
        .startswith("Handover posted to the channel")
    )
    drain(db)
    clock.set(london(2026, 12, 7, 10, 0))  # the next tick: nothing for Friday 04 Dec
    assert jobs_of(bot).run_due().handover is None
    assert posts(drain(db)) == []
    assert handover_runs(db) == [("2026-12-07", "done")]
    clock.set(london(2026, 12, 7, 16, 30))  # and the scheduled one sees it was done
    assert jobs_of(bot).run_due().handover is None


def test_a_new_install_never_posts_an_old_handover(db: Database, clock: ManualClock) -> None:
    clock.set(london(2026, 11, 24, 9, 0))
    bot = make_bot(db, clock)
    assert jobs_of(bot).run_due().handover is None
    assert handover_runs(db) == []
