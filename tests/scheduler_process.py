"""One bot process running its clocks against a shared database, for tests/test_scheduler.py.

    python -m tests.scheduler_process URL SCHEMA BOT_TIME LEASE_TIME HOLDER [--go FILE] [--hold]

It builds the real DutyBot and DutyScheduler (APScheduler in the background), prints
"ready", waits for the --go file if given, starts the scheduler and prints one JSON line
about its first scheduled pass. Then it shuts down cleanly (releasing the lease), or with
--hold keeps running until it is killed, as a process that dies holding the lease would.
BOT_TIME is the bot's clock and LEASE_TIME the lease's, both ISO times that stand still.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import time
from datetime import datetime
from pathlib import Path

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.ops.scheduler import DutyScheduler, Reports
from storage.db import Database
from tests.conftest import TEAM


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("url", "schema", "bot_time", "lease_time", "holder"):
        p.add_argument(name)
    p.add_argument("--go")
    p.add_argument("--hold", action="store_true")
    a = p.parse_args()

    cfg = parse_config({"teams": [TEAM]})
    db = Database(a.url, schema=a.schema or None)
    clock = ManualClock(datetime.fromisoformat(a.bot_time))
    bot = DutyBot(cfg, clock=clock, db=db).start(with_mailboxes=False)
    passes: queue.Queue[Reports] = queue.Queue()
    jobs = {name: t.jobs for name, t in bot.teams.items() if t.jobs is not None}
    scheduler = DutyScheduler(
        db,
        clock,
        cfg.scheduler,
        jobs,
        a.holder,
        lease_clock=ManualClock(datetime.fromisoformat(a.lease_time)),
        after_tick=lambda _team, reports: passes.put(reports),
    )
    print("ready", flush=True)
    while a.go and not Path(a.go).exists():
        time.sleep(0.01)
    scheduler.start()
    reports = passes.get(timeout=60)
    handover = None if reports is None else reports[TEAM["name"]].handover
    print(json.dumps({"holder": a.holder, "acted": reports is not None, "handover": handover}))
    sys.stdout.flush()
    if a.hold:
        while True:  # until killed, holding the lease
            time.sleep(1)
    scheduler.shutdown()
    bot.close()


if __name__ == "__main__":
    main()
