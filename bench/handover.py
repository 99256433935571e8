"""Building the handover with 1,000,000 tasks of history in the database.

Fills a fresh SQLite file (or, with --pg, a throwaway PostgreSQL schema) with a million tasks,
nearly all resolved long ago, plus a busy duty day (a few hundred open or claimed, today's
arrivals, resolutions, notes, alerts, follow-ups): see bench/history.py. Then times the
handover preview path (`/duty handover`: bot.jobs.TeamJobs.preview -> bot.handover) many
times, and prints the query plans of its queries. Goal: at most 100 ms.

    .venv/bin/python bench/handover.py [--tasks 1000000] [--runs 30] [--pg] [--db FILE]

--db FILE keeps the filled SQLite file to reuse on the next run (it is filled only once).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.common import exit_code, header, print_latencies, verdict  # noqa: E402
from bench.history import count_tasks, fill, open_db  # noqa: E402
from bot.app import DutyBot  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import parse_config  # noqa: E402
from storage.db import Database  # noqa: E402

GOAL_MS = 100.0
TEAM = "care-experienced"
# Monday 23 November 2026, 16:00 in London: just before the 16:30 handover.
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def explain(db: Database, team: str) -> None:
    """The plans of the handover's queries, to see which index each one uses."""
    start = NOW.replace(hour=0, minute=0)
    end = start + timedelta(days=1)
    queries = {
        "came in today": "SELECT * FROM tasks WHERE team = :team AND received_at >= :start "
        "AND received_at < :end ORDER BY number",
        "resolved today": "SELECT * FROM tasks WHERE team = :team AND state = 'resolved' "
        "AND resolved_at >= :start AND resolved_at < :end ORDER BY number",
        "open": "SELECT * FROM tasks WHERE team = :team AND state IN ('open') "
        "ORDER BY safeguarding DESC, urgent DESC, number LIMIT 500",
        "last note": "SELECT * FROM events WHERE task_id = :task AND note != '' "
        "ORDER BY at DESC, id DESC LIMIT 1",
        "alerts today": "SELECT * FROM events WHERE team = :team AND kind IN ('alerted') "
        "AND at >= :start AND at < :end ORDER BY at, id",
    }
    with db.engine.connect() as conn:
        task = conn.scalar(text("SELECT max(id) FROM tasks WHERE state = 'claimed'"))
        params = {"team": team, "start": start, "end": end, "task": task}
        if db.is_sqlite:
            params["start"] = start.strftime("%Y-%m-%d %H:%M:%S.%f")
            params["end"] = end.strftime("%Y-%m-%d %H:%M:%S.%f")
        for name, sql in queries.items():
            prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
            rows = conn.execute(text(prefix + sql), params).all()
            plan = " | ".join(str(r[-1]) for r in rows)
            print(f"  plan, {name}: {plan}")


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
            have = count_tasks(db, TEAM)
            if have == 0:
                fill(db, TEAM, args.tasks, NOW)
            elif have != args.tasks:
                print(f"{path} holds {have:,} tasks, not {args.tasks:,}; use another --db")
                return 2
            else:
                print(f"reusing {path} ({have:,} tasks)")
            timings = run(db, args.runs)
            if args.explain:
                explain(db, TEAM)
        finally:
            drop()
    p = print_latencies("handover preview", timings)
    met = verdict("≤ 100 ms", p["p95"] <= GOAL_MS, f"p95 {p['p95']:.0f} ms")
    return exit_code(met)


def run(db: Database, runs: int) -> list[float]:
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
    first = jobs.preview(NOW)  # warm: imports, statement cache, the database's page cache
    lines = first.view.message.plain(bot.team().cfg.names).count("\n") + 1
    print(f"the handover: {lines} lines, quiet={first.view.quiet}")
    timings: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        jobs.preview(NOW)
        timings.append(time.perf_counter() - t0)
    return timings


if __name__ == "__main__":
    sys.exit(main())
