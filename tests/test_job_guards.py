"""Each scheduled job in its own guard: one job raising leaves the others, and the other
teams, to run.

A failing job is our own component swapped for a subclass that raises (never SQLAlchemy
or APScheduler patched out); everything else is the real wiring on the test database.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.kernel.clock import ManualClock
from bot.nudges.nudges import Nudger
from bot.ops.jobs import TeamJobs
from bot.ops.scheduler import DutyScheduler
from bot.rota.rota import DayRota
from storage.db import Database
from tests.conftest import TEAM
from tests.test_handover import arrive, dms, drain, jobs_of, london, make_bot

NAME = TEAM["name"]
DAY = {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
WEEK = {d: DAY for d in ("mon", "tue", "wed", "thu", "fri")}  # no "rota missing" nudges
CASES = {"people": {"service_manager": "sm"}}  # practice-guide: escalates at once
SUBJECT = "Rent arrears"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 9, 0))  # Monday


class BrokenFollowUps(Nudger):
    """The follow-up reminders fail on every pass, as a bug or a bad row would make them."""

    def _follow_ups(self, now: datetime, today: DayRota) -> int:
        raise RuntimeError("follow-ups broke")


def with_nudger(jobs: TeamJobs, cls: type[Nudger]) -> None:
    jobs.nudger = cls(jobs.duty, jobs.cal, jobs.rota, jobs.config.office_hours, jobs.config.nudges)


def busy_morning(db: Database, clock: ManualClock) -> tuple[TeamJobs, int]:
    """At 09:00: a new case (its escalation is due at the next pass), a new task (unclaimed
    at 09:30) and a follow-up on it at 09:45. Returns the jobs and the task number."""
    bot = make_bot(db, clock, rota=WEEK, cases=CASES)
    jobs = jobs_of(bot)
    desk = bot.team().desk
    desk.handle("jo", "/duty case add P1 red")
    n = arrive(jobs, SUBJECT)
    desk.handle("sam", f"/duty followup {n} today 09:45 ring the landlord")
    drain(db)
    return jobs, n


def escalations(out: list[tuple[str, str, str]]) -> list[str]:
    return [m for m in dms(out, "sm") if m.startswith("Escalation to you as service manager")]


def test_before_the_guards_failing_follow_ups_skip_the_case_reminders(
    db: Database, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's code reading, proved: the follow-ups run before the case clocks in the
    same pass, so their exception ends the team's pass and the case reminders due at that
    tick never go. While the follow-ups keep failing, no tick reaches the case clocks."""
    jobs, n = busy_morning(db, clock)
    with_nudger(jobs, BrokenFollowUps)
    sched = DutyScheduler(db, clock, jobs.config.scheduler, {NAME: jobs}, "one")
    try:
        for hh, mm in ((10, 0), (10, 1)):
            clock.set(london(2026, 11, 23, hh, mm))
            assert sched.tick() == {}  # the team's pass died: no report for it
            out = drain(db)
            assert escalations(out) == []  # due since 09:00, never sent
            if (hh, mm) == (10, 0):  # the unclaimed nudge runs before the follow-ups
                assert [b for k, _, b in out if k == "thread"] == [
                    f"Still unclaimed (open since 09:00). Who can take it? /duty claim {n}"
                ]
    finally:
        sched.shutdown()
    failed = [r for r in caplog.records if "scheduled jobs for" in r.getMessage()]
    assert len(failed) == 2 and all(r.exc_info for r in failed)
