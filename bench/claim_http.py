"""`/duty claim` through HTTP mode with 100,000 tasks in the database.

The real bot in Slack HTTP mode (bolt under waitress) against the fake Slack, built by
tests/slack_harness.py, on a fresh SQLite file (or, with --pg, a throwaway PostgreSQL schema)
bulk-filled with 100,000 tasks (bench/history.py). The open tasks' cards are posted to the
fake first. Then one signed `/duty claim N` after another goes over real HTTP, each for a
different open task, and the time to each answer is taken. The card update and thread reply
that follow each claim run in the background, as in production. Goal: p99 at most 100 ms.

Besides latency it prints what a claim costs: the process's CPU (``time.process_time`` over
the timed claims and the deliveries left after them, divided by the claims; the fake Slack
and the HTTP client share the process, so this is an upper bound on the bot's own), the SQL
statements (``before_cursor_execute``) and sessions (pool ``checkout``) a claim, split into the
request and the delivery after it (bolt's lazy listener threads), and the gen-2 garbage
collections (``gc.callbacks``) and their pauses.

    .venv/bin/python bench/claim_http.py [--tasks 100000] [--claims 1000] [--pg]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, select, update  # noqa: E402

from bench.common import exit_code, header, print_latencies, verdict  # noqa: E402
from bench.history import DutyDay, fill, open_db  # noqa: E402
from bot.chat.delivery import Delivered  # noqa: E402
from storage.models import Task  # noqa: E402
from tests.slack_harness import ALEX, MONDAY_10AM, PRIYA, SAM, TEAM, SlackHarness  # noqa: E402

GOAL_MS = 100.0
WARM_UP = 20


BOT_THREADS = ("waitress", "slack-lazy")  # the request threads and bolt's lazy listeners


def bot_threads_cpu() -> Counter[str]:
    """CPU seconds the bot's own threads have used (from /proc, 10 ms ticks), by kind: the
    fake Slack and the client run in other threads of this process."""
    tick = os.sysconf("SC_CLK_TCK")
    used: Counter[str] = Counter()
    for t in threading.enumerate():
        kind = next((k for k in BOT_THREADS if t.name.startswith(k)), None)
        if kind is not None and t.native_id is not None:
            with open(f"/proc/self/task/{t.native_id}/stat", encoding="ascii") as f:
                fields = f.read().rpartition(")")[2].split()
            used[kind] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


class Meter:
    """CPU, SQL statements, sessions and gen-2 collections while it is on. Statements and
    sessions inside the bot's delivery rounds (``DutyBot.deliver``, wrapped here to tell
    them apart) count as the delivery's, the rest (the request, the lease look before a
    round) as the request's."""

    def __init__(self, h: SlackHarness) -> None:
        self.statements: Counter[str] = Counter()
        self.sessions: Counter[str] = Counter()
        self.rounds: Counter[str] = Counter()
        self.gc_pauses: list[float] = []
        self._gc_started = 0.0
        self._on = False
        self._cpu = 0.0
        self.bot_cpu: Counter[str] = Counter()
        self._local = threading.local()
        event.listen(h.db.engine, "before_cursor_execute", self._statement)
        event.listen(h.db.engine.pool, "checkout", self._session)
        gc.callbacks.append(self._gc)
        self._deliver = h.bot.deliver
        h.bot.deliver = self._counted_deliver  # type: ignore[method-assign]

    def _counted_deliver(self, *args: Any, **kwargs: Any) -> Delivered:
        self._local.delivering = True
        try:
            got = self._deliver(*args, **kwargs)
        finally:
            self._local.delivering = False
        if self._on:
            self.rounds["all"] += 1
            self.rounds["with work"] += bool(got.posted or got.updated or got.messages)
        return got

    def _where(self) -> str:
        return "delivery" if getattr(self._local, "delivering", False) else "request"

    def _statement(self, *_: Any) -> None:
        if self._on:
            self.statements[self._where()] += 1

    def _session(self, *_: Any) -> None:
        if self._on:
            self.sessions[self._where()] += 1

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if not self._on or info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append(time.perf_counter() - self._gc_started)

    def start(self) -> None:
        self._cpu = time.process_time()
        self.bot_cpu.subtract(bot_threads_cpu())
        self._on = True

    def stop(self) -> None:
        self._on = False
        self._cpu = time.process_time() - self._cpu

    def report(self, claims: int) -> None:
        ms = {k: v / claims * 1000 for k, v in self.bot_cpu.items()}
        every = self._cpu / claims * 1000
        print(f"process CPU per claim: {every:.1f} ms (bot, fake Slack, client)")
        request, lazy, after = (ms.get(k, 0.0) for k in (*BOT_THREADS, "after"))
        print(
            f"the bot's CPU per claim: {sum(ms.values()):.1f} ms (requests {request:.1f}, "
            f"lazy deliveries {lazy:.1f}, deliveries left after {after:.1f})"
        )
        for label, counts in (("SQL statements", self.statements), ("sessions", self.sessions)):
            each = ", ".join(f"{k} {counts[k] / claims:.2f}" for k in ("request", "delivery"))
            print(f"{label} per claim: {sum(counts.values()) / claims:.2f} ({each})")
        print(f"delivery rounds: {self.rounds['all']}, {self.rounds['with work']} with work")
        worst = max(self.gc_pauses, default=0.0) * 1000
        print(f"gen-2 collections: {len(self.gc_pauses)}, longest pause {worst:.1f} ms")


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
    ap.add_argument(
        "--gap",
        type=float,
        default=0.0,
        help="ms to wait after each answer, so each claim's delivery runs on its own",
    )
    ap.add_argument(
        "--freeze",
        action="store_true",
        help="gc.freeze() once the bot is up and the cards posted, as `dutybot run` does",
    )
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
                print(f"objects the collector tracks: {len(gc.get_objects()):,}")
                if args.freeze:
                    gc.collect()
                    gc.freeze()
                meter = Meter(h)
                timings = claim_all(h, meter, args.gap / 1000)
                finish_deliveries(h, meter)
                meter.stop()
                p = print_latencies("/duty claim", timings)
                meter.report(len(timings))
                met = verdict("p99 ≤ 100 ms", p["p99"] <= GOAL_MS, f"p99 {p['p99']:.0f} ms")
                check(h, len(timings) + WARM_UP)
                print("waiting for the bot's queued deliveries to finish before stopping")
        finally:
            drop()
    return exit_code(met)


def claim_all(h: SlackHarness, meter: Meter, gap: float) -> list[float]:
    """Claim every open task, one request at a time; the first few warm up and aren't kept
    (``meter`` starts after them)."""
    with h.db.session() as s:
        numbers = list(
            s.scalars(select(Task.number).where(Task.state == "open").order_by(Task.number))
        )
    users = (SAM, ALEX, PRIYA)
    timings: list[float] = []
    for i, n in enumerate(numbers):
        if i == WARM_UP:
            meter.start()
        t0 = time.perf_counter()
        r = h.command(f"claim {n}", user=users[i % 3])
        took = time.perf_counter() - t0
        assert r.status_code == 200, f"/duty claim {n} answered {r.status_code}"
        assert f"claimed #{n}" in r.json().get("text", ""), r.text
        if i >= WARM_UP:
            timings.append(took)
        time.sleep(gap)
    return timings


def finish_deliveries(h: SlackHarness, meter: Meter) -> None:
    """Let the lazy deliveries in flight finish, then send whatever they left (the bot's
    work, in this thread: its CPU goes to the bot's)."""
    t0 = time.perf_counter()
    lock = h.runner._locks[h.team.name]
    while h.slack.executor._work_queue.qsize() or lock.locked():
        time.sleep(0.05)  # bolt's lazy listeners still at work
    meter.bot_cpu.update(bot_threads_cpu())  # before close: their threads end with it
    h.slack.close()
    cpu = time.thread_time()
    while (got := h.runner.deliver(h.team.name)).updated or got.messages:
        pass
    meter.bot_cpu["after"] += time.thread_time() - cpu
    print(f"delivered what was left in {time.perf_counter() - t0:.1f} s")


def check(h: SlackHarness, claims: int) -> None:
    """Every claim stuck, each claimed card was updated, and no card was posted twice."""
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
