"""End-to-end harness: the real bot on Teams (the Agents SDK's aiohttp hosting behind
/api/messages) against the fake Bot Connector, with Microsoft's sign-in hosts served locally.

Nothing of ours or of the SDK is patched. Activities are posted over real HTTP with a
Bot Framework token the local issuer signs (tests/fakes/microsoft_login.py); the SDK fetches
the signing keys from login.botframework.com and signs the bot in at
login.microsoftonline.com, both reached through a local HTTPS proxy and CA (HTTPS_PROXY,
SSL_CERT_FILE), and posts to the fake connector (tests/fakes/bot_connector.py).

    def test_claim(db):
        with TeamsHarness(db) as h:
            n = h.email(subject="Rent arrears")
            h.drain()                          # the card is posted to the fake
            r = h.press("claim", n, user=SAM)  # an adaptiveCard/action invoke
            assert r.json()["value"]           # the refreshed card, for the presser
            h.drain()                          # the card updated in place, the thread reply

Reading what Teams got: ``card(number)``, ``cards_of(number)``, ``thread(number)``,
``dms(user)``, and everything on ``fake`` and ``login``.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import requests

from bot.app import DutyBot
from bot.kernel.clock import Clock, ManualClock
from bot.kernel.config import Config, TeamConfig, parse_config
from handlers.teams.render import MARKER
from handlers.teams.server import TeamsService
from storage.db import Database
from tests.duty_harness import DutyHarness
from tests.fakes.bot_connector import FakeBotConnector, Post
from tests.fakes.microsoft_login import MicrosoftLogin

APP_ID = "0a1b2c3d-0000-4000-8000-00000000a0b1"
TENANT = "7e57e57e-0000-4000-8000-0000000c0c11"
MS_TEAM = "5ea15ea1-0000-4000-8000-0000000d0e0f"
SAM = "5a5a5a5a-0000-4000-8000-000000000001"
ALEX = "a1e0a1e0-0000-4000-8000-000000000002"
PRIYA = "b1b1b1b1-0000-4000-8000-000000000003"
JO = "c0c0c0c0-0000-4000-8000-000000000004"
OUTSIDER = "dddddddd-0000-4000-8000-000000000009"
CHANNEL = "19:dutychannel0123@thread.tacv2"
TEAM: dict[str, Any] = {
    "name": "care-experienced",
    "channel": CHANNEL,
    "msteams_team": MS_TEAM,
    "members": [SAM, ALEX, PRIYA],
    "managers": [JO],
    "names": {SAM: "Sam", ALEX: "Alex", PRIYA: "Priya", JO: "Jo"},
}
SECRET = "teams-harness-secret"
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class TeamsHarness(DutyHarness):
    def __init__(
        self,
        db: Database,
        *,
        team: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        clock: Clock | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.clock = clock or ManualClock(MONDAY_10AM)
        self.login = MicrosoftLogin(app_id=APP_ID, tenant_id=TENANT, secret=SECRET)
        self.fake = FakeBotConnector(issued=self.login.issued)
        self._team_overrides = team or {}
        self._config_overrides = config or {}
        self._retry = retry_seconds
        self._env = f"DUTYBOT_TEAMS_{uuid.uuid4().hex[:8].upper()}"
        self._saved_env: dict[str, str | None] = {}
        self._seq = 0

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> TeamsHarness:
        self.login.start()
        self.fake.start()
        route = {**self.login.env(), f"{self._env}_SECRET": SECRET}
        self._saved_env = {k: os.environ.get(k) for k in route}
        os.environ.update(route)
        team = {**TEAM, **self._team_overrides}
        self.config: Config = parse_config(
            {
                "chat": "teams",
                "teams_app": {
                    "app_id": APP_ID,
                    "tenant_id": TENANT,
                    "client_secret_env": f"{self._env}_SECRET",
                    "service_url": self.fake.url,
                    "graph_url": self.fake.graph_url,
                    "pace_seconds": 0,
                    "retry_seconds": self._retry,
                },
                **self._config_overrides,
                "teams": [team],
            }
        )
        self.team: TeamConfig = self.config.teams[0]
        self.bot = DutyBot(self.config, clock=self.clock, db=self.db)
        self.bot.start(with_mailboxes=False)
        self.service = TeamsService(self.config, self.bot)
        self.runner = self.service.runner
        self.chat = self.service.chat
        port = self.service.listen("127.0.0.1", 0)
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/api/messages"
        return self

    def stop(self) -> None:
        self.runner.shutdown(timeout=5)
        self.service.close()
        self.fake.stop()
        self.login.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> TeamsHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- sending activities, as Teams does ----------------------------------------------

    def send(self, activity: dict[str, Any], *, token: str | None = None) -> requests.Response:
        """POST an activity to /api/messages with a token Teams would send (or ``token``)."""
        bearer = token if token is not None else self.login.bot_token(service_url=self.fake.url)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return requests.post(self.url, json=activity, headers=headers, timeout=60)

    def activity(self, kind: str, user: str, where: str = "channel", **extra: Any) -> dict:
        """An activity from ``user`` in the team's channel (or "dm": their 1:1 chat)."""
        channel = self.team.channel if where == "channel" else where
        return teams_activity(kind, user, channel, self.fake.url, self.team.names, **extra)

    def say(self, words: str, *, user: str = SAM, where: str = "channel") -> requests.Response:
        """A message to the bot: "@dutybot WORDS" in the channel, or WORDS in the 1:1 chat."""
        if where == "dm":
            return self.send(self.activity("message", user, "dm", text=words))
        mention = "<at>dutybot</at>"
        entity = {"type": "mention", "text": mention,
                  "mentioned": {"id": f"28:{APP_ID}", "name": "dutybot"}}  # fmt: skip
        return self.send(
            self.activity("message", user, where, text=f"{mention} {words}", entities=[entity])
        )

    def press(
        self,
        verb: str,
        number: int,
        *,
        user: str = SAM,
        where: str = "channel",
        data: dict[str, Any] | None = None,
    ) -> requests.Response:
        """Press a button on task ``number``'s card: an adaptiveCard/action invoke."""
        card = self.card(number)
        sent = data or {"team": self.team.name, "args": str(number), "number": number}
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": sent},
                 "trigger": "manual"}  # fmt: skip
        extra = {"name": "adaptiveCard/action", "value": value}
        if card is not None:
            extra["replyToId"] = card.id
        return self.send(self.activity("invoke", user, where, **extra))

    def submit(
        self, form: dict[str, Any], values: dict[str, Any], *, user: str = SAM
    ) -> requests.Response:
        """Send a form card (an invoke answer's ``value``) back with ``values`` filled in."""
        send = next(a for a in form["actions"] if a.get("verb") == "submit")
        data = {**send["data"], **values}
        value = {"action": {"type": "Action.Execute", "verb": "submit", "data": data},
                 "trigger": "manual"}  # fmt: skip
        return self.send(self.activity("invoke", user, name="adaptiveCard/action", value=value))

    # ---- reading what Teams got ---------------------------------------------------------

    def cards(self) -> list[Post]:
        """Top-level posts in the channel carrying a task card."""
        return [p for p in self.fake.posts(self.team.channel)
                if "task" in ((p.card or {}).get(MARKER) or {})]  # fmt: skip

    def cards_of(self, number: int) -> list[Post]:
        task_id = self.task_id(number)
        return [p for p in self.cards() if p.card and p.card[MARKER]["task"] == task_id]

    def card(self, number: int) -> Post | None:
        found = self.cards_of(number)
        return found[0] if found else None

    def thread(self, number: int) -> list[Post]:
        card = self.card(number)
        return self.fake.replies(self.team.channel, card.id) if card else []

    def dms(self, user: str) -> list[Post]:
        return self.fake.chats_with(user)


def teams_activity(
    kind: str,
    user: str,
    channel: str,
    service_url: str,
    names: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An activity as Teams sends it, from ``user`` in ``channel`` (or "dm": their 1:1 chat
    with the bot)."""
    conversation: dict[str, Any]
    channel_data: dict[str, Any] = {"tenant": {"id": TENANT}}
    if channel == "dm":
        conversation = {"id": f"a:{user}", "conversationType": "personal", "tenantId": TENANT}
    else:
        conversation = {"id": f"{channel};messageid=1700000000000", "isGroup": True,
                        "conversationType": "channel", "tenantId": TENANT}  # fmt: skip
        channel_data |= {"channel": {"id": channel}, "team": {"id": MS_TEAM}}
    return {
        "type": kind,
        "id": f"act-{uuid.uuid4().hex[:10]}",
        "timestamp": datetime.now(UTC).isoformat(),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {
            "id": f"29:{user}",
            "name": (names or {}).get(user, "Someone"),
            "aadObjectId": user,
        },  # fmt: skip
        "conversation": conversation,
        "recipient": {"id": f"28:{APP_ID}", "name": "dutybot"},
        "channelData": channel_data,
        **extra,
    }


def card_text(card: dict[str, Any] | None) -> str:
    """Every TextBlock's text in a card, joined by newlines."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(str(node.get("text")))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk((card or {}).get("body", []))
    return "\n".join(out)


def actions(card: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The card's buttons by title."""
    return {a["title"]: a for a in (card or {}).get("actions", [])}


def invoke_card(response: requests.Response) -> dict[str, Any]:
    """The card an adaptiveCard/action invoke answered with."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    return dict(body["value"])
