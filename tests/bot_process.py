"""`dutybot run --config FILE` as a real child process, for end-to-end tests that start, kill
and restart it (tests/test_slack_run.py, tests/test_crash_survival.py,
tests/test_fault_survival.py).

The process talks to the fakes the test runs in-process (fake Slack Web API, fake Exchange)
over real HTTP, and shares the ``db`` fixture's database (on PostgreSQL: its test schema).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from sqlalchemy import select, text

from handlers.slack.chat import METADATA_TYPE
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Task
from tests.fakes.ews_server import FakeEws
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import signed_headers, slash_command_body
from tests.mail import make_email

TEAM = "care-experienced"
CHANNEL = "C0DUTY"
SAM, JO = "USAM00001", "UJO000001"
SECRET = "run-test-signing-secret"
EWS_PASSWORD_ENV = "DUTYBOT_TEST_EWS_PASSWORD"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def db_schema(db: Database) -> str | None:
    """The PostgreSQL schema the fixture's tables are in (its test schema); None on SQLite."""
    if db.is_sqlite:
        return None
    with db.engine.connect() as conn:
        return str(conn.execute(text("select current_schema()")).scalar_one())


def database_url(db: Database) -> str:
    """The fixture's database as a URL another process can open (PG: its test schema)."""
    url = db.engine.url.render_as_string(hide_password=False)
    schema = db_schema(db)
    return url if schema is None else f"{url}?options=-csearch_path%3D{schema}"


def until(check: Callable[[], T], timeout: float = 30.0, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)


def ews_mailbox_toml(ews: FakeEws, *, streaming: bool = True, poll_seconds: float = 2.0) -> str:
    """A [teams.mailbox] table for the fake Exchange (basic sign-in; the password is in the
    child's environment under EWS_PASSWORD_ENV)."""
    return f"""
[teams.mailbox]
kind = "ews"
address = "{ews.address}"
endpoint = "{ews.endpoint}"
auth = "basic"
username = "{ews.username}"
password_env = "{EWS_PASSWORD_ENV}"
streaming = {str(streaming).lower()}
poll_seconds = {poll_seconds}
max_retry_seconds = 5
"""


class BotProcess:
    """`dutybot run --config FILE` in a child process, and what it needs around it.

    ``mailbox``: a [teams.mailbox] table (default: a folder inbox under ``tmp``);
    ``slack``: extra lines for the [slack] table (e.g. ``pace_seconds = 0``);
    ``extra``: extra top-level tables (e.g. a [log] table);
    ``database_url``: where the child finds the database (default: the fixture's own);
    ``socket_mode``: connect to Slack in Socket Mode (``fake`` hands out the socket), with
    /healthz on the status server, instead of serving /slack/events.
    """

    def __init__(
        self,
        db: Database,
        fake: FakeSlack,
        tmp: Path,
        *,
        mailbox: str | None = None,
        slack: str = "",
        extra: str = "",
        db_url: str | None = None,
        ews_password: str | None = None,
        socket_mode: bool = False,
    ) -> None:
        self.db, self.fake, self.tmp = db, fake, tmp
        self.socket_mode = socket_mode
        self.inbox = tmp / "inbox"
        self.inbox.mkdir(exist_ok=True)
        self.port = free_port()
        self.ews_password = ews_password
        self.config = tmp / "dutybot.toml"
        self.config.write_text(
            self._toml(mailbox, slack, extra, db_url or database_url(db)), encoding="utf-8"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "dutybot.log"
        self._mails = 0

    def _toml(self, mailbox: str | None, slack: str, extra: str, db_url: str) -> str:
        folder = f"""
[teams.mailbox]
kind = "folder"
path = "{self.inbox.as_posix()}"
poll_seconds = 0.3
"""
        if self.socket_mode:
            serving = f'mode = "socket"\n{slack}\n[status]\nport = {self.port}'
        else:
            serving = f'mode = "http"\nhost = "127.0.0.1"\nport = {self.port}\n{slack}'
        return f"""
chat = "slack"
[database]
url = "{db_url}"
[slack]
api_url = "{self.fake.url}"
{serving}
[scheduler]
tick_seconds = 5
lease_seconds = 15
{extra}
[[teams]]
name = "{TEAM}"
channel = "{CHANNEL}"
members = ["{SAM}"]
managers = ["{JO}"]
names = {{ {SAM} = "Sam", {JO} = "Jo" }}
{mailbox or folder}
"""

    def start(self, *, wait: bool = True) -> BotProcess:
        """Start the process; with ``wait``, until it serves /healthz."""
        exe = Path(sys.executable).parent / "dutybot"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "handlers.cli"]
        env = self._env()
        if self.ews_password is not None:
            env[EWS_PASSWORD_ENV] = self.ews_password
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, "run", "--config", str(self.config)],
                cwd=self.tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            until(self._healthy, 30, "the bot to serve /healthz")
        return self

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-run-test",
            "SLACK_APP_TOKEN": "xapp-run-test",
            "SLACK_SIGNING_SECRET": SECRET,
        }

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"dutybot run exited {self.proc.returncode}:\n{self.output()}")
        try:
            return requests.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # still starting (a busy machine)
            return False

    def health(self) -> dict[str, Any]:
        """What /healthz says now."""
        return dict(requests.get(f"{self.base}/healthz", timeout=5).json())

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

    def kill(self) -> None:
        """SIGKILL if still running (a test's clean-up)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def mail(self, subject: str, **parts: str) -> None:
        """Drop an email into the inbox folder (written aside, then renamed: atomic);
        ``parts`` go to make_email (e.g. ``body``, ``sender``)."""
        self._mails += 1
        mime = make_email(subject, message_id=f"<run-{self._mails}@example.org>", **parts)
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


def cards(fake: FakeSlack) -> list[dict[str, Any]]:
    """Task cards in the team channel (messages carrying the card metadata; not the channel's
    other posts, say the handover when a test runs after 16:30 on a working day)."""
    return [m for m in fake.messages(CHANNEL) if is_card(m)]


def is_card(message: dict[str, Any]) -> bool:
    return (message.get("metadata") or {}).get("event_type") == METADATA_TYPE


def tasks(db: Database) -> list[Any]:
    with db.session() as s:
        return q.list_tasks(s, TEAM, ["open", "claimed", "resolved"])


@dataclass(frozen=True)
class Tally:
    """What the database and the fake Slack hold, counted to prove nothing lost or doubled."""

    emails: Counter[str]  # Message-ID -> times stored
    tasks: dict[int, tuple[str, str | None]]  # task id -> (card state, card ts)
    cards: Counter[int]  # task id (from the card's metadata) -> cards in the channel
    card_ts: dict[int, str]  # task id -> ts of its (last) card

    def problems(self, message_ids: set[str]) -> list[str]:
        """Everything that is not exactly once; empty when all is well."""
        found: list[str] = []
        missing = message_ids - set(self.emails)
        if missing:
            found.append(f"{len(missing)} email(s) never stored")
        doubled = [m for m, n in self.emails.items() if n > 1]
        extra = set(self.emails) - message_ids
        if doubled or extra:
            found.append(f"{len(doubled)} email(s) stored twice, {len(extra)} unexpected")
        if len(self.tasks) != len(message_ids):
            found.append(f"{len(self.tasks)} tasks for {len(message_ids)} emails")
        unposted = [t for t, (state, _) in self.tasks.items() if state != "posted"]
        if unposted:
            found.append(f"{len(unposted)} task(s) without a posted card")
        no_card = set(self.tasks) - set(self.cards)
        strays = set(self.cards) - set(self.tasks)
        twice = [t for t, n in self.cards.items() if n > 1]
        if no_card or strays or twice:
            found.append(
                f"{len(no_card)} task(s) with no card, {len(strays)} stray card(s), "
                f"{len(twice)} task(s) with more than one card"
            )
        wrong_ts = [t for t, (_, ts) in self.tasks.items() if self.card_ts.get(t) != ts]
        if wrong_ts and not found:
            found.append(f"{len(wrong_ts)} task(s) pointing at the wrong card")
        return found


def tally(db: Database, fake: FakeSlack) -> Tally:
    with db.session() as s:
        ids = select(Email.message_id).where(Email.team == TEAM, ~q.is_copy())
        emails = Counter(s.scalars(ids))  # a second copy of an email is not another email
        rows = s.execute(
            select(Task.id, Task.card_state, Task.card_ts).where(Task.team == TEAM)
        ).all()
    counts: Counter[int] = Counter()
    card_ts: dict[int, str] = {}
    for card in cards(fake):
        payload = card["metadata"]["event_payload"]
        if payload.get("team") == TEAM:
            counts[int(payload["task_id"])] += 1
            card_ts[int(payload["task_id"])] = str(card["ts"])
    return Tally(emails, {tid: (state, ts) for tid, state, ts in rows}, counts, card_ts)


@contextmanager
def sqlite_database(tmp: Path) -> Iterator[Database]:
    """A migrated SQLite file, for a long run that needs only one kind of database."""
    database = Database(f"sqlite:///{tmp / 'duty.db'}")
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


class TeamsBotProcess(BotProcess):
    """`dutybot run` with chat = "teams": /api/messages on ``port``, the fake Bot Connector
    for posts, and Microsoft's sign-in hosts through ``login``'s proxy and CA."""

    def __init__(self, db: Database, fake: Any, login: Any, tmp: Path, **kw: Any) -> None:
        self.login = login
        super().__init__(db, fake, tmp, **kw)

    def _toml(self, mailbox: str | None, slack: str, extra: str, db_url: str) -> str:
        from tests.teams_harness import APP_ID, TENANT
        from tests.teams_harness import TEAM as TEAMS_TEAM

        team = TEAMS_TEAM
        names = ", ".join(f'"{k}" = "{v}"' for k, v in team["names"].items())
        folder = f"""
[teams.mailbox]
kind = "folder"
path = "{self.inbox.as_posix()}"
poll_seconds = 0.3
"""
        return f"""
chat = "teams"
[database]
url = "{db_url}"
[teams_app]
app_id = "{APP_ID}"
tenant_id = "{TENANT}"
client_secret_env = "DUTYBOT_TEAMS_RUN_SECRET"
service_url = "{self.fake.url}"
graph_url = "{self.fake.graph_url}"
host = "127.0.0.1"
port = {self.port}
pace_seconds = 0
retry_seconds = 5
[scheduler]
tick_seconds = 5
lease_seconds = 15
{extra}
[[teams]]
name = "{TEAM}"
channel = "{team["channel"]}"
msteams_team = "{team["msteams_team"]}"
members = {json.dumps(team["members"])}
managers = {json.dumps(team["managers"])}
names = {{ {names} }}
{mailbox or folder}
"""

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.login.env(),
                "DUTYBOT_TEAMS_RUN_SECRET": self.login.secret}  # fmt: skip

    def press(self, verb: str, number: int, user: str) -> requests.Response:
        """A card button, as Teams' adaptiveCard/action invoke with a token it signed."""
        from tests.teams_harness import CHANNEL as TEAMS_CHANNEL
        from tests.teams_harness import teams_activity

        data = {"team": TEAM, "args": str(number), "number": number}
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}}
        activity = teams_activity("invoke", user, TEAMS_CHANNEL, self.fake.url,
                                  name="adaptiveCard/action", value=value)  # fmt: skip
        token = self.login.bot_token(service_url=self.fake.url)
        return requests.post(f"{self.base}/api/messages", json=activity, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
