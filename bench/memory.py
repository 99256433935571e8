"""Resident memory of the running bot with 100,000 tasks in the database.

Runs the real `dutybot run` (Slack HTTP mode under waitress, a folder mailbox, the runner
delivering cards, the scheduler) as a child process against the local fake Slack
(tests/fakes/slack_api.py), on a SQLite file pre-filled with 100,000 tasks (bench/history.py).
Drops emails into the folder, waits until every card is in the fake Slack, sends a few signed
/duty commands (list, show, claim, handover), then reads the child's VmRSS (now) and VmHWM
(peak) from /proc. Goal: at most 120 MB.

    .venv/bin/python bench/memory.py [--tasks 100000] [--emails 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench.common import (  # noqa: E402
    ROOT,
    drop_emails,
    exit_code,
    header,
    proc_mb,
    slack_http_config,
    verdict,
)
from bench.history import backlog_left, count_tasks, fill  # noqa: E402
from bench.intake import make_emails  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.bot_process import free_port, until  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.slack_signing import signed_headers, slash_command_body  # noqa: E402

GOAL_MB = 120.0
TEAM = "care-experienced"
CHANNEL = "C0DUTY"
SAM = "USAM00001"
SECRET = "bench-signing-secret"


def config_text(db_url: str, inbox: Path, api_url: str, port: int) -> str:
    return (
        slack_http_config(db_url, api_url, port)
        + f"""
[[teams]]
name = "{TEAM}"
channel = "{CHANNEL}"
members = ["{SAM}", "UALEX0001", "UPRIYA001"]
managers = ["UJO000001"]

[teams.mailbox]
kind = "folder"
path = "{inbox}"
poll_seconds = 1
"""
    )


def memory_of(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    rss, peak = proc_mb(pid, "VmRSS"), proc_mb(pid, "VmHWM")
    if rss is None or peak is None:
        raise SystemExit(f"no memory figures for process {pid} in /proc")
    return rss, peak


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes]
) -> None:
    """``until`` ``check`` holds, giving up at once if the bot exits."""

    def probe() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"the bot exited ({proc.returncode}) while waiting for {what}")
        return check()

    try:
        until(probe, timeout, what)
    except AssertionError as exc:  # until's "waited N s for ..."
        raise SystemExit(f"timed out: {exc}") from None


def delivered(db: Database, emails: int) -> bool:
    """Every email taken in, and no card still waiting to be posted."""
    left = backlog_left(db)
    return left.emails == emails and left.cards_waiting == 0


def command(url: str, fake: FakeSlack, text: str) -> int:
    body = slash_command_body(
        "/duty", text, user_id=SAM, channel_id=CHANNEL, team_id=fake.team_id,
        response_url=fake.response_url(),
    )  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers.update(signed_headers(SECRET, body))
    return requests.post(url, data=body.encode(), headers=headers, timeout=30).status_code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--emails", type=int, default=30)
    args = ap.parse_args()

    header(f"resident memory of `dutybot run` with {args.tasks:,} tasks (SQLite file)")
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        path = Path(tmp) / "bench.db"
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        fill(db, TEAM, args.tasks, now)
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        port = free_port()
        cfg = Path(tmp) / "dutybot.toml"
        cfg.write_text(config_text(f"sqlite:///{path}", inbox, fake.url, port))
        env = {
            **os.environ,
            "BENCH_SLACK_BOT_TOKEN": "xoxb-bench",
            "BENCH_SLACK_SIGNING_SECRET": SECRET,
        }
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/dutybot"), "run", "--config", str(cfg)], env=env, cwd=tmp
        )
        try:
            base = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return requests.get(f"{base}/healthz", timeout=1).ok
                except requests.ConnectionError:
                    return False

            wait_for("/healthz", healthy, 60, proc)
            rss, _ = memory_of(proc.pid)
            print(f"started: RSS {rss:.1f} MB")
            drop_emails(inbox, (raw.mime for _, raw in make_emails(args.emails)))
            t0 = time.monotonic()
            wait_for("the emails and cards", lambda: delivered(db, args.emails), 600, proc)
            new_tasks = count_tasks(db, TEAM) - args.tasks
            cards = len(fake.messages(CHANNEL))
            print(f"{args.emails} emails, {new_tasks} new tasks, {cards} cards posted ", end="")
            print(f"in {time.monotonic() - t0:.1f} s")
            assert cards == new_tasks, "every new task has exactly one card"
            url = f"{base}/slack/events"
            last = args.tasks + new_tasks
            for text in ("list", f"show {last}", f"claim {last}", "list all", "handover"):
                status = command(url, fake, text)
                assert status == 200, f"/duty {text} answered {status}"
            time.sleep(5)  # let the lazy listeners deliver the card update and thread reply
            rss, peak = memory_of(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
            db.dispose()
    print(f"resident memory: {rss:.1f} MB now, {peak:.1f} MB at peak")
    met = verdict("≤ 120 MB", peak <= GOAL_MB, f"{peak:.0f} MB at peak ({rss:.0f} MB now)")
    return exit_code(met)


if __name__ == "__main__":
    sys.exit(main())
