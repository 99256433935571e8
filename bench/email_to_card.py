"""Email -> card: from an email landing in the (fake) Exchange inbox to its card reaching Slack.

Runs the bot as `dutybot run` does (handlers.slack.server.build + bot.runner.Runner: the mail
watcher, the delivery loop, card pacing of 1 per second per channel) with an EWS mailbox on
tests/fakes/ews_server.py (real exchangelib, real HTTP) or a Graph mailbox on
tests/fakes/graph_server.py (real msal and requests, real HTTPS), a fresh SQLite file, and
the fake Slack Web API (tests/fakes/slack_api.py). One email at a time is dropped into the
inbox, at a random moment, and the time until the fake Slack receives its chat.postMessage
is taken.

Three modes:
- streaming: an EWS streaming subscription tells the bot at once (the default config);
  goal p95 <= 5 s.
- polling: EWS with streaming off; the bot syncs every --poll-seconds (30 s by default in
  config; 2 s here so the run stays short). Expect about half the interval plus the
  streaming figure.
- graph: Microsoft Graph with the default pacing (bot/mail/pace.py: a look every 2 s after
  mail, backing off to poll_seconds, 4 s, while the inbox is quiet). Emails come 1 to 15 s
  apart, so most land in a quiet inbox, as on a duty day. Goal p95 <= 5 s, using at most 10%
  of Graph's budget of 10,000 requests per 10 minutes per mailbox: the fake counts the
  requests to the mailbox, over the emails and then over a quiet spell (--quiet-seconds).

    .venv/bin/python bench/email_to_card.py [--emails 30] [--poll-seconds 2] [--mode all]
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
from bot.kernel.config import Config, GraphMailboxConfig  # noqa: E402
from bot.mail.adapters.graph import GraphSettings  # noqa: E402
from bot.mail.pace import FASTEST  # noqa: E402
from handlers.slack.server import build  # noqa: E402
from tests.fakes.ews_server import FakeEws  # noqa: E402
from tests.fakes.graph_server import FakeGraph  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.mail import make_email  # noqa: E402

GOAL_P95_S = 5.0  # streaming, and Graph
GRAPH_BUDGET = 10_000  # requests per 10 minutes per app and mailbox (Outlook service limits)
GOAL_BUDGET_SHARE = 0.10  # Graph: at most this share of the budget
# Requests an email costs besides the look that finds it: the download of its MIME and, once
# resolved, its move to Done; "Duty #N" categories (categorise) add a read and a write; and a
# look that finds more than a delta page of emails asks for a further page per page_size.
PER_EMAIL = {
    "download": 1.0,
    "move to Done": 1.0,
    "categorise": 2.0,
    "paging": 1 / GraphSettings.page_size,
}


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


def graph_config(fake_slack: FakeSlack, graph: FakeGraph, db: Path) -> Config:
    mailbox = {
        "kind": "graph",
        "address": graph.address,
        "tenant_id": graph.tenant_id,
        "client_id": graph.client_id,
        "client_secret_env": f"{BENCH_ENV}_GRAPH",
        "authority_host": graph.authority_host,
        "graph_url": graph.graph_url,  # poll_seconds: the default
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


def run_graph(emails: int, quiet: float) -> tuple[list[float], dict[str, tuple[int, float]]]:
    """Seconds from each email landing to its card, and the requests to the mailbox and the
    seconds they were counted over: while the emails came, and in a quiet spell after."""
    latencies: list[float] = []
    spent: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, FakeGraph() as graph, FakeSlack() as slack:
        os.environ[f"{BENCH_ENV}_GRAPH"] = graph.client_secret
        os.environ["REQUESTS_CA_BUNDLE"] = graph.ca_bundle  # trust the fake's own CA
        cfg = graph_config(slack, graph, Path(tmp) / "duty.db")
        bot = DutyBot(cfg).start()
        _, runner = build(cfg, bot)
        runner.start()
        try:
            time.sleep(5.0)  # the first sync, then the pace settles to a quiet inbox
            start, before_all = time.monotonic(), len(graph.requests_to())
            for n in range(emails):
                time.sleep(random.uniform(1.0, 15.0))  # mostly into a quiet inbox
                before = len(posts(slack))
                mime = make_email(
                    f"Bench referral {n}", "Please call back.", message_id=f"<graph{n}@x.org>"
                )
                landed = time.time()
                graph.deliver(mime)
                slack.wait_for(lambda b=before: len(posts(slack)) > b, timeout=60)
                latencies.append(posts(slack)[before].at - landed)
            spent["emails"] = (len(graph.requests_to()) - before_all, time.monotonic() - start)
            time.sleep(10.0)  # the pace backs off to quiet
            start, before_all = time.monotonic(), len(graph.requests_to())
            time.sleep(quiet)
            spent["quiet"] = (len(graph.requests_to()) - before_all, time.monotonic() - start)
        finally:
            runner.shutdown(timeout=5)
            bot.close()
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
    return latencies, spent


def per_10_minutes(requests: int, seconds: float) -> float:
    return requests / seconds * 600 if seconds > 0 else float("nan")


def print_graph_budget(spent: dict[str, tuple[int, float]], emails: int) -> float:
    """Print the requests per 10 minutes measured and the arithmetic at the fastest pace;
    returns the highest measured share of Graph's budget."""
    share = 0.0
    for label, (requests, seconds) in spent.items():
        rate = per_10_minutes(requests, seconds)
        share = max(share, rate / GRAPH_BUDGET)
        what = f"{emails} emails" if label == "emails" else "a quiet inbox"
        print(
            f"graph requests to the mailbox, {what}: {requests} in {seconds:.0f} s = "
            f"{rate:.0f} per 10 min ({rate / GRAPH_BUDGET:.1%} of {GRAPH_BUDGET:,})"
        )
    slowest = GraphMailboxConfig.model_fields["poll_seconds"].default
    looks_fast, looks_quiet = 600 / FASTEST, 600 / slowest
    per_email = sum(PER_EMAIL.values())
    room = GRAPH_BUDGET * GOAL_BUDGET_SHARE - looks_fast
    print(
        f"arithmetic: a look is 1 request (a delta page of up to {GraphSettings.page_size} "
        f"emails); every {FASTEST:g} s "
        f"after mail = {looks_fast:.0f} per 10 min ({looks_fast / GRAPH_BUDGET:.1%}), every "
        f"{slowest:g} s when quiet = {looks_quiet:.0f} ({looks_quiet / GRAPH_BUDGET:.1%}); each "
        f"email adds at most {per_email:g} ("
        + ", ".join(f"{k} {v:g}" for k, v in PER_EMAIL.items())
        + f"), so 10% of the budget leaves room for {room / per_email:.0f} emails per 10 min "
        "even at the fastest pace throughout"
    )
    return share


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emails", type=int, default=30, help="emails per mode")
    ap.add_argument("--poll-seconds", type=float, default=2.0, help="polling mode's interval")
    ap.add_argument("--quiet-seconds", type=float, default=120.0, help="graph's quiet spell")
    ap.add_argument("--mode", choices=("all", "streaming", "polling", "graph"), default="all")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    header("email -> card: fake EWS or Graph inbox to fake Slack, through the running bot (SQLite)")
    met = True
    if args.mode in ("all", "streaming"):
        seconds = run_mode(True, args.emails, args.poll_seconds)
        p = print_latencies("streaming", seconds)
        met = verdict("streaming p95 <= 5 s", p["p95"] <= GOAL_P95_S * 1000, f"{p['p95']:.0f} ms")
    if args.mode in ("all", "polling"):
        seconds = run_mode(False, args.emails, args.poll_seconds)
        print_latencies(f"polling every {args.poll_seconds:g} s", seconds)
    if args.mode in ("all", "graph"):
        seconds, spent = run_graph(args.emails, args.quiet_seconds)
        p = print_latencies("graph, default pacing", seconds)
        share = print_graph_budget(spent, args.emails)
        fast = verdict("graph p95 <= 5 s", p["p95"] <= GOAL_P95_S * 1000, f"{p['p95']:.0f} ms")
        cheap = verdict(
            "graph at most 10% of its request budget", share <= GOAL_BUDGET_SHARE, f"{share:.1%}"
        )
        met = met and fast and cheap
    return exit_code(met)


if __name__ == "__main__":
    raise SystemExit(main())
