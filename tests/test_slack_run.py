"""`dutybot run` as a real process, in Slack HTTP mode against the fake Slack Web API.

It must start the chat adapter (waitress serving /slack/events), the mailbox watcher and the
scheduler; survive SIGKILL in the middle of posting a card; and hold tasks while Slack is down.
Runs on SQLite and PostgreSQL: the process and the test share the ``db`` fixture's database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from sqlalchemy import text

from storage import clocks as cq
from storage import tasks as q
from storage.db import Database
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import signed_headers, slash_command_body
from tests.mail import make_email

ROOT = Path(__file__).resolve().parent.parent
TEAM = "care-experienced"
CHANNEL = "C0DUTY"
SAM, JO = "USAM00001", "UJO000001"
SECRET = "run-test-signing-secret"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url(db: Database) -> str:
    """The fixture's database as a URL another process can open (PG: its test schema)."""
    url = db.engine.url.render_as_string(hide_password=False)
    if db.is_sqlite:
        return url
    with db.engine.connect() as conn:
        schema = conn.execute(text("select current_schema()")).scalar_one()
    return f"{url}?options=-csearch_path%3D{schema}"


def until(check: Callable[[], T], timeout: float = 30.0, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)


class BotProcess:
    """`dutybot run --config FILE` in a child process, and what it needs around it."""

    def __init__(self, db: Database, fake: FakeSlack, tmp: Path) -> None:
        self.db, self.fake, self.tmp = db, fake, tmp
        self.inbox = tmp / "inbox"
        self.inbox.mkdir(exist_ok=True)
        self.port = free_port()
        self.config = tmp / "dutybot.toml"
        self.config.write_text(self._toml(), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "dutybot.log"
        self._mails = 0

    def _toml(self) -> str:
        return f"""
chat = "slack"
[database]
url = "{database_url(self.db)}"
[slack]
mode = "http"
api_url = "{self.fake.url}"
host = "127.0.0.1"
port = {self.port}
[scheduler]
tick_seconds = 5
lease_seconds = 15
[[teams]]
name = "{TEAM}"
channel = "{CHANNEL}"
members = ["{SAM}"]
managers = ["{JO}"]
names = {{ {SAM} = "Sam", {JO} = "Jo" }}
[teams.mailbox]
kind = "folder"
path = "{self.inbox.as_posix()}"
poll_seconds = 0.3
"""

    def start(self) -> BotProcess:
        exe = Path(sys.executable).parent / "dutybot"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-run-test",
            "SLACK_SIGNING_SECRET": SECRET,
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, "run", "--config", str(self.config)],
                cwd=self.tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        until(self._healthy, 30, "the bot to serve /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"dutybot run exited {self.proc.returncode}:\n{self.output()}")
        try:
            return requests.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"dutybot run did not stop:\n{self.output()}") from None

    def mail(self, subject: str) -> None:
        """Drop an email into the inbox folder (written aside, then renamed: atomic)."""
        self._mails += 1
        mime = make_email(subject, message_id=f"<run-{self._mails}@example.org>")
        part = self.inbox / f".{self._mails}.part"
        part.write_bytes(mime)
        part.rename(self.inbox / f"{self._mails:04d}.eml")

    def duty(self, text_: str, user: str = SAM) -> requests.Response:
        body = slash_command_body(
            "/duty", text_, user_id=user, channel_id=CHANNEL, response_url=self.fake.response_url()
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **signed_headers(SECRET, body),
        }
        return requests.post(f"{self.base}/slack/events", data=body, headers=headers, timeout=10)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def bots(db: Database, fake: FakeSlack, tmp_path: Path) -> Iterator[list[BotProcess]]:
    """Bot processes started by a test; any still running are killed at the end."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        if bot.proc is not None and bot.proc.poll() is None:
            bot.proc.kill()
            bot.proc.wait(10)


def cards(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if (m.get("metadata") or {}).get("event_payload")]


def tasks(db: Database) -> list[Any]:
    with db.session() as s:
        return q.list_tasks(s, TEAM, ["open", "claimed", "resolved"])


def test_run_serves_slack_watches_the_mailbox_and_runs_the_clocks(
    db: Database, fake: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    bot = BotProcess(db, fake, tmp_path)
    bots.append(bot.start())
    bot.mail("Rent arrears")  # the mailbox watcher picks it up and the card is posted
    (card,) = until(lambda: cards(fake), what="the card")
    assert card["text"] == "New duty task #1"

    def holder() -> str | None:
        with db.session() as s:
            return cq.lease_holder(s, "scheduler", datetime.now(UTC))

    assert f":{bot.proc.pid}:" in until(holder, what="the scheduler lease")  # type: ignore[union-attr]

    reply = bot.duty("claim 1")
    assert reply.status_code == 200 and reply.json()["text"] == "You've claimed #1."
    until(lambda: fake.calls_to("chat.update"), what="the card update")
    assert "Claimed by @Sam" in str(fake.message(CHANNEL, card["ts"]))

    forged = requests.post(
        f"{bot.base}/slack/events",
        data="command=/duty&text=claim+1",
        headers={"X-Slack-Signature": "v0=forged", "X-Slack-Request-Timestamp": "1"},
        timeout=10,
    )
    assert forged.status_code == 401

    assert bot.stop(signal.SIGTERM) == 0
    assert holder() is None  # a clean stop hands the lease back


def test_killed_mid_post_and_restarted_leaves_exactly_one_card(
    db: Database, fake: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    fake.hang_seconds = 60  # Slack takes the card, and the answer never comes
    fake.fail_next(1, "hang-after-post", method="chat.postMessage")
    first = BotProcess(db, fake, tmp_path)
    bots.append(first.start())
    first.mail("Rent arrears")
    until(lambda: cards(fake), what="Slack to hold the card")
    (waiting,) = tasks(db)
    assert waiting.card_state == "posting"  # the bot is still waiting for Slack's answer
    first.stop(signal.SIGKILL)

    second = BotProcess(db, fake, tmp_path)
    bots.append(second.start())
    until(lambda: tasks(db)[0].card_state == "posted", what="the card to be found")
    (card,) = cards(fake)
    assert tasks(db)[0].card_ts == card["ts"]
    assert second.duty("claim 1").json()["text"] == "You've claimed #1."
    until(lambda: fake.calls_to("chat.update"), what="the card update")
    assert len(cards(fake)) == 1
    assert second.stop() == 0


def test_while_slack_is_down_tasks_wait_and_post_when_it_is_back(
    db: Database, fake: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    fake.failure_rate = 1.0  # down from the start: every call fails
    fake.failure_kinds = ["503", "reset"]
    bot = BotProcess(db, fake, tmp_path)
    bots.append(bot.start())
    for subject in ("One", "Two", "Three"):
        bot.mail(subject)
    until(lambda: len(tasks(db)) == 3, what="the three tasks")
    until(lambda: fake.calls_to("chat.postMessage"), what="a post to fail")
    until(lambda: len(fake.calls) >= 6, what="Slack to be tried again and again")
    assert cards(fake) == []
    assert {t.card_state for t in tasks(db)} <= {"pending", "posting"}

    fake.failure_rate = 0.0  # Slack is back
    until(lambda: len(cards(fake)) == 3, what="the three cards")
    time.sleep(3)  # a few more delivery rounds: nothing may be posted twice
    assert sorted(c["text"] for c in cards(fake)) == [f"New duty task #{n}" for n in (1, 2, 3)]
    assert {t.card_state for t in tasks(db)} == {"posted"}
    assert bot.stop() == 0
