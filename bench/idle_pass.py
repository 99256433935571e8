"""What one idle duty team's scheduled pass costs (TeamJobs.run_due, bot/ops/jobs.py).

`dutybot run` calls every team's pass each ``scheduler.tick_seconds`` (60), so with 50 teams
this cost, times 50, was most of the bot's idle CPU (bench/teams_scale.py). The team here has
--history resolved tasks (bench/history.py) and, unless --open or --claimed say otherwise,
nothing open: nothing is due. One pass runs
first at 16:31 on the Monday (the handover goes out) and one at 11:00 on the Tuesday (that
day's purge and morning), as in a bot running since the day before; then
--runs passes a minute apart, each after the scheduler's one question for all its teams
(storage.due, here for the one team). Prints each
job's mean time and SQL statements a pass (counted with SQLAlchemy's ``before_cursor_execute``
event), and the whole pass's time, CPU and statements.

    .venv/bin/python bench/idle_pass.py [--history 10000] [--runs 50] [--open 0] [--claimed 0]
        [--pg] [--db FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench.common import exit_code, header  # noqa: E402
from bench.handover import handover_jobs  # noqa: E402
from bench.history import DutyDay, count_tasks, fill, open_db  # noqa: E402
from bot.ops.jobs import JobReport, TeamJobs, due_of  # noqa: E402
from storage.due import TeamDue  # noqa: E402

T = TypeVar("T")
TEAM = "care-experienced"  # as bench/handover.py's handover_jobs
# Monday 23 November 2026, 16:00 in London, as bench/handover.py (the history ends here);
# the passes start at 11:00 on the Tuesday: after the morning, before the handover.
FILLED = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
START = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
DUE = "(what is due, for all teams)"


class Meter:
    """Time and statements per job name, caught around each job's guard."""

    def __init__(self, jobs: TeamJobs) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.sql: dict[str, int] = defaultdict(int)
        self.current = "(outside the jobs)"
        self.guard = jobs._guarded
        jobs._guarded = self._guarded  # type: ignore[method-assign]
        event.listen(jobs.tasks.db.engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.sql[self.current] += 1

    def _timed(self, name: str, job: Callable[[], T]) -> T:
        self.current = name
        t0 = time.perf_counter()
        try:
            return job()
        finally:
            self.ms[name] += (time.perf_counter() - t0) * 1000
            self.current = "(outside the jobs)"

    def _guarded(self, report: JobReport, name: str, job: Callable[[], T]) -> T | None:
        return self._timed(name, lambda: self.guard(report, name, job))

    def due(self, jobs: TeamJobs, now: datetime) -> TeamDue:
        """The scheduler's one question for all its teams (bot.ops.jobs.due_of), here for one."""
        return self._timed(DUE, lambda: due_of(jobs.tasks.db, {jobs.name: jobs}, now)[jobs.name])

    def reset(self) -> None:
        self.ms.clear()
        self.sql.clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=10_000, help="resolved tasks of history")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--open", type=int, default=0, help="tasks open (as after mail came in)")
    ap.add_argument("--claimed", type=int, default=0, help="tasks claimed and not resolved")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL (DUTYBOT_TEST_PG_URL)")
    ap.add_argument("--db", type=Path, help="keep (and reuse) the SQLite file here")
    args = ap.parse_args()

    kind = "PostgreSQL" if args.pg else "SQLite file"
    header(f"one idle team's scheduled pass, {args.history:,} tasks of history ({kind})")
    with tempfile.TemporaryDirectory() as tmp:
        db, drop = open_db(args.pg, args.db or Path(tmp) / "bench.db")
        try:
            if count_tasks(db, TEAM) == 0:
                # history.fill puts its alerts and follow-ups on live tasks: one of each
                busy = 1 if args.open or args.claimed else 0
                day = DutyDay(args.open, args.claimed, 0, 0, busy, busy)
                fill(db, TEAM, args.history + day.live, FILLED, day=day, quiet=True)
            jobs = handover_jobs(db)
            meter = Meter(jobs)
            # A bot up since the day before: Monday's handover, today's purge and morning done.
            handover = jobs.run_due(FILLED + timedelta(minutes=31)).handover
            print(f"warm-up: Monday's handover {handover}; {jobs.run_due(START)}")
            meter.reset()
            t0, cpu0 = time.perf_counter(), time.process_time()
            for i in range(1, args.runs + 1):
                now = START + timedelta(minutes=i)
                jobs.run_due(now, meter.due(jobs, now))
            total_ms = (time.perf_counter() - t0) * 1000
            cpu_ms = (time.process_time() - cpu0) * 1000
        finally:
            drop()
    n = args.runs
    print(f"{'job':<28}{'ms/pass':>9}{'SQL/pass':>10}")
    for name in sorted(meter.ms, key=lambda k: -meter.ms[k]):
        print(f"{name:<28}{meter.ms[name] / n:>9.2f}{meter.sql[name] / n:>10.1f}")
    print(
        f"whole pass: {total_ms / n:.2f} ms ({cpu_ms / n:.2f} ms of CPU), "
        f"{sum(meter.sql.values()) / n:.1f} SQL statements (mean of {n} passes a minute apart)"
    )
    return exit_code(True)


if __name__ == "__main__":
    sys.exit(main())
