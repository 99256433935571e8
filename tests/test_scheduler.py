"""The scheduler: APScheduler's triggers, the start-up catch-up, and one actor per database.

These run the real DutyScheduler (APScheduler's BackgroundScheduler) on the bot's clock; the
two-process tests start real OS processes (tests/scheduler_process.py) on one database.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.ops.jobs import TeamJobs
from bot.ops.scheduler import DutyScheduler, Reports, handover_job_id, handover_trigger
from storage.db import Database
from storage.models import JobRun, Outbox
from tests.bot_process import db_schema
from tests.conftest import ROOT, TEAM
from tests.test_handover import (
    LONDON,
    arrive,
    drain,
    handover_runs,
    jobs_of,
    london,
    make_bot,
    posts,
)

NAME = TEAM["name"]
WEEK = {d: {"manager": "jo"} for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 9, 0))  # Monday


class Passes:
    """Collects what each scheduled pass did, so a test can wait for the next one."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[str | None, Reports]] = queue.Queue()

    def __call__(self, team: str | None, reports: Reports) -> None:
        self._q.put((team, reports))

    def next(self) -> tuple[str | None, Reports]:
        return self._q.get(timeout=30)


def scheduler_of(
    db: Database,
    clock: ManualClock,
    holder: str,
    passes: Passes | None = None,
    lease_clock: ManualClock | None = None,
    **top: object,
) -> DutyScheduler:
    """The real wiring, with the scheduler built as `DutyBot.start_scheduler` builds it."""
    bot = make_bot(db, clock, top={**top}, rota=WEEK)
    return DutyScheduler(
        db,
        clock,
        bot.config.scheduler,
        {NAME: jobs_of(bot)},
        holder,
        lease_clock=lease_clock,
        after_tick=passes,
    )


def same_database(db: Database) -> Database:
    """A second Database (its own engine and connections) on the same tables, as another
    bot process would have."""
    return Database(db.url, schema=db_schema(db))


# ---- the cron trigger --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("thursday", "before_utc", "after_utc"),
    [
        (date(2026, 3, 26), 16, 15),  # clocks go forward Sun 29 Mar 2026
        (date(2026, 10, 22), 15, 16),  # clocks go back Sun 25 Oct 2026
        (date(2027, 3, 25), 16, 15),  # forward Sun 28 Mar 2027
        (date(2027, 10, 28), 15, 16),  # back Sun 31 Oct 2027
    ],
)
def test_the_cron_trigger_fires_at_1630_local_both_sides_of_a_clock_change(
    thursday: date, before_utc: int, after_utc: int
) -> None:
    trigger = handover_trigger(parse_config({"teams": [TEAM]}).handover.time, LONDON)
    now = datetime(thursday.year, thursday.month, thursday.day, tzinfo=LONDON)
    fires: list[datetime] = []
    previous = None
    for _ in range(4):
        previous = trigger.get_next_fire_time(previous, now)
        assert previous is not None
        fires.append(previous)
        now = previous
    local = [f.astimezone(LONDON) for f in fires]
    assert [f.strftime("%a %H:%M") for f in local] == [
        "Thu 16:30",
        "Fri 16:30",
        "Mon 16:30",
        "Tue 16:30",
    ]
    utc_hours = [f.astimezone(UTC).hour for f in fires]
    assert utc_hours == [before_utc, before_utc, after_utc, after_utc]
    assert local[2].date() - local[1].date() == timedelta(days=3)  # the weekend skipped


def test_the_running_schedulers_handover_job_is_that_trigger_and_posts(
    db: Database, clock: ManualClock
) -> None:
    clock.set(london(2026, 11, 23, 16, 30))
    passes = Passes()
    sched = scheduler_of(db, clock, "one", passes)
    sched.start(catch_up=False)  # so only the handover job can fire
    try:
        assert sched.aps is not None
        job = sched.aps.get_job(handover_job_id(NAME))
        nxt = job.next_run_time.astimezone(LONDON)
        assert (nxt.hour, nxt.minute) == (16, 30) and nxt.weekday() < 5
        job.modify(next_run_time=datetime.now(UTC))  # as if 16:30 had come
        team, reports = passes.next()
        assert team == NAME and reports is not None and reports[NAME].handover == "posted"
    finally:
        sched.shutdown()
    out = posts(drain(db))
    assert len(out) == 1 and out[0].startswith("Duty handover for Mon 23 Nov, to Tue 24 Nov")


# ---- down at handover time, through the scheduler ----------------------------------------


def test_down_at_1630_up_at_1640_the_scheduler_posts_once(db: Database, clock: ManualClock) -> None:
    clock.set(london(2026, 11, 23, 16, 40))
    passes = Passes()
    first = scheduler_of(db, clock, "first", passes)
    first.start()  # the start-up pass catches up
    try:
        _, reports = passes.next()
    finally:
        first.shutdown()
    assert reports is not None and reports[NAME].handover == "posted"
    clock.set(london(2026, 11, 23, 16, 45))
    again = scheduler_of(db, clock, "restarted", passes)
    again.start()
    try:
        _, reports = passes.next()
    finally:
        again.shutdown()
    assert reports is not None and reports[NAME].handover is None
    out = posts(drain(db))
    assert len(out) == 1 and not out[0].startswith("(Late")
    assert handover_runs(db) == [("2026-11-23", "done")]


@pytest.mark.parametrize(("late", "outcome"), [("post", "late"), ("skip", "skipped")])
def test_up_the_next_morning_the_scheduler_does_what_handover_late_says(
    db: Database, clock: ManualClock, late: str, outcome: str
) -> None:
    top = {"handover": {"late": late}}
    clock.set(london(2026, 11, 23, 16, 30))
    jobs_of(make_bot(db, clock, top=top, rota=WEEK)).run_due()  # Monday's, as usual
    drain(db)
    clock.set(london(2026, 11, 25, 9, 0))  # down all Tuesday afternoon; back Wednesday
    passes = Passes()
    sched = scheduler_of(db, clock, "back", passes, **top)
    sched.start()
    try:
        _, reports = passes.next()
    finally:
        sched.shutdown()
    assert reports is not None and reports[NAME].handover == outcome
    out = posts(drain(db))
    if late == "post":
        assert len(out) == 1
        assert out[0].startswith(
            "(Late: posted Wed 25 Nov 09:00, because the bot was not running at 16:30.)\n"
            "Duty handover for Tue 24 Nov, to Wed 25 Nov"
        )
    else:
        assert out == []
    assert handover_runs(db) == [("2026-11-23", "done"), ("2026-11-24", outcome)]


# ---- one actor: the lease ------------------------------------------------------------------


def test_only_the_lease_holder_acts_until_it_lets_go_or_dies(
    db: Database, clock: ManualClock
) -> None:
    other_db = same_database(db)
    lease_clock = ManualClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    a = scheduler_of(db, clock, "a", lease_clock=lease_clock)
    b = scheduler_of(other_db, clock, "b", lease_clock=lease_clock)
    try:
        clock.set(london(2026, 11, 23, 16, 30))
        reports = a.tick()
        assert reports is not None and reports[NAME].handover == "posted"
        assert b.tick() is None
        # a dies holding the lease (no release): b waits out lease_seconds (180), then acts.
        clock.set(london(2026, 11, 24, 16, 30))
        lease_clock.advance(timedelta(seconds=179))
        assert b.tick() is None
        assert [k for k, _ in handover_runs(db)] == ["2026-11-23"]  # Tuesday's waits
        lease_clock.advance(timedelta(seconds=2))
        reports = b.tick()
        assert reports is not None and reports[NAME].handover == "posted"
        assert a.tick() is None  # a came back: b holds it now
        # b shuts down cleanly, so a takes over at once, even on a clock running behind.
        b.shutdown()
        lease_clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        clock.set(london(2026, 11, 25, 16, 30))
        reports = a.tick()
        assert reports is not None and reports[NAME].handover == "posted"
    finally:
        other_db.dispose()
    assert [k for k, _ in handover_runs(db)] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert len(posts(drain(db))) == 3


def test_two_bots_racing_without_the_lease_still_post_and_nudge_once(
    db: Database, clock: ManualClock
) -> None:
    """The jobs are idempotent on their own: two processes acting at the same moment (each
    with its own connections) make one handover and one nudge per interval."""
    other_db = same_database(db)
    try:
        mine = jobs_of(make_bot(db, clock, rota=WEEK))
        theirs = jobs_of(make_bot(other_db, clock, rota=WEEK))
        n = arrive(mine, "Rent arrears")
        drain(db)
        for when in (london(2026, 11, 23, 9, 30), london(2026, 11, 23, 16, 30)):
            clock.set(when)
            race(mine, theirs, when)
        out = drain(db)
    finally:
        other_db.dispose()
    assert len(posts(out)) == 1
    reminders = [body for kind, _, body in out if kind == "thread"]
    once = f"Still unclaimed (open since 09:00). Who can take it? /duty claim {n}"
    assert reminders == [once, once]  # one at 09:30, one an hour or more later
    with db.session() as s:
        assert len(s.scalars(select(JobRun).where(JobRun.job == "handover")).all()) == 1


def race(a: TeamJobs, b: TeamJobs, now: datetime) -> None:
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def go(jobs: TeamJobs) -> None:
        try:
            start.wait(timeout=10)
            jobs.run_due(now)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=go, args=(j,)) for j in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []


# ---- real processes ------------------------------------------------------------------------


@pytest.fixture
def shared(db: Database) -> tuple[str, str]:
    """(url, schema) of the test database, for other processes to open."""
    return db.url, db_schema(db) or ""


class Process:
    """A bot process (tests/scheduler_process.py), read line by line with a deadline."""

    def __init__(
        self, where: tuple[str, str], bot_time: datetime, lease_time: datetime, holder: str,
        go: Path | None = None, hold: bool = False,
    ) -> None:  # fmt: skip
        args = [sys.executable, "-m", "tests.scheduler_process", *where]
        args += [bot_time.isoformat(), lease_time.isoformat(), holder]
        args += ["--go", str(go)] if go else []
        args += ["--hold"] if hold else []
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())

    def line(self) -> str:
        try:
            return self._lines.get(timeout=60)
        except queue.Empty:
            self.kill()
            raise AssertionError(self.proc.stderr.read() if self.proc.stderr else "") from None

    def result(self) -> dict[str, object]:
        return json.loads(self.line())

    def kill(self) -> None:
        """Dies at once, as a crashed process would: nothing is released."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def finish(self) -> None:
        assert self.proc.wait(60) == 0, self.proc.stderr.read() if self.proc.stderr else ""


def test_two_scheduler_processes_make_one_handover_post(
    db: Database, shared: tuple[str, str], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    monday = london(2026, 11, 23, 16, 30)
    lease = datetime.now(UTC)
    procs = [Process(shared, monday, lease, f"p{i}", go=go, hold=True) for i in (1, 2)]
    try:
        assert [p.line() for p in procs] == ["ready", "ready"]
        go.touch()  # both start their schedulers at once
        results = [p.result() for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert sorted(r["acted"] for r in results) == [False, True]
    assert [r["handover"] for r in results if r["acted"]] == ["posted"]
    out = posts(drain(db))
    assert len(out) == 1 and out[0].startswith("Duty handover for Mon 23 Nov")
    assert handover_runs(db) == [("2026-11-23", "done")]


def test_a_dead_holders_lease_is_taken_over_after_it_expires(
    db: Database, shared: tuple[str, str]
) -> None:
    t0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the lease's clock; lease_seconds = 180
    holder = Process(shared, london(2026, 11, 23, 16, 30), t0, "dies", hold=True)
    assert holder.line() == "ready"
    assert holder.result() == {"holder": "dies", "acted": True, "handover": "posted"}
    holder.kill()

    tuesday = london(2026, 11, 24, 16, 30)
    early = Process(shared, tuesday, t0 + timedelta(seconds=60), "early")
    assert early.line() == "ready"
    assert early.result() == {"holder": "early", "acted": False, "handover": None}
    early.finish()
    assert [k for k, _ in handover_runs(db)] == ["2026-11-23"]

    later = Process(shared, tuesday + timedelta(minutes=1), t0 + timedelta(seconds=181), "later")
    assert later.line() == "ready"
    assert later.result() == {"holder": "later", "acted": True, "handover": "posted"}
    later.finish()  # a clean stop gives the lease up

    # So the next process acts at once, even with a clock behind the one that let go.
    next_day = Process(shared, london(2026, 11, 25, 16, 30), t0, "next")
    assert next_day.line() == "ready"
    assert next_day.result() == {"holder": "next", "acted": True, "handover": "posted"}
    next_day.finish()
    assert [k for k, _ in handover_runs(db)] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert len(posts(drain(db))) == 3


def test_a_pass_over_many_quiet_teams_asks_one_question_and_still_sends_what_is_due(
    db: Database, clock: ManualClock
) -> None:
    # With tens of teams in one process, each job asking its own question every tick was
    # most of an idle bot's CPU; the pass now asks what could be due for all teams at once.
    names = [f"team-{i}" for i in range(6)]
    cfg = parse_config(
        {
            "teams": [
                {**TEAM, "name": n, "channel": f"C{i}", "rota": WEEK} for i, n in enumerate(names)
            ]
        }
    )
    bot = DutyBot(cfg, clock=clock, db=db).start(with_mailboxes=False)
    jobs = {n: bot.team(n).jobs for n in names}
    sched = DutyScheduler(db, clock, cfg.scheduler, jobs, "one")  # type: ignore[arg-type]
    for _ in range(2):  # the day's first passes: the morning's jobs, then seeing them done
        sched.tick()
        clock.advance(timedelta(minutes=1))
    drain(db)
    asked: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: asked.append(a[2]))
    clock.advance(timedelta(minutes=1))
    sched.tick()
    assert len(asked) <= 3, asked  # the lease, and one question for all six teams
    assert drain(db) == []
    n = arrive(jobs["team-3"], "Rent arrears")
    clock.advance(timedelta(minutes=30))
    sched.tick()
    with db.session() as s:
        told = s.scalars(select(Outbox.team).where(Outbox.sent_at.is_(None))).all()
    assert set(told) == {"team-3"}
    assert any(f"#{n} Rent arrears" in body for _, _, body in drain(db))
