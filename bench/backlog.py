"""A 600-email backlog against a fake Slack that allows 1 message per second per channel.

The bot was down while the duty inbox filled up: 600 emails wait in its folder mailbox (about
one in ten a reply, which becomes a thread note rather than a card). The bot then runs as
`dutybot run` does (handlers.slack.server.build + bot.runner.Runner: the mail watcher and the
delivery loop, cards paced at one per second per channel) against the fake Slack Web API with
its per-channel rate limit on (1 chat.postMessage per second, 429 + Retry-After beyond that).
Prints the drain rate (posts and cards per second) and checks that every task got exactly one
card and every thread note went exactly once. Goal: drains near 1/s (at least 0.9/s), no card
lost or doubled. The full run takes about 10 minutes; --emails N runs a shorter one.

    .venv/bin/python bench/backlog.py [--emails 600]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_config, drop_emails, exit_code, header, verdict  # noqa: E402
from bench.history import Backlog, backlog_left  # noqa: E402
from bench.intake import make_emails  # noqa: E402
from bot.app import DutyBot  # noqa: E402
from handlers.slack.chat import METADATA_TYPE  # noqa: E402
from handlers.slack.server import build  # noqa: E402
from tests.fakes.slack_api import Call, FakeSlack  # noqa: E402

GOAL_RATE = 0.9  # posts per second: "near 1/s" under a limit of exactly 1/s
CHANNEL = "C0DUTY"  # bench_config's team channel


def channel_posts(fake: FakeSlack) -> list[Call]:
    """chat.postMessage calls the fake accepted into the duty channel (cards and thread notes)."""
    return [
        c
        for c in fake.calls_to("chat.postMessage")
        if c.fault is None and c.params.get("channel") == CHANNEL
    ]


def is_card(call: Call) -> bool:
    meta = call.json("metadata") or {}
    return meta.get("event_type") == METADATA_TYPE and not call.params.get("thread_ts")


def left(bot: DutyBot) -> Backlog:
    assert bot.db is not None
    return backlog_left(bot.db)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emails", type=int, default=600)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    header(f"a {args.emails}-email backlog, fake Slack limited to 1 message/s per channel")
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        fake.rate_limit_per_channel = 1.0
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        drop_emails(inbox, (raw.mime for _, raw in make_emails(args.emails)))
        mailbox = {"kind": "folder", "path": str(inbox), "poll_seconds": 1}
        cfg = bench_config(fake.url, Path(tmp) / "duty.db", mailbox)
        bot = DutyBot(cfg).start()
        _, runner = build(cfg, bot)  # pace_seconds=1.0, as in production
        t0 = time.monotonic()
        runner.start()
        try:
            last_report = t0
            while True:
                time.sleep(1)
                counts = left(bot)
                if counts.tasks and counts.drained(args.emails):
                    break
                if time.monotonic() - last_report >= 60:
                    last_report = time.monotonic()
                    waiting = counts.cards_waiting
                    print(f"  ... {len(channel_posts(fake))} posts, {waiting} cards waiting")
                if time.monotonic() - t0 > args.emails * 3 + 120:
                    print("gave up waiting: the backlog did not drain")
                    break
        finally:
            runner.shutdown(timeout=10)
            bot.close()
        return report(fake, bot, args.emails, time.monotonic() - t0)


def report(fake: FakeSlack, bot: DutyBot, emails: int, took: float) -> int:
    posts = channel_posts(fake)
    cards = [c for c in posts if is_card(c)]
    notes = [c for c in posts if c.params.get("thread_ts")]
    limited = [c for c in fake.calls_to("chat.postMessage") if c.fault == "ratelimited"]
    per_task = Counter(str((c.json("metadata") or {})["event_payload"]["task_id"]) for c in cards)
    end = left(bot)
    tasks, waiting, unsent = end.tasks, end.cards_waiting, end.notes_unsent
    span = posts[-1].at - posts[0].at if len(posts) > 1 else float("nan")
    rate = (len(posts) - 1) / span
    card_rate = (len(cards) - 1) / (cards[-1].at - cards[0].at) if len(cards) > 1 else rate
    print(f"{emails} emails -> {tasks} tasks; drained in {took:.0f} s")
    print(f"posts: {len(cards)} cards + {len(notes)} thread notes in {span:.0f} s")
    print(f"drain rate: {rate:.3f} posts/s (cards only: {card_rate:.3f} cards/s)")
    print(f"429s from the fake: {len(limited)}")
    doubled = [t for t, n in per_task.items() if n > 1]
    once = len(per_task) == tasks and not doubled and waiting == 0 and unsent == 0
    print(
        f"every card exactly once: {'yes' if once else 'NO'} "
        f"({len(per_task)} tasks with a card, {len(doubled)} doubled, {waiting} waiting, "
        f"{unsent} thread notes unsent)"
    )
    met = verdict(
        "drains near 1/s (≥ 0.9/s), no card lost or doubled",
        once and rate >= GOAL_RATE,
        f"{rate:.2f} posts/s, {'every card once' if once else 'cards lost or doubled'}",
    )
    return exit_code(met)


if __name__ == "__main__":
    sys.exit(main())
