"""`/duty claim` through HTTP mode with 100,000 tasks in the database.

The real bot in Slack HTTP mode (bolt under waitress) against the fake Slack, built by
tests/slack_harness.py, on a fresh SQLite file (or, with --pg, a throwaway PostgreSQL schema)
bulk-filled with 100,000 tasks (bench/history.py). The open tasks' cards are posted to the
fake first. Then one signed `/duty claim N` after another goes over real HTTP, each for a
different open task, and the time to each answer is taken. The card update and thread reply
that follow each claim run in the background, as in production. Goal: p99 at most 100 ms.

    .venv/bin/python bench/claim_http.py [--tasks 100000] [--claims 1000] [--pg]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, update  # noqa: E402

from bench.common import exit_code, header, print_latencies, verdict  # noqa: E402
from bench.history import DutyDay, fill, open_db  # noqa: E402
from storage.models import Task  # noqa: E402
from tests.slack_harness import ALEX, MONDAY_10AM, PRIYA, SAM, TEAM, SlackHarness  # noqa: E402

GOAL_MS = 100.0
WARM_UP = 20


def post_open_cards(h: SlackHarness) -> int:
    """Mark the open tasks' cards as not yet posted, then deliver them to the fake Slack."""
    with h.db.engine.begin() as conn:
        conn.execute(
            update(Task)
            .where(Task.state == "open")
            .values(card_state="pending", card_channel=None, card_ts=None, card_shown_version=0)
        )
    posted = 0
    while True:
        got = h.runner.deliver(h.team.name)
        assert not got.waiting, "the fake Slack refused the cards"
        if not got.posted:
            return posted
        posted += got.posted


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--claims", type=int, default=1_000)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL (DUTYBOT_TEST_PG_URL)")
    args = ap.parse_args()

    where = "PostgreSQL" if args.pg else "SQLite file"
    header(f"/duty claim over signed HTTP with {args.tasks:,} tasks ({where})")
    with tempfile.TemporaryDirectory() as tmp:
        db, drop = open_db(args.pg, Path(tmp) / "bench.db")
        try:
            day = DutyDay(open=args.claims + WARM_UP)
            fill(db, TEAM["name"], args.tasks, MONDAY_10AM, day=day, people=(SAM, ALEX, PRIYA))
            with SlackHarness(db) as h:
                t0 = time.perf_counter()
                cards = post_open_cards(h)
                print(f"posted the {cards:,} open tasks' cards in {time.perf_counter() - t0:.1f} s")
                timings = claim_all(h)
                p = print_latencies("/duty claim", timings)
                met = verdict("p99 ≤ 100 ms", p["p99"] <= GOAL_MS, f"p99 {p['p99']:.0f} ms")
                check(h, len(timings) + WARM_UP)
                print("waiting for the bot's queued deliveries to finish before stopping")
        finally:
            drop()
    return exit_code(met)


def claim_all(h: SlackHarness) -> list[float]:
    """Claim every open task, one request at a time; the first few warm up and aren't kept."""
    with h.db.session() as s:
        numbers = list(
            s.scalars(select(Task.number).where(Task.state == "open").order_by(Task.number))
        )
    users = (SAM, ALEX, PRIYA)
    timings: list[float] = []
    for i, n in enumerate(numbers):
        t0 = time.perf_counter()
        r = h.command(f"claim {n}", user=users[i % 3])
        took = time.perf_counter() - t0
        assert r.status_code == 200, f"/duty claim {n} answered {r.status_code}"
        assert f"claimed #{n}" in r.json().get("text", ""), r.text
        if i >= WARM_UP:
            timings.append(took)
    return timings


def check(h: SlackHarness, claims: int) -> None:
    """Every claim stuck, each claimed card was updated, and no card was posted twice."""
    t0 = time.perf_counter()
    while (got := h.runner.deliver(h.team.name)).updated or got.messages:
        pass  # whatever the lazy deliveries have not sent yet goes now
    print(f"delivered what was left in {time.perf_counter() - t0:.1f} s")
    with h.db.session() as s:
        left = s.scalar(select(Task.id).where(Task.state == "open").limit(1))
    assert left is None, "some open task was not claimed"
    updates = [c for c in h.fake.calls_to("chat.update") if c.fault is None]
    posts = h.cards()
    print(f"{claims:,} claims; the fake Slack got {len(updates):,} card updates")
    assert len(posts) == claims, "a card was posted twice or lost"
    assert len(updates) >= claims, "a claimed card was not updated"


if __name__ == "__main__":
    sys.exit(main())
