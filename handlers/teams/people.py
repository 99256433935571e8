"""Teams' side of the people directory and roles, from Microsoft Graph with the bot's own
sign-in (application permissions User.Read.All and GroupMember.Read.All):

- ``TeamsProfiles``: a person's mailbox (``email_of``), who has a given mailbox
  (``user_of``), and what kind of account it is (``kind_of``: one of the council's own, a
  guest, or gone), so duty work never goes to a guest;
- ``group_lookup``: a Microsoft 365 group's (or Team's) members, for member_group,
  manager_group and alert_group: each by Entra id and by work email, as the config may name
  them either way.

A short timeout and no retries: a slow Graph means "not known" now; bot.people and the
Roster keep the answers a few minutes.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import requests

from bot.chat.port import ChatUnavailable
from bot.kernel.config import Config, secret
from bot.kernel.roles import GroupLookup
from bot.people.directory import AccountKind, Status
from handlers.teams.chat import GRAPH, Loop, sign_in

TIMEOUT = 3.0
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
        return None  # Teams presence needs Presence.Read.All: not asked for


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
