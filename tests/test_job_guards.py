"""Each scheduled job in its own guard: one job raising leaves the others, and the other
teams, to run; it is logged once with its name, listed in the pass's report, and runs again
at the next pass.

A failing job is one of our own components with one method swapped for a stand-in that
raises (never SQLAlchemy or APScheduler patched out); everything else is the real wiring on
the test database, and the scheduler tests go through the real DutyScheduler.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import bot.ops.jobs
from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.kernel.message import Message
from bot.ops.jobs import TeamJobs
from bot.ops.retention import JOB as PURGE_JOB
from bot.ops.scheduler import DutyScheduler
from storage.db import Database
from storage.models import JobRun, Outbox
from tests.bot_process import until
from tests.conftest import TEAM
from tests.test_handover import arrive, drain, jobs_of, london, make_bot
from tests.test_scheduler import Passes

NAME = TEAM["name"]
DAY = {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
WEEK = {d: DAY for d in ("mon", "tue", "wed", "thu", "fri")}  # no "rota missing" nudges
CASES = {"people": {"service_manager": "sm"}}  # practice-guide: escalates at once
SUBJECT = "Rent arrears"  # an email's subject: must never reach the log
JOBS = (
    "purge",
    "handover",
    "handover_emails",
    "nudges.unclaimed",
    "nudges.stale_claims",
    "nudges.follow_ups",
    "nudges.rota_missing",
    "case_clocks",
)

Sent = list[tuple[str, str, str]]  # (kind, target, plain text), as tests.test_handover.drain


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 9, 0))  # Monday


class Fails:
    """Stands in for one job's method: raises ``times`` times, then does the real work. The
    error's text quotes email content, as PostgreSQL's "Failing row contains (...)" can."""

    def __init__(self, real: Callable[..., Any], times: float = 1, error: Exception | None = None):
        self.real, self.times, self.calls = real, times, 0
        self.error = error

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error or RuntimeError(f"Failing row contains (1, {SUBJECT!r})")
        return self.real(*args, **kwargs)


def break_job(
    mp: pytest.MonkeyPatch, jobs: TeamJobs, job: str, times: float = 1, **kw: Any
) -> Fails:
    """Make the named job of ``jobs`` raise (``times`` times) by swapping the method it runs."""
    where: dict[str, tuple[object, str]] = {
        "purge": (bot.ops.jobs, "purge_due"),
        "handover": (jobs.handover, "due"),
        "handover_emails": (jobs.handover, "send_emails"),
        "nudges.unclaimed": (jobs.nudger, "_unclaimed"),
        "nudges.stale_claims": (jobs.nudger, "_stale_claims"),
        "nudges.follow_ups": (jobs.nudger, "_follow_ups"),
        "nudges.rota_missing": (jobs.nudger, "_rota_missing"),
        "case_clocks": (jobs.cases, "run"),
    }
    target, attr = where[job]
    stand_in = Fails(getattr(target, attr), times, **kw)
    mp.setattr(target, attr, stand_in)
    return stand_in


def busy_morning(bot: DutyBot, team: str | None = None) -> dict[str, Sent]:
    """At 09:00: a new case, a new task and a follow-up on it at 09:45. Returns what each
    job sends at 10:00 (the unclaimed nudge, the follow-up, the case's escalation)."""
    wired = bot.team(team)
    jobs = wired.jobs
    assert jobs is not None
    wired.command("jo", "/duty case add P1 red")
    n = arrive(jobs, SUBJECT)
    wired.command("sam", f"/duty followup {n} today 09:45 ring the landlord")
    drain(jobs.tasks.db)
    return {
        "nudges.unclaimed": [
            ("thread", "", f"Still unclaimed (open since 09:00). Who can take it? /duty claim {n}"),
            ("dm", "jo", f"Unclaimed for over 30 minutes:\n  #{n} {SUBJECT} (since 09:00)"),
        ],
        "nudges.follow_ups": [
            ("dm", "sam", f"Follow-up due 09:45 on #{n} ({SUBJECT}): ring the landlord"),
        ],
        "case_clocks": [
            ("dm", "sm", "Escalation to you as service manager: P1 (RED) became unallocated "
             "today, Mon 23 Nov. Last review: none. Overdue: nothing. Team manager: @jo."),
        ],
    }  # fmt: skip


def all_but(due: dict[str, Sent], job: str | None) -> Sent:
    return [m for name, msgs in due.items() if name != job for m in msgs]


def guard_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.ops.jobs"]


def purged_today(db: Database, team: str = NAME) -> bool:
    with db.session() as s:
        q = select(JobRun).where(JobRun.team == team, JobRun.job == PURGE_JOB)
        return s.scalars(q).first() is not None


# ---- the question ------------------------------------------------------------------


def test_failing_follow_ups_no_longer_skip_the_case_reminders(
    db: Database,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's code reading was right: before the guards, the follow-ups raising ended
    the team's pass, so the case reminders (run after them) never went while the follow-ups
    kept failing (this test's first version, commit "Test: failing follow-up reminders skip
    the team's case reminders for that tick", passed on that code). Now the case escalation
    goes at once, through the real scheduler tick, and the follow-ups are tried each tick."""
    bot = make_bot(db, clock, rota=WEEK, cases=CASES)
    due = busy_morning(bot)
    jobs = jobs_of(bot)
    broken = break_job(monkeypatch, jobs, "nudges.follow_ups", times=math.inf)
    sched = DutyScheduler(db, clock, jobs.config.scheduler, {NAME: jobs}, "one")
    try:
        clock.set(london(2026, 11, 23, 10, 0))
        reports = sched.tick()
        assert reports is not None and reports[NAME].failed == ["nudges.follow_ups"]
        assert (reports[NAME].nudges, reports[NAME].cases) == (1, 1)
        assert drain(db) == all_but(due, "nudges.follow_ups")
        clock.set(london(2026, 11, 23, 10, 1))
        reports = sched.tick()
        assert reports is not None and reports[NAME].failed == ["nudges.follow_ups"]
        assert drain(db) == []  # tried again; the rest were sent once, not twice
    finally:
        sched.shutdown()
    assert broken.calls == 2
    # Once per tick, naming the job and the team; not also by the scheduler's own guard.
    assert [m.split("\n")[0] for m in guard_logs(caplog)] == [
        f"scheduled job nudges.follow_ups for {NAME} failed; it runs again at the next pass"
    ] * 2
    assert not [r for r in caplog.records if r.name == "bot.ops.scheduler"]


# ---- every job in its own guard -------------------------------------------------------------


@pytest.mark.parametrize("job", JOBS)
def test_a_failing_job_stops_no_other_and_runs_again_next_pass(
    db: Database,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    job: str,
) -> None:
    bot = make_bot(db, clock, rota=WEEK, cases=CASES)
    due = busy_morning(bot)
    jobs = jobs_of(bot)
    broken = break_job(monkeypatch, jobs, job)

    clock.set(london(2026, 11, 23, 10, 0))
    report = jobs.run_due()
    assert report.failed == [job]
    assert drain(db) == all_but(due, job)  # every other job did its work
    assert purged_today(db) is (job != "purge")
    logged = guard_logs(caplog)
    assert len(logged) == 1
    assert logged[0].startswith(f"scheduled job {job} for {NAME} failed;")
    assert "builtins.RuntimeError (details withheld" in logged[0]
    assert SUBJECT not in caplog.text  # not even from the error's own text

    clock.set(london(2026, 11, 23, 10, 1))
    report = jobs.run_due()
    assert report.failed == [] and broken.calls == 2
    assert drain(db) == due.get(job, [])  # it caught up; nothing else went twice
    assert purged_today(db)
    assert len(guard_logs(caplog)) == 1


def test_one_teams_failing_job_leaves_the_other_team_to_run(
    db: Database,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two teams through the real scheduler (APScheduler's first pass, as in `dutybot run`):
    the first team's handover raising stops neither its later jobs nor the second team."""
    east = {**TEAM, "name": "east", "channel": "C0EAST", "rota": WEEK, "cases": CASES}
    cfg = parse_config({"teams": [{**TEAM, "rota": WEEK, "cases": CASES}, east]})
    bot = DutyBot(cfg, clock=clock, db=db).start(with_mailboxes=False)
    due = {name: busy_morning(bot, name) for name in (NAME, "east")}
    assert list(bot.teams) == [NAME, "east"]  # the broken team goes first
    break_job(monkeypatch, jobs_of(bot), "handover", times=math.inf)

    clock.set(london(2026, 11, 23, 10, 0))
    passes = Passes()
    bot.start_scheduler("one", after_tick=passes)
    try:
        _, reports = passes.next()
    finally:
        assert bot.scheduler is not None
        bot.scheduler.shutdown()
    assert reports is not None
    assert {name: r.failed for name, r in reports.items()} == {NAME: ["handover"], "east": []}
    assert {name: (r.nudges, r.cases) for name, r in reports.items()} == {
        NAME: (2, 1),
        "east": (2, 1),
    }
    assert queued(db) == {name: all_but(d, None) for name, d in due.items()}
    assert purged_today(db, NAME) and purged_today(db, "east")
    assert [m.split("\n")[0] for m in guard_logs(caplog)] == [
        f"scheduled job handover for {NAME} failed; it runs again at the next pass"
    ]


def queued(db: Database) -> dict[str, Sent]:
    """What waits in the outbox, team by team."""
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.sent_at.is_(None)).order_by(Outbox.id))
        out: dict[str, Sent] = {}
        for r in rows:
            out.setdefault(r.team, []).append((r.kind, r.target, Message.from_json(r.body).plain()))
        return out


# ---- the database away: one line, and the pass stops ----------------------------------------


def test_the_database_away_in_a_job_is_said_once_by_name_and_the_next_pass_catches_up(
    db: Database,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every later job and team would fail the same way (each perhaps after a connect
    timeout), so the guard lets an unreachable database through: the pass stops, the
    scheduler says so in one line naming the job, without a trace; the next pass does it all."""
    bot = make_bot(db, clock, rota=WEEK, cases=CASES)
    due = busy_morning(bot)
    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError("Connection refused"))
    break_job(monkeypatch, jobs_of(bot), "nudges.follow_ups", error=refused)

    clock.set(london(2026, 11, 23, 10, 0))
    passes = Passes()
    sched = bot.start_scheduler("one", after_tick=passes)
    try:

        def said() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == "bot.ops.outage"]

        until(said, 30, "the outage line")
        assert drain(db) == due["nudges.unclaimed"]  # the jobs before it ran; none after
        assert sched.aps is not None
        sched.aps.get_job("tick").modify(next_run_time=datetime.now(UTC))  # the next tick
        _, reports = passes.next()
    finally:
        sched.shutdown()
    assert reports is not None and reports[NAME].failed == []
    assert drain(db) == due["nudges.follow_ups"] + due["case_clocks"]
    first, back = said()  # one line when it went, one when it came back
    assert (first.levelname, first.getMessage()) == (
        "ERROR",
        "The database can't be reached (Connection refused) while running the scheduled "
        f"job nudges.follow_ups for {NAME}. Emails and cards wait; the bot carries on by "
        "itself when the database is back.",
    )
    assert back.getMessage().startswith("The database is reachable again after")
    assert "Traceback" not in caplog.text and guard_logs(caplog) == []
