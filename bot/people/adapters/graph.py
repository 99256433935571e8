"""The people directory on Microsoft Graph (Exchange Online), signed in as the bot's app:

- team leader: Entra ID's ``manager`` of the user (GET /users/{id}/manager; directory data,
  User.Read.All, no mailbox rights);
- automatic reply: mail tips asked as the duty mailbox (POST /users/{duty}/getMailTips,
  automaticReplies): on or off and the scheduled end; the reply's text is never kept;
- free/busy: the duty mailbox's calendar getSchedule for the colleague: status, start and
  end of each spell (subjects, if Graph sends any, are never read).

Reading a colleague's own mailboxSettings would need MailboxSettings.Read on their mailbox,
which a council rarely grants, so it is not used. Short timeouts, no retries: a slow Graph
means "not known" now. Nothing here logs what Graph said about a person.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests

from bot.people.directory import AutoReply, Busy, Colleague

BUSY_STATUSES = frozenset({"busy", "tentative", "oof"})  # free, workingElsewhere, unknown: free


class GraphPeopleError(Exception):
    """Graph didn't answer as asked; the answer becomes "not known"."""


@dataclass(frozen=True)
class GraphPeopleSettings:
    address: str  # the duty mailbox: mail tips and schedules are asked as it
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_bundle: str | None = None
    timeout: float = 5.0  # seconds per request; the command stops waiting long before

    @property
    def scope(self) -> str:
        parts = urlsplit(self.graph_url)
        return f"{parts.scheme}://{parts.netloc}/.default"


class GraphPeople:
    """Directory and Availability through Microsoft Graph."""

    def __init__(self, settings: GraphPeopleSettings) -> None:
        self.settings = settings
        self._base = settings.graph_url.rstrip("/")
        self._http = requests.Session()
        self._verify: bool | str = settings.ca_bundle or True
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    # ---- Directory ----------------------------------------------------------------------

    def team_leader(self, email: str) -> Colleague | None:
        resp = self._call(
            "GET", f"/users/{quote(email, safe='@')}/manager",
            params={"$select": "displayName,mail,userPrincipalName"},
        )  # fmt: skip
        if resp.status_code == 404:
            return None  # no manager set (or no such user)
        found = self._json(resp)
        address = found.get("mail") or found.get("userPrincipalName")
        return Colleague(address or None, found.get("displayName") or None)

    # ---- Availability -------------------------------------------------------------------

    def automatic_reply(self, email: str) -> AutoReply:
        body = {"EmailAddresses": [email], "MailTipsOptions": "automaticReplies"}
        tip = self._first(self._call("POST", f"{self._duty}/getMailTips", json=body))
        replies = tip.get("automaticReplies") or {}
        if not (replies.get("message") or "").strip():
            return AutoReply(False)
        return AutoReply(True, _when(replies.get("scheduledEndTime")))

    def busy_times(self, email: str, start: datetime, end: datetime) -> list[Busy]:
        body = {
            "schedules": [email],
            "startTime": _graph_time(start),
            "endTime": _graph_time(end),
            "availabilityViewInterval": 30,
        }
        found = self._first(
            self._call(
                "POST", f"{self._duty}/calendar/getSchedule", json=body,
                headers={"Prefer": 'outlook.timezone="UTC"'},
            )
        )  # fmt: skip
        spells = []
        for item in found.get("scheduleItems") or []:
            began, ended = _when(item.get("start")), _when(item.get("end"))
            if str(item.get("status", "")).lower() in BUSY_STATUSES and began and ended:
                spells.append(Busy(began, ended))
        return spells

    # ---- HTTP ---------------------------------------------------------------------------

    @property
    def _duty(self) -> str:
        return f"/users/{quote(self.settings.address, safe='@')}"

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token()}", **kwargs.pop("headers", {})}
        return self._http.request(
            method, self._base + path, headers=headers, timeout=self.settings.timeout,
            verify=self._verify, **kwargs,
        )  # fmt: skip

    def _json(self, resp: requests.Response) -> dict[str, Any]:
        if resp.status_code != 200:
            code = _error_code(resp)
            raise GraphPeopleError(f"Graph answered {resp.status_code} ({code})")
        try:
            found = resp.json()
        except ValueError:
            raise GraphPeopleError("Graph answered with something other than JSON") from None
        if not isinstance(found, dict):
            raise GraphPeopleError("Graph answered with an unexpected shape")
        return found

    def _first(self, resp: requests.Response) -> dict[str, Any]:
        """The one entry of a mail tips or schedule answer; its own error, if it has one."""
        values = self._json(resp).get("value") or []
        if not values or not isinstance(values[0], dict):
            raise GraphPeopleError("Graph gave no answer for the person")
        first: dict[str, Any] = values[0]
        if first.get("error"):
            raise GraphPeopleError("Graph couldn't answer for the person")
        return first

    def _token(self) -> str:
        s = self.settings
        with self._lock:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    s.client_id,
                    client_credential=s.client_secret,
                    authority=f"{s.authority_host.rstrip('/')}/{s.tenant_id}",
                    instance_discovery=False,
                    http_client=_Timed(self._verify, s.timeout),
                )
            result = self._app.acquire_token_for_client(scopes=[s.scope])
        token = result.get("access_token")
        if not token:
            raise GraphPeopleError(f"Microsoft sign-in failed ({result.get('error', 'unknown')})")
        return str(token)


class _Timed(requests.Session):
    """msal's HTTP client: the same certificate checks and a short timeout."""

    def __init__(self, verify: bool | str, timeout: float) -> None:
        super().__init__()
        self._verify, self._timeout = verify, timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("verify", self._verify)
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def _error_code(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", {}).get("code", "error"))
    except (ValueError, AttributeError):
        return "error"


def _graph_time(when: datetime) -> dict[str, str]:
    return {"dateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _when(value: Any) -> datetime | None:
    """A Graph dateTimeTimeZone (asked for in UTC) as an aware time."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])[:19]  # Graph sends 7 decimal places; seconds are plenty
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    zone = str(value.get("timeZone") or "UTC")
    if zone.upper() not in ("UTC", "COORDINATED UNIVERSAL TIME"):
        raise GraphPeopleError("Graph answered in a time zone it wasn't asked for")
    return found.replace(tzinfo=UTC)
