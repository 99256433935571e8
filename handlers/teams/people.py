"""Teams' side of the people directory and roles, from Microsoft Graph with the bot's own
sign-in (application permissions User.Read.All and GroupMember.Read.All, and
Presence.Read.All for the Teams status, if granted):

- ``TeamsProfiles``: a person's mailbox (``email_of``), who has a given mailbox
  (``user_of``), what kind of account it is (``kind_of``: one of the council's own, a
  guest, or gone), so duty work never goes to a guest, and their Teams status
  (``status_of``: "In a meeting", "Out of office: back Monday");
- ``group_lookup``: a Microsoft 365 group's (or Team's) members, for member_group,
  manager_group and alert_group: each by Entra id and by work email, as the config may name
  them either way.

A short timeout and no retries: a slow Graph means "not known" now; bot.people and the
Roster keep the answers a few minutes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from bot.chat.port import ChatUnavailable
from bot.kernel.config import Config, secret
from bot.kernel.roles import GroupLookup
from bot.mail.parse import html_to_text
from bot.people.directory import AccountKind, Status
from handlers.teams.chat import GRAPH, Loop, sign_in

log = logging.getLogger(__name__)

TIMEOUT = 3.0
# Presence.Read.All not granted: how long before asking Graph again (it may be granted later)
NO_PRESENCE_SECONDS = 3600.0
PAGES = 20  # a group of up to 20 pages of members (999 each) is plenty for a duty team
_LOOP: Loop | None = None  # one for every Graph helper in the process (only token fetches)
_LOOP_LOCK = threading.Lock()


def _shared_loop() -> Loop:
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = Loop()
        return _LOOP


class Graph:
    """GET on Microsoft Graph with the bot's token (through the SDK's MSAL provider)."""

    def __init__(self, config: Config) -> None:
        app = config.teams_app
        self.base = app.graph_url.rstrip("/")
        self.auth = sign_in(app, secret(app.client_secret_env) or "")
        self.loop = _shared_loop()
        self.http = requests.Session()

    def token(self) -> str:
        try:
            return self.loop.run(self.auth.get_access_token(GRAPH, [f"{GRAPH}/.default"]), 10)
        except ChatUnavailable:
            raise
        except Exception as exc:  # msal's own errors; never their text
            raise ChatUnavailable(f"Graph sign-in failed ({type(exc).__name__})") from None

    def get(self, path: str, **params: str) -> dict[str, Any] | None:
        """The JSON answer, or None for 404 (no such user or group); raises otherwise."""
        url = (
            path
            if path.startswith("https://") or path.startswith("http://")
            else (f"{self.base}/{path}")
        )
        resp = self.http.get(url, params=params or None, timeout=TIMEOUT,
                             headers={"Authorization": f"Bearer {self.token()}"})  # fmt: skip
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return dict(resp.json())


def _user(graph: Graph, who: str) -> dict[str, Any] | None:
    select = "id,mail,userPrincipalName,userType,accountEnabled"
    return graph.get(f"users/{quote(who)}", **{"$select": select})


class TeamsProfiles:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._no_presence_until = 0.0

    @classmethod
    def of(cls, config: Config) -> TeamsProfiles:
        return cls(Graph(config))

    def email_of(self, user: str) -> str | None:
        found = _user(self.graph, user) or {}
        return str(found.get("mail") or found.get("userPrincipalName") or "") or None

    def user_of(self, email: str) -> str | None:
        found = _user(self.graph, email)  # Graph takes a sign-in name where an id goes
        if not found or found.get("userType") == "Guest" or found.get("accountEnabled") is False:
            return None
        return str(found.get("id") or "").lower() or None

    def kind_of(self, user: str) -> AccountKind | None:
        found = _user(self.graph, user)
        if found is None or found.get("accountEnabled") is False:
            return "gone"
        return "guest" if found.get("userType") == "Guest" else "member"

    def status_of(self, user: str) -> Status | None:
        """Their Teams status, or None while Presence.Read.All is not granted."""
        if time.monotonic() < self._no_presence_until:
            return None
        try:
            found = self.graph.get(f"users/{quote(user)}/presence")
        except requests.HTTPError as exc:
            if exc.response is None or exc.response.status_code != 403:
                raise
            log.info("Teams status not shown: grant the app Presence.Read.All to show it")
            self._no_presence_until = time.monotonic() + NO_PRESENCE_SECONDS
            return None
        return presence_status(found) if found is not None else None


def presence_status(presence: dict[str, Any]) -> Status:
    """Graph's presence as a status: the activity in words, and the note they set, if any
    ("Out of office: back Monday"), until the note runs out."""
    activity = str(presence.get("activity") or presence.get("availability") or "")
    words = "" if activity == "PresenceUnknown" else _spaced(activity)
    note = presence.get("statusMessage") or {}
    message = (note.get("message") or {}) if isinstance(note, dict) else {}
    said = str(message.get("content") or "")
    if said and message.get("contentType") == "html":
        said = html_to_text(said)
    until = _graph_time(note.get("expiryDateTime")) if said and isinstance(note, dict) else None
    if until is not None and until <= datetime.now(UTC):
        said, until = "", None  # the note has run out
    text = ": ".join(part for part in (words, " ".join(said.split())) if part)
    return Status(text, until)


def _spaced(name: str) -> str:
    """ "InAMeeting" -> "In a meeting"."""
    parts = re.findall(r"[A-Z][a-z]*", name) or [name]
    return " ".join([parts[0], *(p.lower() for p in parts[1:])])


def _graph_time(value: Any) -> datetime | None:
    """Graph's dateTimeTimeZone in UTC; None if unreadable. The presence API gives UTC; a
    zone name Python doesn't know (a Windows one) is taken as UTC too."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    try:
        when = datetime.fromisoformat(str(value["dateTime"])[:26])
    except ValueError:
        return None
    if when.tzinfo is None:
        try:
            zone: tzinfo = ZoneInfo(str(value.get("timeZone") or "UTC"))
        except (ValueError, ZoneInfoNotFoundError):
            zone = UTC
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def group_lookup(config: Config) -> GroupLookup:
    """A Microsoft 365 group's members (transitively), by Entra id and by work email."""
    graph = Graph(config)

    def lookup(group_id: str) -> set[str]:
        found: set[str] = set()
        page: dict[str, Any] | None = graph.get(
            f"groups/{quote(group_id)}/transitiveMembers",
            **{"$select": "id,mail,userPrincipalName", "$top": "999"},
        )
        for _ in range(PAGES):
            if page is None:
                break
            for member in page.get("value") or []:
                found |= {str(member[k]).lower() for k in ("id", "mail", "userPrincipalName")
                          if member.get(k)}  # fmt: skip
            link = page.get("@odata.nextLink")
            page = graph.get(str(link)) if link else None
        return found

    return lookup
