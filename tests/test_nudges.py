"""Nudges: each fires once per interval, in office hours, and survives a restart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.chat.calls import Place, Reply
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import ManualClock
from bot.kernel.config import OfficeHoursConfig
from bot.nudges.nudges import office_time_between
from storage.db import Database
from storage.models import Outbox
from tests.test_handover import LONDON, arrive, dms, drain, jobs_of, london, make_bot


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 9, 0))  # Monday


def at(clock: ManualClock, hh: int, mm: int = 0, day: int = 23) -> None:
    clock.set(london(2026, 11, day, hh, mm))


def threads(out: list[tuple[str, str, str]]) -> list[str]:
    return [body for kind, _, body in out if kind == "thread"]


# A standing rota, so "nobody is on tomorrow's rota" stays out of the other tests.
DAY = {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
WEEK = {d: DAY for d in ("mon", "tue", "wed", "thu", "fri")}


def tick(db: Database, clock: ManualClock, **team: object) -> list[tuple[str, str, str]]:
    """A fresh bot each time (as after a restart), doing what is due now."""
    jobs_of(make_bot(db, clock, **{"rota": WEEK, **team})).run_due()
    return drain(db)


def test_office_time_skips_nights_weekends_and_bank_holidays() -> None:
    cal, hours = WorkingCalendar("ENG"), OfficeHoursConfig()

    def office(a: datetime, b: datetime) -> timedelta:
        return office_time_between(a, b, LONDON, cal, hours)

    # Friday 16:00 to Monday 10:00 is one hour on Friday and one on Monday.
    assert office(london(2026, 11, 27, 16), london(2026, 11, 30, 10)) == timedelta(hours=2)
    # Over Easter 2026: Thursday 16:00 to Tuesday 10:00.
    assert office(london(2026, 4, 2, 16), london(2026, 4, 7, 10)) == timedelta(hours=2)
    assert office(london(2026, 11, 23, 18), london(2026, 11, 24, 8)) == timedelta(0)


def test_unclaimed_nudge_once_per_hour_across_restarts(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    n = arrive(jobs_of(bot), "Rent arrears")
    drain(db)
    at(clock, 9, 29)
    assert tick(db, clock) == []
    at(clock, 9, 30)
    out = tick(db, clock)
    assert threads(out) == [f"Still unclaimed (open since 09:00). Who can take it? /duty claim {n}"]
    assert dms(out, "jo") == [f"Unclaimed for over 30 minutes:\n  #{n} Rent arrears (since 09:00)"]
    for hh, mm in ((9, 31), (10, 0), (10, 29)):
        at(clock, hh, mm)
        assert tick(db, clock) == []
    at(clock, 10, 30)
    assert len(threads(tick(db, clock))) == 1
    at(clock, 10, 31)
    assert tick(db, clock) == []


def test_a_one_minute_setting_says_one_minute(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock, {"nudges": {"unclaimed_minutes": 1}}, rota=WEEK)
    n = arrive(jobs_of(bot), "Rent arrears")
    drain(db)
    at(clock, 9, 1)
    jobs_of(bot).run_due()
    want = f"Unclaimed for over 1 minute:\n  #{n} Rent arrears (since 09:00)"
    assert dms(drain(db), "jo") == [want]


def test_unclaimed_counts_only_office_time_and_restarts_when_released(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock)
    at(clock, 16, 50)
    n = arrive(jobs_of(bot))
    drain(db)
    at(clock, 17, 20)
    assert tick(db, clock) == []  # after hours: held
    at(clock, 9, 19, day=24)
    assert tick(db, clock) == []  # 10 minutes yesterday + 19 today
    at(clock, 9, 20, day=24)
    assert len(threads(tick(db, clock))) == 1
    bot.team().command("sam", f"/duty claim {n}")
    at(clock, 9, 25, day=24)
    bot.team().command("sam", f"/duty unclaim {n}")
    drain(db)
    at(clock, 9, 54, day=24)
    assert tick(db, clock) == []  # open again only since 09:25
    at(clock, 9, 55, day=24)
    assert threads(tick(db, clock)) == [
        f"Still unclaimed (open since 09:25). Who can take it? /duty claim {n}"
    ]


def test_unclaimed_safeguarding_tells_the_duty_manager_and_backup(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock, managers=["jo", "kim"])
    team = bot.team()
    team.command("jo", "/duty rota set 2026-11-23 manager @kim pa1 @sam backup @priya")
    n = arrive(jobs_of(bot), "Welfare check")
    team.command("sam", f"/duty flag {n} safeguarding")
    out = drain(db)
    # The flag itself tells today's duty manager and back-up at once.
    assert {who for kind, who, _ in out if kind == "dm"} == {"kim", "priya"}
    at(clock, 9, 9)
    assert tick(db, clock) == []
    at(clock, 9, 10)
    out = tick(db, clock)
    expected = (
        f"Safeguarding tasks nobody has claimed yet:\n  #{n} Welfare check (since 09:00)\n"
        "Please make sure someone takes each one now. "
        "If anyone is in immediate danger, call 999."
    )
    assert dms(out, "kim") == [expected] and dms(out, "priya") == [expected]
    assert dms(out, "jo") == []
    at(clock, 9, 30)
    out = tick(db, clock)
    assert dms(out, "priya") == []  # safeguarding repeats hourly; this is the plain nudge
    assert dms(out, "kim") == [
        f"Unclaimed for over 30 minutes:\n  #{n} Welfare check (since 09:00)"
    ]
    at(clock, 10, 10)
    assert len(dms(tick(db, clock), "priya")) == 1


def test_a_stale_claim_asks_the_claimer_with_buttons(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    n = arrive(jobs_of(bot))
    at(clock, 15, 0)
    bot.team().command("sam", f"/duty claim {n}")
    drain(db)
    at(clock, 10, 59, day=24)
    assert tick(db, clock) == []  # 2 hours on Monday + 1:59 on Tuesday
    at(clock, 11, 0, day=24)
    out = tick(db, clock)
    assert dms(out, "sam") == [
        f"You claimed #{n} (Rent arrears) and nothing has been recorded on it since "
        "Mon 23 Nov 15:00. Are you still on it?\n[Still on it] [Release]"
    ]
    with db.session() as s:
        row = s.scalars(select(Outbox).where(Outbox.target == "sam")).one()
    buttons = [p for p in row.body if p[0] == "button"]
    assert len(buttons) == 2
    at(clock, 12, 0, day=24)
    assert tick(db, clock) == []
    # "Still on it" restarts the clock; nobody else may press it.
    dm = Place("dm", "D1")

    def press(who: str, verb: str) -> str:
        reply = bot.calls.press(who, dm, verb, str(n))
        assert isinstance(reply, Reply)
        return ("refused: " if reply.refused else "") + reply.message.plain()

    assert press("alex", "still on it").startswith("refused: ")
    assert press("sam", "still on it") == f"Thanks. #{n} stays with you."
    assert threads(drain(db)) == ["Still on it: @sam."]
    at(clock, 15, 59, day=24)
    assert tick(db, clock) == []
    at(clock, 16, 0, day=24)
    assert len(dms(tick(db, clock), "sam")) == 1
    assert "It is open again" in press("sam", "unclaim")


def test_an_unanswered_stale_nudge_repeats_after_as_long_again(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock)
    n = arrive(jobs_of(bot))
    bot.team().command("sam", f"/duty claim {n}")
    drain(db)
    at(clock, 13, 0)
    assert len(dms(tick(db, clock), "sam")) == 1
    at(clock, 16, 59)
    assert dms(tick(db, clock), "sam") == []
    at(clock, 10, 0, day=24)  # 4 office hours after the first nudge
    assert len(dms(tick(db, clock), "sam")) == 1


def test_a_follow_up_fires_at_its_time_once(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    n = arrive(jobs_of(bot))
    team = bot.team()
    team.command("sam", f"/duty claim {n}")
    team.command("sam", f"/duty followup {n} today 11:00 ring the landlord")
    drain(db)
    at(clock, 10, 59)
    assert dms(tick(db, clock), "sam") == []
    at(clock, 11, 0)
    assert dms(tick(db, clock), "sam") == [
        f"Follow-up due 11:00 on #{n} (Rent arrears): ring the landlord"
    ]
    at(clock, 11, 1)
    assert dms(tick(db, clock), "sam") == []


def test_a_follow_up_for_someone_off_duty_goes_to_todays_pa1(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock)
    team = bot.team()
    team.command("jo", "/duty rota set 2026-11-24 manager @jo pa1 @priya pa2 @alex")
    n = arrive(jobs_of(bot))
    team.command("sam", f"/duty followup {n} tomorrow 10:00")
    drain(db)
    at(clock, 10, 0, day=24)
    out = tick(db, clock)
    assert dms(out, "sam") == []
    assert dms(out, "priya") == [
        f"Follow-up due 10:00 on #{n} (Rent arrears), agreed by @sam, who isn't on duty today."
    ]


def test_a_follow_up_due_after_hours_goes_next_morning(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    n = arrive(jobs_of(bot))
    bot.team().command("sam", f"/duty followup {n} today 18:00 check the reply")
    drain(db)
    at(clock, 18, 0)
    assert tick(db, clock) == []
    at(clock, 8, 59, day=24)
    assert tick(db, clock) == []
    at(clock, 9, 0, day=24)
    assert dms(tick(db, clock), "sam") == [
        f"Follow-up due Mon 23 Nov 18:00 on #{n} (Rent arrears): check the reply"
    ]


def test_managers_hear_when_tomorrows_rota_is_empty_by_3pm(
    db: Database, clock: ManualClock
) -> None:
    team = {"managers": ["jo", "kim"], "rota": {}}
    at(clock, 14, 59)
    assert tick(db, clock, **team) == []
    at(clock, 15, 0)
    out = tick(db, clock, **team)
    expected = (
        "Nobody is on the rota as duty manager for Tue 24 Nov yet. Set it with: "
        "/duty rota set 2026-11-24 manager @name pa1 @name pa2 @name backup @name"
    )
    assert dms(out, "jo") == [expected] and dms(out, "kim") == [expected]
    at(clock, 16, 0)
    assert tick(db, clock, **team) == []
    # Once the rota is set, nobody is asked: here a Friday, about Monday.
    bot = make_bot(db, clock, **team)
    bot.team().command("jo", "/duty rota set 2026-11-30 manager @kim")
    at(clock, 15, 0, day=27)
    assert tick(db, clock, **team) == []


def test_a_weekly_pattern_in_config_counts_as_a_rota(db: Database, clock: ManualClock) -> None:
    week = {d: {"manager": "jo"} for d in ("mon", "tue", "wed", "thu", "fri")}
    jobs = jobs_of(make_bot(db, clock, rota=week))
    clock.set(datetime(2026, 11, 23, 15, 30, tzinfo=UTC))
    jobs.run_due()
    assert drain(db) == []
    assert jobs.rota.day(date(2026, 11, 24)).is_set
