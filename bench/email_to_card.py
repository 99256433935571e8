"""Email -> card: from an email landing in the (fake) Exchange inbox to its card reaching Slack.

Runs the bot as `dutybot run` does (handlers.slack.server.build + bot.runner.Runner: the mail
watcher, the delivery loop, card pacing of 1 per second per channel) with an EWS mailbox on
tests/fakes/ews_server.py (real exchangelib, real HTTP), a fresh SQLite file, and the fake
Slack Web API (tests/fakes/slack_api.py). One email at a time is dropped into the inbox, at
a random moment, and the time until the fake Slack receives its chat.postMessage is taken.

Two modes:
- streaming: an EWS streaming subscription tells the bot at once (the default config);
  goal p95 <= 5 s.
- polling: streaming off; the bot syncs every --poll-seconds (30 s by default in config; 2 s
  here so the run stays short). Expect about half the interval plus the streaming figure.

    .venv/bin/python bench/email_to_card.py [--emails 30] [--poll-seconds 2] [--mode both]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_ENV,
    bench_config,
    exit_code,
    header,
    print_latencies,
    verdict,
)
from bot.app import DutyBot  # noqa: E402
from bot.kernel.config import Config  # noqa: E402
from handlers.slack.server import build  # noqa: E402
from tests.fakes.ews_server import FakeEws  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.mail import make_email  # noqa: E402

GOAL_P95_S = 5.0  # streaming


def config(fake_slack: FakeSlack, ews: FakeEws, db: Path, streaming: bool, poll: float) -> Config:
    mailbox = {
        "kind": "ews",
        "address": ews.address,
        "endpoint": ews.endpoint,
        "auth": "basic",
        "username": ews.username,
        "password_env": f"{BENCH_ENV}_EWS",
        "streaming": streaming,
        "poll_seconds": poll,
    }
    return bench_config(fake_slack.url, db, mailbox)


def posts(fake: FakeSlack) -> list[Any]:
    return [c for c in fake.calls_to("chat.postMessage") if c.fault is None]


def run_mode(streaming: bool, emails: int, poll: float) -> list[float]:
    """Seconds from each email landing to its card reaching Slack."""
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, FakeEws() as ews, FakeSlack() as slack:
        os.environ[f"{BENCH_ENV}_EWS"] = ews.password  # this fake's, for this mode
        cfg = config(slack, ews, Path(tmp) / "duty.db", streaming, poll)
        bot = DutyBot(cfg).start()
        _, runner = build(cfg, bot)  # pace_seconds=1.0, as in production
        runner.start()
        try:
            if streaming and not ews.wait_for_streams(1, timeout=30):
                raise SystemExit("the bot never opened a streaming subscription")
            time.sleep(1.0)  # let the first (empty) sync settle
            for n in range(emails):
                # Mail arrives at no particular moment; >1 s apart, as the pacing allows.
                time.sleep(random.uniform(1.1, 1.1 + (poll if not streaming else 0.5)))
                before = len(posts(slack))
                mime = make_email(
                    f"Bench referral {n}", "Please call back.", message_id=f"<bench{n}@x.org>"
                )
                landed = time.time()
                ews.deliver(mime)
                slack.wait_for(lambda b=before: len(posts(slack)) > b, timeout=poll + 30)
                latencies.append(posts(slack)[before].at - landed)
        finally:
            runner.shutdown(timeout=5)
            bot.close()
    return latencies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emails", type=int, default=30, help="emails per mode")
    ap.add_argument("--poll-seconds", type=float, default=2.0, help="polling mode's interval")
    ap.add_argument("--mode", choices=("both", "streaming", "polling"), default="both")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    header("email -> card: fake EWS inbox to fake Slack, through the running bot (SQLite)")
    met = True
    if args.mode in ("both", "streaming"):
        seconds = run_mode(True, args.emails, args.poll_seconds)
        p = print_latencies("streaming", seconds)
        met = verdict("streaming p95 <= 5 s", p["p95"] <= GOAL_P95_S * 1000, f"{p['p95']:.0f} ms")
    if args.mode in ("both", "polling"):
        seconds = run_mode(False, args.emails, args.poll_seconds)
        print_latencies(f"polling every {args.poll_seconds:g} s", seconds)
    return exit_code(met)


if __name__ == "__main__":
    raise SystemExit(main())
