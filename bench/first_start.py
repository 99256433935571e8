"""A first start on a full inbox: the bot meets 5,000 emails already in its Inbox.

Fills the fake Exchange inbox (tests/fakes/ews_server.py, real exchangelib over HTTP) or the
fake Graph mailbox (tests/fakes/graph_server.py, real msal and requests over HTTPS) with N
varied duty emails from yesterday (bench/intake.py's, without replies, so every email is a
task of its own), served from a process of its own as Exchange is another machine. Then it
starts the bot on it with ``first_sync = "all"`` and times its first sync: every email read
from the mailbox, parsed, redacted and stored, into a fresh SQLite file (or, with --pg, a
throwaway PostgreSQL schema); it counts the SQL statements the sync sends (SQLAlchemy's
``before_cursor_execute``), as each is a round trip to PostgreSQL.
Then the cards go to the fake Slack (paced at one a second, as in production), and the
channel must show at most the summary and the newest ``--cards`` cards.
Goal: all N taken in within 60 s.

    .venv/bin/python bench/first_start.py [--emails 5000] [--mode both|ews|graph] [--cards 10]
        [--pg]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench.common import BENCH_ENV, bench_config, exit_code, header, verdict  # noqa: E402
from bench.history import open_db  # noqa: E402
from bench.intake import make_emails  # noqa: E402
from bot.app import DutyBot  # noqa: E402
from handlers.slack.server import build  # noqa: E402
from storage import tasks as q  # noqa: E402
from tests.fakes.ews_server import FakeEws  # noqa: E402
from tests.fakes.graph_server import FakeGraph  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

GOAL_S = 60.0
TEAM = "care-experienced"


def ews_mailbox(ews: FakeEws) -> tuple[dict[str, Any], dict[str, str]]:
    """The [teams.mailbox] keys for ``ews``, and the environment they name."""
    mailbox = {"kind": "ews", "address": ews.address, "endpoint": ews.endpoint, "auth": "basic",
               "username": ews.username, "password_env": f"{BENCH_ENV}_EWS",
               "streaming": False}  # fmt: skip
    return mailbox, {f"{BENCH_ENV}_EWS": ews.password}


def graph_mailbox(graph: FakeGraph) -> tuple[dict[str, Any], dict[str, str]]:
    mailbox = {"kind": "graph", "address": graph.address, "tenant_id": graph.tenant_id,
               "client_id": graph.client_id, "client_secret_env": f"{BENCH_ENV}_GRAPH",
               "authority_host": graph.authority_host, "graph_url": graph.graph_url}  # fmt: skip
    # REQUESTS_CA_BUNDLE: trust the fake's own CA
    return mailbox, {
        f"{BENCH_ENV}_GRAPH": graph.client_secret,
        "REQUESTS_CA_BUNDLE": graph.ca_bundle,
    }


def serve(mode: str, mimes: list[bytes], conn: Connection) -> None:
    """In a process of its own, as Exchange is another machine: the fake mailbox, full of mail
    from yesterday, until the parent says stop."""
    fake: Any = FakeEws() if mode == "ews" else FakeGraph()
    with fake:
        for mime in mimes:
            fake.deliver(mime)
        fake.age(timedelta(days=1))  # all of it was there before the bot started
        conn.send(ews_mailbox(fake) if mode == "ews" else graph_mailbox(fake))
        conn.recv()


def run(mode: str, mimes: list[bytes], cards: int, pg: bool) -> tuple[float, float, int, int, int]:
    """Seconds the first sync took (on the clock, and of the bot's CPU), tasks stored,
    messages the channel got, and SQL statements the first sync sent the database."""
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(mode, mimes, theirs))
    server.start()
    try:
        mailbox, env = ours.recv()
        os.environ.update(env)
        mailbox |= {"first_sync": "all", "first_sync_cards": cards}
        with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
            cfg = bench_config(slack.url, Path(tmp) / "duty.db", mailbox)
            db, drop = open_db(pg, Path(tmp) / "duty.db")
            bot = DutyBot(cfg, db=db).start()
            _, runner = build(cfg, bot)  # one card a second per channel, as in production
            statements = [0]

            def count(*_: Any) -> None:
                statements[0] += 1

            try:
                event.listen(db.engine, "before_cursor_execute", count)
                t0, cpu0 = time.perf_counter(), time.process_time()
                result = bot.check_mail(TEAM)
                took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                event.remove(db.engine, "before_cursor_execute", count)
                if result.error:
                    raise SystemExit(f"the first sync failed: {result.error}")
                while (done := runner.deliver(TEAM)).posted or done.messages:
                    pass
                assert bot.db is not None
                with bot.db.session() as s:
                    stored = q.count_tasks(s, TEAM, ["open", "claimed", "resolved"])
                posted = [c for c in slack.calls_to("chat.postMessage") if c.fault is None]
            finally:
                bot.close()
                drop()
    finally:
        ours.send("stop")
        server.join(timeout=30)
    return took, cpu, stored, len(posted), statements[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emails", type=int, default=5_000)
    ap.add_argument("--mode", choices=("both", "ews", "graph"), default="both")
    ap.add_argument("--cards", type=int, default=10, help="first_sync_cards")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL (DUTYBOT_TEST_PG_URL)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    where = "PostgreSQL" if args.pg else "SQLite"
    header(f"first start on a full inbox: {args.emails:,} emails, first_sync = 'all' ({where})")
    mimes = [raw.mime for _, raw in make_emails(args.emails, replies=0.0)]
    print(f"{len(mimes):,} emails, {sum(map(len, mimes)) / 1e6:.1f} MB of MIME")
    met = True
    for mode in ("ews", "graph") if args.mode == "both" else (args.mode,):
        took, cpu, stored, posted, statements = run(mode, mimes, args.cards, args.pg)
        print(
            f"{mode}: {stored:,} tasks in {took:.1f} s = {stored / took:,.0f} emails/s; "
            f"the channel got {posted} messages ({args.cards} cards and the summary at most)"
        )
        # CPU time is less swayed by other work on a busy machine than the wall clock is.
        print(f"{mode}: the bot's CPU {cpu:.1f} s = {cpu / max(stored, 1) * 1000:.1f} ms an email")
        print(f"{mode}: {statements:,} SQL statements = {statements / max(stored, 1):.2f} an email")
        right = stored == len(mimes) and posted <= args.cards + 1
        met &= verdict(
            f"{mode}: every email one task, <= {args.cards + 1} posts, <= {GOAL_S:.0f} s",
            right and took <= GOAL_S,
            f"{took:.1f} s, {stored:,} tasks, {posted} posts",
        )
    return exit_code(met)


if __name__ == "__main__":
    raise SystemExit(main())
