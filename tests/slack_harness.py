"""End-to-end harness: the real bot in Slack HTTP mode, served by waitress, against FakeSlack.

Nothing of ours is mocked. The bot is built by ``handlers.slack.server.build`` from an HTTP-mode
config whose ``slack.api_url`` points at a local FakeSlack (tests/fakes/slack_api.py); bolt's
WSGI handler runs inside waitress on a free 127.0.0.1 port, in a thread. Requests are signed
with the signing secret and posted over real HTTP, form-encoded (``payload=...``) as Slack does.

Use it with the ``db`` fixture so a test runs on SQLite and on PostgreSQL::

    from tests.slack_harness import SlackHarness, SAM, CHANNEL

    def test_claim(db):
        with SlackHarness(db) as h:
            n = h.email(subject="Rent arrears")       # intake stores a task
            h.drain()                                 # the card is posted to the fake
            r = h.click("duty_claim", n, user=SAM)    # a signed block_actions over HTTP
            assert r.status_code == 200
            h.drain()                                 # the card update and thread reply
            card = h.card(n)                          # the card as the fake holds it

The API, all on ``SlackHarness``:

- ``SlackHarness(db, team=..., config=..., clock=..., with_mailboxes=False, pace_seconds=0)``:
  ``team`` overrides keys of the default team (TEAM below: channel C0DUTY, members SAM, ALEX,
  PRIYA, manager JO); ``config`` overrides top-level config keys (e.g. ``{"privacy": ...}``);
  ``with_mailboxes=True`` opens each team's configured mailbox (say, an EWS one pointing at
  tests/fakes/ews_server.py) so ``check_mail()`` pulls from it. The default clock is a
  ManualClock at Mon 23 Nov 2026 10:00 (London); signatures always use the real time.
- Attributes: ``fake`` (FakeSlack), ``bot`` (DutyBot), ``slack`` (SlackBot), ``runner``
  (Runner), ``config``, ``team`` (TeamConfig), ``clock``, ``url`` (.../slack/events),
  ``base`` (http://127.0.0.1:PORT, also serving /healthz and /metrics), ``monitor``
  (bot.monitor.Monitor behind those two), ``secret`` (the signing secret).
- Building tasks: ``email(subject, body, sender, web_link, message_id) -> task number``
  (through real intake); ``check_mail()`` (the configured mailbox, through the real watcher).
- Sending, each returns a ``requests.Response``:
  ``command(text, user, channel)``: /duty;
  ``click(action_id, number, user, channel, container)``: a card button
  (``container="home"`` clicks it in App Home, ``channel`` may be a DM id like "DU0SAM");
  ``submit(callback_id, number, values, user)``: a modal; with the shortcuts
  ``resolve(number, note, checklist, follow_up, user)`` and ``alert(number, people, note, user)``;
  ``event(event, retry_num)``: an Events API callback (e.g. app_home_opened);
  ``post(body, content_type, headers, timestamp, secret)``: anything, for signature tests.
- Delivery: ``drain()`` delivers until nothing waits (cards, card updates, thread replies,
  DMs) and returns the totals; ``runner.start()`` instead runs delivery in the background
  as ``dutybot run`` does.
- Reading what Slack got: ``card(number)`` (the top-level message carrying that task's
  metadata), ``cards()``, ``thread(number)`` (its replies), ``dms(user)``, ``ephemerals(user)``,
  plus everything on ``fake``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import requests

from bot.app import DutyBot
from bot.kernel.clock import Clock, ManualClock
from bot.kernel.config import Config, TeamConfig, parse_config
from bot.ops.monitor import Monitor
from bot.ops.status import CachedProbe
from handlers.slack.app import SlackBot
from handlers.slack.chat import METADATA_TYPE
from handlers.slack.server import build, http_server, slack_probe
from handlers.status_http import stop_server
from storage.db import Database
from tests.duty_harness import DutyHarness
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import (
    block_actions_payload,
    signed_headers,
    slash_command_body,
    view_submission_body,
)

SAM, ALEX, PRIYA, JO = "USAM00001", "UALEX0001", "UPRIYA001", "UJO000001"
OUTSIDER = "USTRANGER1"
CHANNEL = "C0DUTY"
TEAM: dict[str, Any] = {
    "name": "care-experienced",
    "channel": CHANNEL,
    "members": [SAM, ALEX, PRIYA],
    "managers": [JO],
    "names": {SAM: "Sam", ALEX: "Alex", PRIYA: "Priya", JO: "Jo"},
}
BOT_TOKEN = "xoxb-harness-token"
SIGNING_SECRET = "harness-signing-secret"
# Monday 23 November 2026, 10:00 in London (GMT).
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class SlackHarness(DutyHarness):
    """The bot in HTTP mode against FakeSlack; see the module docstring for the API."""

    def __init__(
        self,
        db: Database,
        *,
        team: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        clock: Clock | None = None,
        with_mailboxes: bool = False,
        pace_seconds: float = 0.0,
        fake: FakeSlack | None = None,
    ) -> None:
        self.db = db
        self.fake = fake or FakeSlack()
        self.clock = clock or ManualClock(MONDAY_10AM)
        self.secret = SIGNING_SECRET
        self._team_overrides = team or {}
        self._config_overrides = config or {}
        self._with_mailboxes = with_mailboxes
        self._pace = pace_seconds
        self._env = f"DUTYBOT_HARNESS_{uuid.uuid4().hex[:8].upper()}"
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._seq = 0

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> SlackHarness:
        self.fake.start()
        team = {**TEAM, **self._team_overrides}
        self.fake.users.update({uid: name for uid, name in team.get("names", {}).items()})
        self.config: Config = parse_config(
            {
                "chat": "slack",
                "slack": {
                    "mode": "http",
                    "api_url": self.fake.url,
                    "bot_token_env": f"{self._env}_BOT_TOKEN",
                    "signing_secret_env": f"{self._env}_SIGNING_SECRET",
                    "app_token_env": f"{self._env}_APP_TOKEN",
                },
                **self._config_overrides,
                "teams": [team],
            }
        )
        os.environ[f"{self._env}_BOT_TOKEN"] = BOT_TOKEN
        os.environ[f"{self._env}_SIGNING_SECRET"] = self.secret
        self.team: TeamConfig = self.config.teams[0]
        self.bot = DutyBot(self.config, clock=self.clock, db=self.db)
        self.bot.start(with_mailboxes=self._with_mailboxes)
        self.slack: SlackBot
        self.slack, self.runner = build(self.config, self.bot, pace_seconds=self._pace)
        # /healthz and /metrics as `dutybot run` serves them (the Slack check is cached)
        self.monitor = Monitor.of(self.bot, CachedProbe(slack_probe(self.config)))
        self._server = http_server(
            self.slack, self.monitor.healthz, "127.0.0.1", 0, self.monitor.metrics
        )
        self.base = f"http://127.0.0.1:{self._server.effective_port}"
        self.url = f"{self.base}/slack/events"
        self._thread = threading.Thread(target=self._serve, name="harness-http", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            self._server.run()

    def stop(self) -> None:
        self.runner.shutdown(timeout=5)
        if self._server is not None:
            stop_server(self._server)
        if self._thread is not None:
            self._thread.join(5)
        self.slack.close()
        for wired in self.bot.teams.values():
            if wired.mailbox is not None:
                wired.mailbox.close()
        self.fake.stop()
        for suffix in ("_BOT_TOKEN", "_SIGNING_SECRET"):
            os.environ.pop(self._env + suffix, None)

    def __enter__(self) -> SlackHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- sending signed requests ------------------------------------------------------

    def post(
        self,
        body: str | bytes,
        content_type: str = "application/x-www-form-urlencoded",
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        sign: bool = True,
    ) -> requests.Response:
        """POST to /slack/events, signed unless sign=False (timestamp/secret to forge)."""
        data = body.encode() if isinstance(body, str) else body
        sent = {"Content-Type": content_type}
        if sign:
            sent.update(signed_headers(secret or self.secret, data, timestamp))
        sent.update(headers or {})
        return requests.post(self.url, data=data, headers=sent, timeout=30)

    def command(
        self, text: str, *, user: str = SAM, channel: str | None = None
    ) -> requests.Response:
        """/duty TEXT from user in channel (the team channel by default)."""
        body = slash_command_body(
            "/duty",
            text,
            user_id=user,
            channel_id=channel or self.team.channel,
            team_id=self.fake.team_id,
            response_url=self.fake.response_url(),
        )
        return self.post(body)

    def click(
        self,
        action_id: str,
        number: int,
        *,
        user: str = SAM,
        channel: str | None = None,
        container: str = "message",
        value: str | None = None,
    ) -> requests.Response:
        """Press a card button; container="home" presses it in App Home."""
        card = self.card(number) if container == "message" else None
        payload = block_actions_payload(
            action_id,
            value if value is not None else f"{self.team.name}:{number}",
            user_id=user,
            channel_id=channel or self.team.channel,
            message_ts=(card or {}).get("ts", "1700000000.000100"),
            team_id=self.fake.team_id,
            response_url=self.fake.response_url(),
            message=card,
            trigger_id=f"trigger-{uuid.uuid4().hex[:10]}",
        )
        if container == "home":
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload.pop("channel", None)
            payload.pop("message", None)
            payload["view"] = {"id": "VHOME", "type": "home", "callback_id": ""}
        return self.post(_form(payload))

    def submit(
        self,
        callback_id: str,
        number: int,
        values: dict[str, Any],
        *,
        user: str = SAM,
        channel: str | None = None,
    ) -> requests.Response:
        """Submit a modal opened from task ``number``'s card."""
        meta = {
            "team": self.team.name,
            "args": str(number),
            "channel": channel or self.team.channel,
        }
        body = view_submission_body(
            callback_id, json.dumps(meta), values, user_id=user, team_id=self.fake.team_id
        )
        return self.post(body)

    def resolve(
        self,
        number: int,
        note: str = "",
        checklist: tuple[str, ...] = (),
        *,
        follow_up: str | None = None,
        user: str = SAM,
    ) -> requests.Response:
        """Submit the Resolve modal; checklist keys: case_note, alerted, follow_up."""
        values: dict[str, Any] = {
            "note": {"value": {"type": "plain_text_input", "value": note or None}},
            "checklist": {
                "value": {
                    "type": "checkboxes",
                    "selected_options": [{"value": k} for k in checklist],
                }
            },
            "follow_up_date": {"value": {"type": "datepicker", "selected_date": follow_up}},
        }
        return self.submit("duty_resolve", number, values, user=user)

    def alert(
        self, number: int, people: list[str], note: str = "", *, user: str = SAM
    ) -> requests.Response:
        """Submit the Alert modal."""
        values = {
            "people": {"value": {"type": "multi_users_select", "selected_users": people}},
            "note": {"value": {"type": "plain_text_input", "value": note or None}},
        }
        return self.submit("duty_alert", number, values, user=user)

    def event(
        self, event: dict[str, Any], *, retry_num: int | None = None, event_id: str | None = None
    ) -> requests.Response:
        """An Events API delivery; retry_num adds X-Slack-Retry-Num as Slack's re-sends do."""
        body = json.dumps(
            {
                "token": "unused",
                "team_id": self.fake.team_id,
                "api_app_id": self.fake.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {"team_id": self.fake.team_id, "user_id": self.fake.bot_user_id}
                ],
            }
        )
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(body, "application/json", headers=headers)

    def shortcut(
        self, callback_id: str, text: str, *, user: str = SAM, channel: str = "C0ELSEWHERE"
    ) -> requests.Response:
        """A message shortcut on a message saying ``text`` (in any channel)."""
        payload = {
            "type": "message_action",
            "token": "verification-token-unused",
            "action_ts": f"{time.time():.6f}",
            "team": {"id": self.fake.team_id, "domain": "duty"},
            "user": {"id": user, "name": user.lower(), "team_id": self.fake.team_id},
            "channel": {"id": channel, "name": "elsewhere"},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": f"trigger-{uuid.uuid4().hex[:10]}",
            "response_url": self.fake.response_url(),
            "message_ts": "1700000000.000200",
            "message": {
                "type": "message",
                "user": "UCALLER01",
                "text": text,
                "ts": "1700000000.000200",
            },  # fmt: skip
        }
        return self.post(_form(payload))

    def open_home(self, user: str = SAM, **kw: Any) -> requests.Response:
        return self.event(
            {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}, **kw
        )

    # ---- reading what Slack got -------------------------------------------------------

    def cards(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Top-level messages in the channel that carry a task card's metadata."""
        return [
            m
            for m in self.fake.messages(channel or self.team.channel)
            if (m.get("metadata") or {}).get("event_type") == METADATA_TYPE
        ]

    def cards_of(self, number: int) -> list[dict[str, Any]]:
        """Every card for task ``number`` (more than one would be a double post)."""
        task_id = self.task_id(number)
        return [c for c in self.cards() if c["metadata"]["event_payload"]["task_id"] == task_id]

    def card(self, number: int) -> dict[str, Any] | None:
        found = self.cards_of(number)
        return found[0] if found else None

    def thread(self, number: int) -> list[dict[str, Any]]:
        card = self.card(number)
        return self.fake.replies(self.team.channel, card["ts"]) if card else []

    def dms(self, user: str) -> list[dict[str, Any]]:
        return self.fake.messages(self.fake.dm_channel(user))

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        return self.fake.ephemerals(user=user)


def card_text(card: dict[str, Any] | None) -> str:
    """Every mrkdwn/plain text in a message's blocks, joined by newlines."""
    if not card:
        return ""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card.get("blocks", []))
    return "\n".join(out)


def buttons(card: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The card's buttons by label."""
    found: dict[str, dict[str, Any]] = {}
    for block in (card or {}).get("blocks", []):
        for el in block.get("elements", []) if block.get("type") == "actions" else []:
            if el.get("type") == "button":
                found[el["text"]["text"]] = el
        acc = block.get("accessory")
        if isinstance(acc, dict) and acc.get("type") == "button":
            found[acc["text"]["text"]] = acc
    return found


def _form(payload: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({"payload": json.dumps(payload)})
