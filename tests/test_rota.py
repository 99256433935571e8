"""The rota: who is on duty each working day, how it is set, and who it tells."""

from __future__ import annotations

from datetime import date

import pytest

from bot.kernel.clock import ManualClock
from bot.kernel.config import ConfigError, parse_config
from storage.db import Database
from tests.conftest import TEAM
from tests.test_handover import arrive, drain, jobs_of, london, make_bot

MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 9, 0))  # Monday


def test_each_role_comes_from_the_day_then_weekly_then_config_then_first_manager(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock, managers=["jo", "kim"], rota={"tue": {"pa1": "sam", "pa2": "alex"}})
    rota = bot.team().rota
    assert rota is not None
    mon = rota.day(MON)
    assert (mon.people, mon.sources) == ({"manager": "jo"}, {"manager": "fallback"})
    assert not mon.is_set
    team = bot.team()
    team.command("kim", "/duty rota set weekly tue manager @kim pa2 @priya")
    team.command("kim", "/duty rota set 2026-11-24 backup @alex")
    tue = rota.day(TUE)
    assert tue.people == {"manager": "kim", "pa1": "sam", "pa2": "priya", "backup": "alex"}
    assert tue.sources == {"manager": "weekly", "pa1": "config", "pa2": "weekly", "backup": "day"}
    assert tue.is_set
    assert rota.day(date(2026, 12, 1)).people["manager"] == "kim"  # every Tuesday
    assert rota.day(WED).manager == "jo"


def test_rota_set_replies_and_refusals(db: Database, clock: ManualClock) -> None:
    team = make_bot(db, clock).team()

    def run(who: str, line: str) -> str:
        return team.command(who, line).plain()

    assert run("sam", "/duty rota set tue manager @sam") == "Only a duty manager can set the rota."
    assert run("jo", "/duty rota set tue manager @stranger") == (
        "@stranger isn't on the duty team, so can't be Duty manager."
    )
    assert run("jo", "/duty rota set 2026-12-25 manager @jo") == (
        "Fri 25 Dec is not a working day (Christmas Day), so it has no rota."
    )
    assert run("jo", "/duty rota set 2026-11-20 manager @jo") == (
        "Fri 20 Nov has passed. Set the rota for today or a later day."
    )
    assert run("jo", "/duty rota set mon manager @jo pa1 @sam") == (
        "Rota set for Mon 23 Nov: Duty manager @jo, PA 1 @sam."  # today is a Monday
    )
    assert run("jo", "/duty rota set fri pa2 @alex") == "Rota set for Fri 27 Nov: PA 2 @alex."
    assert run("jo", "/duty rota set weekly wed backup @priya") == (
        "Rota set for Wednesdays every week: Back-up @priya."
    )


def test_rota_set_refuses_one_person_in_two_roles_on_the_day_as_it_would_be(
    db: Database, clock: ManualClock
) -> None:
    week = {d: {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
            for d in ("mon", "tue", "wed", "thu", "fri")}  # fmt: skip
    team = make_bot(db, clock, rota=week).team()

    def run(line: str) -> str:
        return team.command("jo", line).plain()

    # The line alone is fine; the day it leaves is not: Priya is back-up on Mondays already.
    assert run("/duty rota set 2026-11-30 pa1 @alex pa2 @priya") == (
        "@priya is already Back-up on Mon 30 Nov, so can't also be PA 2; name a new Back-up "
        "in the same line."
    )
    assert run("/duty rota set 2026-11-30 pa1 @sam pa2 @sam") == (
        "@sam can't be both PA 1 and PA 2 on Mon 30 Nov."
    )
    assert team.rota.day(date(2026, 11, 30)).people["pa2"] == "alex"  # nothing changed
    # Naming the other role in the same line is how to move people round.
    assert run("/duty rota set 2026-11-30 pa1 @alex pa2 @priya backup @sam") == (
        "Rota set for Mon 30 Nov: PA 1 @alex, PA 2 @priya, Back-up @sam."
    )
    # A date set earlier counts, and so does the weekly pattern for weekly lines.
    assert run("/duty rota set 2026-11-30 manager @priya") == (
        "@priya is already PA 2 on Mon 30 Nov, so can't also be Duty manager; name a new PA 2 "
        "in the same line."
    )
    assert run("/duty rota set weekly tue backup @alex") == (
        "@alex is already PA 2 on Tuesdays, so can't also be Back-up; name a new PA 2 in the "
        "same line."
    )
    # The first-manager fallback is nobody's choice, so it doesn't count.
    bare = make_bot(db, clock, rota={}).team()
    assert bare.command("jo", "/duty rota set 2026-12-01 pa1 @jo").plain() == (
        "Rota set for Tue 01 Dec: PA 1 @jo."
    )


def test_rota_set_takes_today_and_tomorrow(db: Database, clock: ManualClock) -> None:
    team = make_bot(db, clock).team()  # today is Mon 23 Nov
    assert team.command("jo", "/duty rota set today manager @jo pa1 @sam").plain() == (
        "Rota set for Mon 23 Nov: Duty manager @jo, PA 1 @sam."
    )
    assert team.command("jo", "/duty rota set Tomorrow pa2 @alex").plain() == (
        "Rota set for Tue 24 Nov: PA 2 @alex."
    )
    assert team.rota.day(date(2026, 11, 24)).people["pa2"] == "alex"


def test_rota_shows_today_and_the_next_working_day(db: Database, clock: ManualClock) -> None:
    bot = make_bot(db, clock)
    team = bot.team()
    team.command("jo", "/duty rota set 2026-11-30 manager @jo pa1 @sam pa2 @alex backup @priya")
    assert team.command("stranger", "/duty rota").plain() == (
        "Only members of the duty team can see the rota."
    )
    clock.set(london(2026, 11, 28, 10, 0))  # a Saturday
    assert team.command("sam", "/duty rota").plain().splitlines() == [
        "Today (Sat 28 Nov) is not a working day (the weekend).",
        "Next working day, Mon 30 Nov:",
        "  Duty manager: @jo",
        "  PA 1: @sam",
        "  PA 2: @alex",
        "  Back-up: @priya",
    ]
    clock.set(london(2026, 11, 27, 10, 0))  # Friday: nothing set
    assert team.command("sam", "/duty rota").plain().splitlines()[:5] == [
        "Today, Fri 27 Nov:",
        "  Duty manager: @jo (no rota set; first manager)",
        "  PA 1: not set",
        "  PA 2: not set",
        "  Back-up: not set",
    ]


def test_a_safeguarding_flag_tells_todays_duty_manager_and_backup(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock, managers=["jo", "kim"])
    team = bot.team()
    team.command("jo", "/duty rota set mon manager @kim backup @alex")
    n = arrive(jobs_of(bot))
    drain(db)
    team.command("sam", f"/duty flag {n} safeguarding")
    told = sorted(who for kind, who, _ in drain(db) if kind == "dm")
    assert told == ["alex", "kim"]


def test_clock_can_only_move_in_the_shell(db: Database, clock: ManualClock) -> None:
    team = make_bot(db, clock).team()
    assert team.command("jo", "/duty clock +2h").plain() == (
        "The clock can only be moved in shell mode (dutybot shell)."
    )


def test_config_problems_are_plain_lines() -> None:
    bad = {
        "office_hours": {"start": "17:00:00", "end": "09:00:00"},
        "scheduler": {"tick_seconds": 60, "lease_seconds": 60},
        "handover": {"late": "later"},
        "teams": [{**TEAM, "rota": {"sat": {"manager": "jo"}, "mon": {"boss": "jo"}}}],
    }
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    assert err.value.problems == [
        "handover.late: 'later' is not allowed; input should be 'post' or 'skip'",
        "office_hours: office hours end (09:00) must come after they start (17:00)",
        "scheduler: lease_seconds (60) must be at least twice tick_seconds (60), so the lease "
        "is renewed before it runs out",
        "teams[0].rota.mon.boss: unknown key; expected one of the keys in config.example.toml",
        "teams[0].rota.sat: unknown key; expected one of the keys in config.example.toml",
    ]
