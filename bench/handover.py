"""Building the handover with 1,000,000 tasks of history in the database.

Fills a fresh SQLite file (or, with --pg, a throwaway PostgreSQL schema) with a million tasks,
nearly all resolved long ago, plus a busy duty day (a few hundred open or claimed, today's
arrivals, resolutions, notes, alerts, follow-ups): see bench/history.py. Then times the
handover preview path (`/duty handover`: Handover.preview in bot/handover/post.py) many
times. With --explain, prints the plans of the statements one preview sends to the database
(caught with a SQLAlchemy cursor event, so they are the real ones). Goal: at most 100 ms.

    .venv/bin/python bench/handover.py [--tasks 1000000] [--runs 30] [--pg] [--db FILE]
        [--explain]

--db FILE keeps the filled SQLite file to reuse on the next run (it is filled only once).
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench.common import exit_code, header, print_latencies, timed, verdict  # noqa: E402
from bench.history import ensure_filled, open_db  # noqa: E402
from bot.app import DutyBot  # noqa: E402
from bot.kernel.clock import ManualClock  # noqa: E402
from bot.kernel.config import parse_config  # noqa: E402
from bot.ops.jobs import TeamJobs  # noqa: E402
from storage.db import Database  # noqa: E402

GOAL_MS = 100.0
TEAM = "care-experienced"
# Monday 23 November 2026, 16:00 in London: just before the 16:30 handover.
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def explain(db: Database, jobs: TeamJobs) -> None:
    """The plans of the queries one handover preview really runs (caught as they go to the
    driver), to see which index each one uses. A statement run many times (once per task) is
    explained once, with its first parameters."""
    caught: list[tuple[str, Any]] = []
    runs: Counter[str] = Counter()

    def catch(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not runs[statement]:
            caught.append((statement, parameters))
        runs[statement] += 1

    event.listen(db.engine, "before_cursor_execute", catch)
    try:
        jobs.handover.preview(NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", catch)
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    with db.engine.connect() as conn:
        for statement, parameters in caught:
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            plan = " | ".join(str(r[-1]) for r in rows)
            times = f" (x{runs[statement]})" if runs[statement] > 1 else ""
            print(f"  plan, {_what(statement)}{times}: {plan}")


def _what(statement: str) -> str:
    """A short name for a statement: its SQL on one line, without the column list, with "?"
    for each parameter and a long IN list cut to its size."""
    sql = " ".join(statement.split())
    # PostgreSQL's named parameters and their casts, as "?" (SQLite's placeholder)
    sql = re.sub(r"%\(\w+\)s(::[A-Z]+(?: WITH(?:OUT)? TIME ZONE)?)?", "?", sql)
    head, sep, rest = sql.partition(" FROM ")
    if sep and head.upper().startswith("SELECT"):
        sql = f"SELECT ... FROM {rest}"
    sql = re.sub(
        r"IN \(([^()]*(?:\([^()]*\)[^()]*)*)\)",
        lambda m: f"IN ({m[1].count(',') + 1} values)" if m[1].count(",") >= 3 else m[0],
        sql,
    )
    return sql if len(sql) <= 200 else sql[:197] + "..."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL (DUTYBOT_TEST_PG_URL)")
    ap.add_argument("--db", type=Path, help="keep (and reuse) the SQLite file here")
    ap.add_argument("--explain", action="store_true", help="print the queries' plans")
    args = ap.parse_args()

    header(f"handover with {args.tasks:,} tasks ({'PostgreSQL' if args.pg else 'SQLite file'})")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        db, drop = open_db(args.pg, path)
        try:
            if not ensure_filled(db, TEAM, args.tasks, NOW, name=str(path)):
                return 2
            jobs = handover_jobs(db)
            timings = run(jobs, args.runs)
            if args.explain:
                explain(db, jobs)
        finally:
            drop()
    p = print_latencies("handover preview", timings)
    met = verdict("≤ 100 ms", p["p95"] <= GOAL_MS, f"p95 {p['p95']:.0f} ms")
    return exit_code(met)


def handover_jobs(db: Database) -> TeamJobs:
    """The team's jobs in a bot on ``db`` whose clock stands at NOW (no mailboxes)."""
    config = parse_config(
        {
            "database": {"url": db.url},
            "teams": [
                {
                    "name": TEAM,
                    "channel": "C0DUTY",
                    "members": ["sam", "alex", "priya"],
                    "managers": ["jo"],
                    "names": {"jo": "Jo"},
                }
            ],
        }
    )
    bot = DutyBot(config, clock=ManualClock(NOW), db=db).start(with_mailboxes=False)
    gc.collect()
    gc.freeze()  # as `dutybot run` does once started (bot/cli.py)
    jobs = bot.team().jobs
    assert jobs is not None
    return jobs


def run(jobs: TeamJobs, runs: int) -> list[float]:
    first = jobs.handover.preview(NOW)  # warm: imports, statement cache, the database's page cache
    lines = first.view.message.plain(jobs.tasks.team.names).count("\n") + 1
    print(f"the handover: {lines} lines, quiet={first.view.quiet}")
    return timed(lambda: jobs.handover.preview(NOW), runs, warm=False)


if __name__ == "__main__":
    sys.exit(main())
