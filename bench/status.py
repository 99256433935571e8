"""The cost of /healthz and of a /metrics scrape with a big history in the database.

Both read the same status snapshot (bot/status.py): a few grouped queries over the tasks,
the cards waiting, the nudges, the mailbox checkpoints and the scheduler lease. Fills a fresh
SQLite file (or, with --pg, a throwaway PostgreSQL schema) with the tasks (bench/history.py),
then times the snapshot and the whole scrape (Prometheus text) many times. No goal is set in
the issue; a monitoring poll every 15-30 s should cost well under 100 ms.

    .venv/bin/python bench/status.py [--tasks 100000] [--runs 30] [--pg] [--db FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import exit_code, header, print_latencies, timed, verdict  # noqa: E402
from bench.history import ensure_filled, open_db  # noqa: E402
from bot.kernel.clock import ManualClock  # noqa: E402
from bot.kernel.config import parse_config  # noqa: E402
from bot.ops.monitor import Monitor  # noqa: E402
from storage.db import Database  # noqa: E402

GOAL_MS = 100.0
TEAM = "care-experienced"
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def monitor(db: Database) -> Monitor:
    config = parse_config(
        {
            "database": {"url": db.url},
            "teams": [{"name": TEAM, "channel": "C0DUTY", "managers": ["jo"]}],
        }
    )
    return Monitor(config, db, ManualClock(NOW))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL (DUTYBOT_TEST_PG_URL)")
    ap.add_argument("--db", type=Path, help="keep (and reuse) the SQLite file here")
    args = ap.parse_args()

    kind = "PostgreSQL" if args.pg else "SQLite file"
    header(f"/healthz and /metrics with {args.tasks:,} tasks ({kind})")
    with tempfile.TemporaryDirectory() as tmp:
        db, drop = open_db(args.pg, args.db or Path(tmp) / "bench.db")
        try:
            if not ensure_filled(db, TEAM, args.tasks, NOW, say_reuse=False):
                return 2
            watch = monitor(db)
            print(f"tasks by state: {watch.status().to_json()['teams'][0]['tasks']}")
            snapshot = timed(watch.healthz, args.runs)
            scrape = timed(watch.metrics, args.runs)
        finally:
            drop()
    print_latencies("/healthz (status snapshot as JSON)", snapshot)
    p = print_latencies("/metrics (snapshot + Prometheus text)", scrape)
    met = verdict("a scrape well under 100 ms", p["p95"] <= GOAL_MS, f"p95 {p['p95']:.0f} ms")
    return exit_code(met)


if __name__ == "__main__":
    sys.exit(main())
