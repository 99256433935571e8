"""A local stand-in for Entra ID sign-in and the Microsoft Graph mail API, for tests.

A real HTTPS server (msal only talks https) on 127.0.0.1 with a throwaway CA from
``trustme``. It serves what a client-credentials app needs: OIDC discovery and the token
endpoint, then the Graph calls the duty bot makes: inbox delta (pages, skip and delta
tokens), MIME download, move, child folders, sendMail, category edits, replies made as
Graph makes them (createReply, PATCH, send, DELETE of a draft: see ``_create_reply``), and
listing a folder's messages by date sent or received (paged, with a named Internet-header
property expanded) and deleting them. Helpers: ``age()`` (time passes for every message) and
``deleted()``.

Like Graph it can hold each mailbox to a request budget (``budget``: so many requests in a
sliding window, then 429 with Retry-After until the oldest leaves the window), and it counts
the calls made to each mailbox (``requests_to``). ``throttle_next`` and ``fail_next`` answer
the next calls with 429 or 503 on demand.

A named property in the Internet headers set (PS_INTERNET_HEADERS) set on a draft becomes a
header of the mail sent, as Exchange's MIME writer does. Whether X- headers that came in MIME
become such properties too is ``promote_headers`` (off by default): Exchange may or may not,
and the adapter must cope with either.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import trustme

from bot.mail.adapters.graph import GraphSettings
from tests.fakes.directory import FakeDirectory

IMMUTABLE_PREF = 'idtype="immutableid"'
WELL_KNOWN = ("msgfolderroot", "inbox", "sentitems")
FILTER_NAME = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
FILTER_BEFORE = re.compile(r"^(sentDateTime|receivedDateTime) lt (\S+)$")
EXPAND_ID = re.compile(r"id eq '([^']*)'")
INTERNET_HEADERS = "string {00020386-0000-0000-c000-000000000046} name "  # casefolded prefix


@dataclass(frozen=True)
class GraphRequest:
    """One Graph call as the fake saw it (token calls are counted separately)."""

    method: str
    path: str  # decoded, without the query
    query: dict[str, list[str]]
    prefer_immutable: bool  # sent Prefer: IdType="ImmutableId"
    authorized: bool  # carried a bearer token this fake minted
    status: int = 0


@dataclass(frozen=True)
class StoredMessage:
    id: str
    mime: bytes
    internet_message_id: str | None
    conversation_id: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class SentMail:
    message: EmailMessage  # parsed, whichever way it was sent
    to: tuple[str, ...]
    save_to_sent_items: bool
    as_mime: bool  # sent as base64 MIME rather than a JSON message


@dataclass
class _Message:
    id: str
    mime: bytes
    folder_id: str
    internet_message_id: str | None
    conversation_id: str
    received: str  # also its time sent: the fake keeps one time
    categories: list[str] = field(default_factory=list)
    props: dict[str, str] = field(default_factory=dict)  # extended properties, id casefolded

    def view(self) -> StoredMessage:
        return StoredMessage(
            self.id,
            self.mime,
            self.internet_message_id,
            self.conversation_id,
            tuple(self.categories),
        )


@dataclass
class _Folder:
    id: str
    name: str
    parent_id: str | None


@dataclass
class _Round:
    """What is left of one delta round, handed out a page at a time."""

    folder_id: str
    entries: list[str]  # message ids; "-" prefix marks a removal
    select: tuple[str, ...]
    change_type: str | None
    end_seq: int


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(status: int, body: Any, **headers: str) -> _Reply:
    return _Reply(status, json.dumps(body).encode(), headers=dict(headers))


def _error(status: int, code: str, message: str = "", **headers: str) -> _Reply:
    return _json_reply(status, {"error": {"code": code, "message": message or code}}, **headers)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeGraph:
    """Fake Entra ID + Graph mail for one shared mailbox. Use as a context manager."""

    def __init__(
        self,
        *,
        address: str = "CareExperiencedDuty@council.example.gov.uk",
        tenant_id: str = "council-tenant",
        client_id: str = "dutybot-app",
        client_secret: str = "correct-horse-battery-staple",
        default_page_size: int = 10,
    ) -> None:
        self.address = address
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.default_page_size = default_page_size
        self.roles: list[str] = ["Mail.ReadWrite", "Mail.Send"]  # put into minted tokens
        self.reject_secret = False  # True: even the right secret is refused (rotated/expired)
        self.promote_headers = False  # X- headers of MIME that comes in become properties
        self.token_requests = 0
        self.requests: list[GraphRequest] = []
        # (requests, seconds): Graph's is 10,000 per 600 per app and mailbox; None, no limit.
        self.budget: tuple[int, float] | None = None
        self.clock: Callable[[], float] = time.monotonic  # the budget's time
        self._spent: dict[str, deque[float]] = {}  # mailbox (casefolded) -> times in window
        self._lock = threading.RLock()
        self._tokens: set[str] = set()
        self._messages: dict[str, _Message] = {}
        self._folders: dict[str, _Folder] = {}
        self._well_known: dict[str, str] = {}
        self._events: list[tuple[int, str, str, str]] = []  # seq, folder id, kind, msg id
        self._seq = 0
        self._skip_tokens: dict[str, _Round] = {}
        self._delta_tokens: dict[str, tuple[str, int, tuple[str, ...], str | None]] = {}
        self._expired: set[str] = set()
        self._faults: list[_Reply] = []
        self._sent: list[SentMail] = []
        self._drafts: dict[str, dict[str, Any]] = {}  # reply drafts by id (see _create_reply)
        self.directory = FakeDirectory()  # people: managers, automatic replies, calendars
        self._deleted: list[tuple[str, bytes]] = []  # (folder name, MIME) of deleted messages
        self._make_folders()
        self._ca = trustme.CA()
        self._tmp = tempfile.TemporaryDirectory(prefix="fakegraph-")
        self.ca_bundle = str(Path(self._tmp.name) / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_bundle)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeGraph:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._tmp.cleanup()

    def settings(self, **changes: Any) -> GraphSettings:
        """A Graph mailbox's settings pointing at this fake (its app, tenant and CA)."""
        return GraphSettings(
            address=self.address, tenant_id=self.tenant_id, client_id=self.client_id,
            client_secret=self.client_secret, authority_host=self.authority_host,
            graph_url=self.graph_url, ca_bundle=self.ca_bundle, **changes,
        )  # fmt: skip

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def authority_host(self) -> str:
        return self.url

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    # -- test helpers ------------------------------------------------------------------

    def deliver(
        self, mime: bytes, *, conversation_id: str | None = None, folder: str = "inbox"
    ) -> str:
        """Put a message in the inbox (or another well-known folder, such as "sentitems" for
        mail a person sent), as Exchange would on arrival; returns its id."""
        with self._lock:
            headers = BytesParser(policy=email_policy.default).parsebytes(mime, headersonly=True)
            msg = _Message(
                id=self._new_id("AAMkAGI2"),
                mime=mime,
                folder_id=self._well_known[folder],
                internet_message_id=headers.get("Message-ID"),
                conversation_id=conversation_id or self._new_id("AAQkAGI2"),
                received=_stamp(datetime.now(UTC)),
                props=self._promoted(mime),
            )
            self._messages[msg.id] = msg
            self._event(msg.folder_id, "created", msg.id)
            return msg.id

    def inbox(self) -> list[StoredMessage]:
        return self.folder("Inbox")

    def folder(self, path: str) -> list[StoredMessage]:
        """Messages in a folder named by its path from the top ("Duty/Done"); KeyError if none."""
        with self._lock:
            folder_id: str | None = self._well_known["msgfolderroot"]
            for name in path.split("/"):
                folder_id = self._child_id(folder_id or "", name)
                if folder_id is None:
                    raise KeyError(f"no folder {path!r} in the fake mailbox")
            return [m.view() for m in self._messages.values() if m.folder_id == folder_id]

    def sent(self) -> list[SentMail]:
        with self._lock:
            return list(self._sent)

    def age(self, delta: timedelta) -> None:
        """Every message is now ``delta`` older (sent and received that much earlier)."""
        with self._lock:
            for msg in self._messages.values():
                msg.received = _stamp(_when(msg.received) - delta)

    def deleted(self) -> list[tuple[str, bytes]]:
        """The messages DELETE took (drafts aside): the folder each was in, and its MIME."""
        with self._lock:
            return list(self._deleted)

    def throttle_next(self, n: int, retry_after: float = 1) -> None:
        """The next ``n`` Graph calls get 429 Too Many Requests with Retry-After."""
        with self._lock:
            self._faults += [
                _error(
                    429,
                    "TooManyRequests",
                    "Application is over its MailboxConcurrency limit.",
                    **{"Retry-After": f"{retry_after:g}"},
                )
                for _ in range(n)
            ]

    def fail_next(self, n: int, status: int = 503, retry_after: float | None = None) -> None:
        """The next ``n`` Graph calls fail with ``status`` (Retry-After only if given)."""
        extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        with self._lock:
            self._faults += [_error(status, "ServiceUnavailable", **extra) for _ in range(n)]

    def requests_to(self, address: str | None = None) -> list[GraphRequest]:
        """The Graph calls made to one mailbox (this fake's own unless named), throttled ones
        included: what Graph counts against the app's budget for that mailbox."""
        want = (address or self.address).casefold()
        with self._lock:
            return [r for r in self.requests if _mailbox_of(r.path) == want]

    def expire_delta_tokens(self) -> None:
        """Every delta and skip token minted so far now gets 410 Gone (syncStateNotFound)."""
        with self._lock:
            self._expired |= set(self._delta_tokens) | set(self._skip_tokens)

    def revoke_tokens(self) -> None:
        """Bearer tokens minted so far stop working (as after a secret rotation)."""
        with self._lock:
            self._tokens.clear()

    # -- sign-in -------------------------------------------------------------------------

    def _oidc(self, tenant: str) -> _Reply:
        if tenant != self.tenant_id:
            return _json_reply(
                400,
                {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."},
            )
        base = f"{self.url}/{tenant}"
        return _json_reply(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
            },
        )

    def _token(self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None) -> _Reply:
        self.token_requests += 1
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if tenant != self.tenant_id:
            return _json_reply(
                400,
                {"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."},
            )
        if form.get("grant_type") != "client_credentials":
            return _json_reply(400, {"error": "unsupported_grant_type"})
        if client_id != self.client_id:
            return _json_reply(
                400,
                {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application not found in the directory.",
                },
            )
        if self.reject_secret or secret != self.client_secret:
            return _json_reply(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return _json_reply(400, {"error": "invalid_scope"})
        claims = {
            "aud": scope.removesuffix("/.default"),
            "tid": self.tenant_id,
            "appid": self.client_id,
            "roles": list(self.roles),
            "exp": int(time.time()) + 3600,
        }
        token = ".".join(
            (
                _b64url(b'{"alg":"none","typ":"JWT"}'),
                _b64url(json.dumps(claims).encode()),
                _b64url(secrets.token_bytes(16)),
            )
        )
        self._tokens.add(token)
        return _json_reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            },
        )

    # -- Graph ---------------------------------------------------------------------------

    def _graph(
        self, call: GraphRequest, segments: list[str], prefer: list[str], body: bytes, ctype: str
    ) -> _Reply:
        if not call.authorized:
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        if (over := self._over_budget(_mailbox_of(call.path))) is not None:
            return over
        if self._faults:
            return self._faults.pop(0)
        parts = segments[2:]  # after "", "v1.0"
        if len(parts) < 3 or parts[0] != "users":
            return _error(400, "BadRequest", "Unsupported segment.")
        if (people := self._people(call, parts, body)) is not None:
            return people
        if parts[1].casefold() != self.address.casefold():
            return _error(404, "ErrorInvalidUser", "The requested user is invalid.")
        route, method, q = parts[2:], call.method, call.query
        match route:
            case ["mailFolders", folder, "messages", "delta"] if method == "GET":
                return self._delta(folder, q, prefer)
            case ["mailFolders", folder] if method == "GET":
                return self._get_folder(folder)
            case ["mailFolders", folder, "childFolders"] if method == "GET":
                return self._list_children(folder, q)
            case ["mailFolders", folder, "childFolders"] if method == "POST":
                return self._create_child(folder, _loads(body))
            case ["messages", msg_id, "$value"] if method == "GET":
                msg = self._messages.get(msg_id)
                return _Reply(200, msg.mime, "text/plain") if msg else _not_found()
            case ["messages", msg_id, "move"] if method == "POST":
                return self._move(msg_id, _loads(body), call.prefer_immutable)
            case ["messages", msg_id] if method == "GET":
                return self._get_message(msg_id, q)
            case ["messages", msg_id, "createReply"] if method == "POST":
                return self._create_reply(msg_id, _loads(body))
            case ["messages", msg_id] if method == "PATCH" and msg_id in self._drafts:
                return self._patch_draft(msg_id, _loads(body))
            case ["messages", msg_id, "send"] if method == "POST":
                return self._send_draft(msg_id)
            case ["messages", msg_id] if method == "DELETE":
                return self._delete(msg_id)
            case ["mailFolders", folder, "messages"] if method == "GET":
                return self._list(folder, q)
            case ["messages", msg_id] if method == "PATCH":
                return self._patch_message(msg_id, _loads(body))
            case ["sendMail"] if method == "POST":
                return self._send_mail(body, ctype)
        return _error(400, "BadRequest", "Unsupported request.")

    def _delta(self, folder: str, q: dict[str, list[str]], prefer: list[str]) -> _Reply:
        folder_id = self._folder_id(folder)
        if folder_id is None:
            return _not_found()
        page_size = self.default_page_size
        for pref in prefer:
            if pref.lower().startswith("odata.maxpagesize="):
                page_size = max(1, int(pref.split("=", 1)[1]))
        if "$skiptoken" in q:
            token = q["$skiptoken"][0]
            if token in self._expired or token not in self._skip_tokens:
                return _gone()
            round_ = self._skip_tokens[token]
        elif "$deltatoken" in q:
            token = q["$deltatoken"][0]
            if token in self._expired or token not in self._delta_tokens:
                return _gone()
            folder_id, since, select, change_type = self._delta_tokens[token]
            entries = self._changes(folder_id, since, change_type)
            round_ = _Round(folder_id, entries, select, change_type, self._seq)
        else:
            select = tuple(q.get("$select", [""])[0].split(",")) if "$select" in q else ()
            change_type = q.get("changeType", [None])[0]
            entries = [m.id for m in self._messages.values() if m.folder_id == folder_id]
            if change_type in ("updated", "deleted"):
                entries = []  # the first round of a filtered sync has nothing to report
            round_ = _Round(folder_id, entries, select, change_type, self._seq)
        page, rest = round_.entries[:page_size], round_.entries[page_size:]
        link = f"{self.graph_url}/users/{self.address}/mailFolders/{folder}/messages/delta"
        reply: dict[str, Any] = {"value": [self._render(e, round_.select) for e in page]}
        token = secrets.token_urlsafe(12)
        if rest:
            self._skip_tokens[token] = _Round(
                round_.folder_id, rest, round_.select, round_.change_type, round_.end_seq
            )
            reply["@odata.nextLink"] = f"{link}?$skiptoken={token}"
        else:
            self._delta_tokens[token] = (
                round_.folder_id,
                round_.end_seq,
                round_.select,
                round_.change_type,
            )
            reply["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        return _json_reply(200, reply)

    def _changes(self, folder_id: str, since: int, change_type: str | None) -> list[str]:
        """Ids changed in a folder after ``since``, latest change each, oldest first."""
        kinds: dict[str, set[str]] = {}
        for seq, fid, kind, msg_id in self._events:
            if seq > since and fid == folder_id:
                kinds.setdefault(msg_id, set()).add(kind)
        out = []
        for msg_id, seen in kinds.items():
            msg = self._messages.get(msg_id)
            present = msg is not None and msg.folder_id == folder_id
            if change_type is None:
                out.append(msg_id if present else f"-{msg_id}")
            elif change_type == "deleted" and not present:
                out.append(f"-{msg_id}")
            elif present and change_type in seen:
                out.append(msg_id)
        return out

    def _render(self, entry: str, select: tuple[str, ...]) -> dict[str, Any]:
        if entry.startswith("-"):
            return {"id": entry[1:], "@removed": {"reason": "deleted"}}
        msg = self._messages.get(entry)
        if msg is None:  # re-keyed or gone since the round began
            return {"id": entry, "@removed": {"reason": "deleted"}}
        full = {
            "id": msg.id,
            "internetMessageId": msg.internet_message_id,
            "conversationId": msg.conversation_id,
            "receivedDateTime": msg.received,
            "sentDateTime": msg.received,
            "parentFolderId": msg.folder_id,
            "categories": list(msg.categories),
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            f"{quote(msg.id, safe='')}&exvsurl=1&viewmodel=ReadMessageItem",
            "replyTo": _recipients(msg.mime, "Reply-To"),
        }
        if not select:
            return full
        return {k: v for k, v in full.items() if k == "id" or k in select}

    def _get_message(self, msg_id: str, q: dict[str, list[str]]) -> _Reply:
        if msg_id not in self._messages:
            return _not_found()
        select = tuple(q.get("$select", [""])[0].split(",")) if "$select" in q else ()
        return _json_reply(200, self._render(msg_id, select))

    def _promoted(self, mime: bytes) -> dict[str, str]:
        """The X- headers of MIME coming in, as properties, if ``promote_headers``."""
        if not self.promote_headers:
            return {}
        head = BytesParser(policy=email_policy.compat32).parsebytes(mime, headersonly=True)
        return {
            f"{INTERNET_HEADERS}{k}".casefold(): str(v).strip()
            for k, v in head.items()
            if k.lower().startswith("x-")
        }

    def _delete(self, msg_id: str) -> _Reply:
        if self._drafts.pop(msg_id, None):
            return _Reply(204)
        msg = self._messages.pop(msg_id, None)
        if msg is None:
            return _not_found()
        self._deleted.append((self._folders[msg.folder_id].name, msg.mime))
        self._event(msg.folder_id, "removed", msg.id)
        return _Reply(204)

    def _list(self, ref: str, q: dict[str, list[str]]) -> _Reply:
        """A folder's messages, oldest first: $filter on a time sent or received, $select,
        $expand of named singleValueExtendedProperties, $top and $skip (in the next link)."""
        folder_id = self._folder_id(ref)
        if folder_id is None:
            return _not_found()
        found = [m for m in self._messages.values() if m.folder_id == folder_id]
        if "$filter" in q:
            match = FILTER_BEFORE.match(q["$filter"][0])
            if not match:
                return _error(400, "ErrorInvalidUrlQueryFilter")
            before = _when(match.group(2))
            found = [m for m in found if _when(m.received) < before]
        select = tuple(q["$select"][0].split(",")) if "$select" in q else ()
        expand = q.get("$expand", [""])[0]
        extended = expand.startswith("singleValueExtendedProperties")
        wanted = EXPAND_ID.findall(expand) if extended else []
        top, skip = int(q.get("$top", ["10"])[0]), int(q.get("$skip", ["0"])[0])
        value = []
        for msg in found[skip : skip + top]:
            entry = self._render(msg.id, select)
            props = [{"id": pid, "value": msg.props[pid.casefold()]} for pid in wanted
                     if pid.casefold() in msg.props]  # fmt: skip
            if props:
                entry["singleValueExtendedProperties"] = props
            value.append(entry)
        reply: dict[str, Any] = {"value": value}
        if skip + top < len(found):
            rest = {k: v[0] for k, v in q.items()} | {"$skip": str(skip + top)}
            query = urlencode(rest, safe="$,", quote_via=quote)
            reply["@odata.nextLink"] = (
                f"{self.graph_url}/users/{self.address}/mailFolders/{ref}/messages?{query}"
            )
        return _json_reply(200, reply)

    def _patch_message(self, msg_id: str, body: Any) -> _Reply:
        msg = self._messages.get(msg_id)
        if msg is None:
            return _not_found()
        if not isinstance(body, dict):
            return _error(400, "BadRequest")
        if "categories" in body:
            msg.categories = [str(c) for c in body["categories"]]
        self._event(msg.folder_id, "updated", msg.id)
        return _json_reply(200, self._render(msg.id, ()))

    def _move(self, msg_id: str, body: Any, immutable: bool) -> _Reply:
        msg = self._messages.get(msg_id)
        dest = (
            self._folder_id(str(body.get("destinationId", ""))) if isinstance(body, dict) else None
        )
        if msg is None or dest is None:
            return _not_found()
        self._event(msg.folder_id, "removed", msg.id)
        msg.folder_id = dest
        if not immutable:  # default ids change when an item changes folder
            del self._messages[msg.id]
            msg.id = self._new_id("AAMkAGI2")
            self._messages[msg.id] = msg
        self._event(dest, "created", msg.id)
        return _json_reply(201, self._render(msg.id, ()))

    def _send_mail(self, body: bytes, ctype: str) -> _Reply:
        if ctype.startswith("text/plain"):
            try:
                mime = base64.b64decode(body, validate=False)
            except binascii.Error:
                return _error(
                    400,
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                )
            message = BytesParser(policy=email_policy.default).parsebytes(mime)
            save, as_mime = True, True
        else:
            payload = _loads(body)
            if not isinstance(payload, dict) or not isinstance(payload.get("message"), dict):
                return _error(400, "ErrorInvalidRequest")
            message = _json_to_email(payload["message"], self.address)
            save = str(payload.get("saveToSentItems", True)).lower() != "false"
            as_mime = False
        to = tuple(
            a for _, a in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))
        )
        if not any(to):
            return _error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        assert isinstance(message, EmailMessage)
        self._sent.append(SentMail(message, to, save, as_mime))
        raw = message.as_bytes()
        if save:
            copy = _Message(
                self._new_id("AAMkAGI2"),
                raw,
                self._well_known["sentitems"],
                message.get("Message-ID"),
                self._new_id("AAQk"),
                _stamp(datetime.now(UTC)),
                props=self._promoted(raw),
            )
            self._messages[copy.id] = copy
        if any(a.casefold() == self.address.casefold() for a in to):
            self.deliver(raw)  # mail to the duty inbox lands in it, as in Exchange
        return _Reply(202)

    # -- replies -------------------------------------------------------------------------

    def drafts(self) -> list[dict[str, Any]]:
        """Reply drafts made and not yet sent or deleted."""
        with self._lock:
            return [dict(d) for d in self._drafts.values()]

    def _create_reply(self, msg_id: str, body: Any) -> _Reply:
        """A draft reply as Graph makes one: its body quotes the original under any comment,
        and without toRecipients it is addressed to the original's replyTo, else its from."""
        msg = self._messages.get(msg_id)
        if msg is None:
            return _not_found()
        first = BytesParser(policy=email_policy.default).parsebytes(msg.mime)
        given = (body or {}).get("message") or {} if isinstance(body, dict) else {}
        old = first.get_body(preferencelist=("plain", "html"))
        quoted = old.get_content() if old is not None else ""  # type: ignore[attr-defined]
        comment = str((body or {}).get("comment") or "") if isinstance(body, dict) else ""
        domain = self.address.rpartition("@")[2]
        draft = {
            "id": self._new_id("AAMkDraft"),
            "internetMessageId": f"<{secrets.token_hex(12)}@{domain}>",  # Exchange's, not ours
            "original": msg.id,
            "subject": f"RE: {first.get('Subject', '')}",
            "body": {
                "contentType": "html",
                "content": f"{comment}<hr>From: {first.get('From', '')}<br>{quoted}",
            },  # fmt: skip
            "toRecipients": given.get("toRecipients")
            or _recipients(msg.mime, "Reply-To")
            or _recipients(msg.mime, "From"),
        }
        self._drafts[draft["id"]] = draft
        return _json_reply(201, draft)

    def _patch_draft(self, draft_id: str, body: Any) -> _Reply:
        if not isinstance(body, dict):
            return _error(400, "BadRequest")
        draft = self._drafts[draft_id]
        for key in ("subject", "body", "toRecipients", "ccRecipients", "bccRecipients"):
            if key in body:
                draft[key] = body[key]
        for prop in body.get("singleValueExtendedProperties") or []:
            draft.setdefault("props", {})[str(prop["id"]).casefold()] = str(prop["value"])
        return _json_reply(200, {k: v for k, v in draft.items() if k != "props"})

    def _send_draft(self, draft_id: str) -> _Reply:
        """Send a draft: threaded under its original, a copy in Sent Items in its conversation."""
        draft = self._drafts.pop(draft_id, None)
        if draft is None:
            return _not_found()
        original = self._messages.get(draft["original"])
        out = _json_to_email(draft, self.address)
        if original is not None and original.internet_message_id:
            first = BytesParser(policy=email_policy.default).parsebytes(original.mime)
            parent = original.internet_message_id
            out["In-Reply-To"] = parent
            out["References"] = " ".join([*str(first.get("References", "")).split(), parent])
        out["Message-ID"] = draft["internetMessageId"]  # Exchange keeps the draft's
        props: dict[str, str] = draft.get("props", {})
        for pid, value in props.items():
            if pid.startswith(INTERNET_HEADERS):
                out[draft_header(pid)] = value
        to = tuple(r["emailAddress"]["address"] for r in draft.get("toRecipients") or [])
        self._sent.append(SentMail(out, to, True, False))
        conversation = original.conversation_id if original else self._new_id("AAQk")
        copy = _Message(self._new_id("AAMkAGI2"), out.as_bytes(), self._well_known["sentitems"],
                        out["Message-ID"], conversation, _stamp(datetime.now(UTC)),
                        props=dict(props))  # fmt: skip
        self._messages[copy.id] = copy
        return _Reply(202)

    # -- people: managers, mail tips, schedules (tests/fakes/directory.py) ------------------

    def _people(self, call: GraphRequest, parts: list[str], body: bytes) -> _Reply | None:
        """The directory calls, answered from ``self.directory``; None for anything else."""
        route, method = parts[2:], call.method
        own = parts[1].casefold() == self.address.casefold()
        if route == ["manager"] and method == "GET":
            kind = "manager"
        elif route == ["getMailTips"] and method == "POST" and own:
            kind = "getMailTips"
        elif route == ["calendar", "getSchedule"] and method == "POST" and own:
            kind = "getSchedule"
        else:
            return None
        self._lock.release()  # a slow directory must not hold up the mailbox calls
        try:
            self.directory.served(kind)
        finally:
            self._lock.acquire()
        if self.directory.down:
            return _error(503, "ServiceUnavailable")
        if kind == "manager":
            return self._people_manager(parts[1])
        payload = _loads(body)
        if not isinstance(payload, dict):
            return _error(400, "BadRequest")
        if kind == "getMailTips":
            return self._people_mail_tips(payload)
        return self._people_schedule(payload)

    def _people_manager(self, who: str) -> _Reply:
        person = self.directory.find(who)
        boss = self.directory.find(person.manager or "") if person else None
        if boss is None:
            return _error(404, "Request_ResourceNotFound", f"Resource '{who}' does not exist.")
        return _json_reply(
            200,
            {
                "@odata.type": "#microsoft.graph.user",
                "id": base64.b64encode(boss.email.encode()).decode(),
                "displayName": boss.name,
                "mail": boss.email,
                "userPrincipalName": boss.email,
            },
        )

    def _people_mail_tips(self, payload: dict[str, Any]) -> _Reply:
        wanted = str(payload.get("MailTipsOptions", ""))
        tips = []
        for address in payload.get("EmailAddresses") or []:
            person = self.directory.find(str(address))
            tip: dict[str, Any] = {"emailAddress": {"address": address, "name": ""}}
            if person is None:
                tip["error"] = {"code": "UnknownError", "message": "Recipient not found."}
            elif "automaticReplies" in wanted:
                replies: dict[str, Any] = {"message": person.reply}
                if person.reply and person.reply_end:
                    start = person.reply_start or datetime.now(UTC)
                    replies["scheduledStartTime"] = _graph_time(start)
                    replies["scheduledEndTime"] = _graph_time(person.reply_end)
                tip["automaticReplies"] = replies
            tips.append(tip)
        return _json_reply(200, {"value": tips})

    def _people_schedule(self, payload: dict[str, Any]) -> _Reply:
        try:
            start = _from_graph_time(payload["startTime"])
            end = _from_graph_time(payload["endTime"])
        except (KeyError, TypeError, ValueError):
            return _error(400, "ErrorInvalidRequest", "startTime and endTime are required.")
        found = []
        for address in payload.get("schedules") or []:
            person = self.directory.find(str(address))
            if person is None:
                found.append(
                    {"scheduleId": address,
                     "error": {"message": "The user was not found.", "responseCode": "Error"}}
                )  # fmt: skip
                continue
            items = [
                {
                    "isPrivate": False,
                    "status": m.status,
                    "subject": m.subject,  # Graph sends it when the caller may see it
                    "location": "",
                    "start": _graph_time(m.start),
                    "end": _graph_time(m.end),
                }
                for m in person.calendar
                if m.end > start and m.start < end
            ]
            found.append({"scheduleId": address, "availabilityView": "", "scheduleItems": items})
        return _json_reply(200, {"value": found})

    # -- folders -------------------------------------------------------------------------

    def _make_folders(self) -> None:
        root = _Folder(self._new_id("AAMkRoot"), "Top of Information Store", None)
        self._folders[root.id] = root
        self._well_known["msgfolderroot"] = root.id
        for key, name in (("inbox", "Inbox"), ("sentitems", "Sent Items")):
            folder = _Folder(self._new_id("AAMkFold"), name, root.id)
            self._folders[folder.id] = folder
            self._well_known[key] = folder.id

    def _folder_id(self, ref: str) -> str | None:
        if ref.lower() in WELL_KNOWN:
            return self._well_known[ref.lower()]
        return ref if ref in self._folders else None

    def _child_id(self, parent_id: str, name: str) -> str | None:
        for f in self._folders.values():
            if f.parent_id == parent_id and f.name.casefold() == name.casefold():
                return f.id
        return None

    def _folder_json(self, folder: _Folder) -> dict[str, Any]:
        items = [m for m in self._messages.values() if m.folder_id == folder.id]
        return {
            "id": folder.id,
            "displayName": folder.name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": sum(f.parent_id == folder.id for f in self._folders.values()),
            "totalItemCount": len(items),
            "unreadItemCount": len(items),
        }

    def _get_folder(self, ref: str) -> _Reply:
        folder_id = self._folder_id(ref)
        if folder_id is None:
            return _not_found()
        return _json_reply(200, self._folder_json(self._folders[folder_id]))

    def _list_children(self, ref: str, q: dict[str, list[str]]) -> _Reply:
        parent = self._folder_id(ref)
        if parent is None:
            return _not_found()
        children = [f for f in self._folders.values() if f.parent_id == parent]
        if "$filter" in q:
            match = FILTER_NAME.match(q["$filter"][0])
            if not match:
                return _error(400, "ErrorInvalidUrlQueryFilter")
            want = match.group(1).replace("''", "'").casefold()
            children = [f for f in children if f.name.casefold() == want]
        return _json_reply(200, {"value": [self._folder_json(f) for f in children]})

    def _create_child(self, ref: str, body: Any) -> _Reply:
        parent = self._folder_id(ref)
        if parent is None:
            return _not_found()
        name = str(body.get("displayName", "")).strip() if isinstance(body, dict) else ""
        if not name:
            return _error(400, "ErrorInvalidRequest")
        if self._child_id(parent, name) is not None:
            return _error(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        folder = _Folder(self._new_id("AAMkFold"), name, parent)
        self._folders[folder.id] = folder
        return _json_reply(201, self._folder_json(folder))

    # -- plumbing ------------------------------------------------------------------------

    def _over_budget(self, mailbox: str) -> _Reply | None:
        """Once ``budget`` requests were let through in its window, 429 with Retry-After: the
        whole seconds until the oldest of them leaves the window."""
        if self.budget is None or not mailbox:
            return None
        most, window = self.budget
        now = self.clock()
        spent = self._spent.setdefault(mailbox, deque())
        while spent and spent[0] <= now - window:
            spent.popleft()
        if len(spent) < most:
            spent.append(now)
            return None
        wait = spent[0] + window - now if spent else window
        return _error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            **{"Retry-After": str(max(math.ceil(wait), 1))},
        )

    def _new_id(self, prefix: str) -> str:
        # Real ids are base64 and may hold "/", "+" and "="; so do these, to test quoting.
        return f"{prefix}{base64.b64encode(secrets.token_bytes(24)).decode()}/+="

    def _event(self, folder_id: str, kind: str, msg_id: str) -> None:
        self._seq += 1
        self._events.append((self._seq, folder_id, kind, msg_id))


def _mailbox_of(path: str) -> str:
    """The mailbox a Graph path is for ("/v1.0/users/<mailbox>/..."), casefolded; else ""."""
    parts = path.split("/")
    return parts[3].casefold() if len(parts) > 3 and parts[2] == "users" else ""


def draft_header(property_id: str) -> str:
    """The header name in a casefolded Internet-header property id (casefolded too: header
    names are case-insensitive)."""
    return property_id[len(INTERNET_HEADERS) :]


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _not_found() -> _Reply:
    return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _gone() -> _Reply:
    return _error(410, "syncStateNotFound", "The sync state is no longer valid.")


def _graph_time(when: datetime) -> dict[str, str]:
    """A dateTimeTimeZone in UTC, as Graph writes it (seven decimal places)."""
    return {"dateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC"}  # fmt: skip


def _from_graph_time(value: Any) -> datetime:
    found = datetime.fromisoformat(str(value["dateTime"])[:19])
    if str(value.get("timeZone", "UTC")).upper() != "UTC":
        raise ValueError("the fake reads times in UTC only")
    return found.replace(tzinfo=UTC)


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _recipients(mime: bytes, header: str) -> list[dict[str, Any]]:
    """A header's addresses as Graph's recipient objects."""
    found = BytesParser(policy=email_policy.default).parsebytes(mime, headersonly=True)
    return [
        {"emailAddress": {"name": name, "address": addr}}
        for name, addr in getaddresses(found.get_all(header, []))
        if addr
    ]


def _json_to_email(message: dict[str, Any], sender: str) -> EmailMessage:
    out = EmailMessage(policy=email_policy.default)
    out["From"] = sender
    out["To"] = ", ".join(r["emailAddress"]["address"] for r in message.get("toRecipients", []))
    out["Subject"] = str(message.get("subject", ""))
    body = message.get("body") or {}
    subtype = "html" if str(body.get("contentType", "")).lower() == "html" else "plain"
    out.set_content(str(body.get("content", "")), subtype=subtype)
    return out


def _handler_for(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so TLS handshakes are not repeated
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_PATCH(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            segments = [unquote(s) for s in split.path.split("/")]
            path = "/".join(segments)
            query = parse_qs(split.query)
            with fake._lock:
                reply = self._route(segments, path, query, body)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def _route(
            self, segments: list[str], path: str, query: dict[str, list[str]], body: bytes
        ) -> _Reply:
            tail = segments[2:]
            if tail == ["v2.0", ".well-known", "openid-configuration"] and self.command == "GET":
                return fake._oidc(segments[1])
            if tail == ["oauth2", "v2.0", "token"] and self.command == "POST":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                return fake._token(segments[1], form, self._basic())
            if len(segments) > 1 and segments[1] == "v1.0":
                return self._graph(segments, path, query, body)
            return _error(404, "NotFound")

        def _graph(
            self, segments: list[str], path: str, query: dict[str, list[str]], body: bytes
        ) -> _Reply:
            prefer = [
                p.strip()
                for header in self.headers.get_all("Prefer", [])
                for p in header.split(",")
            ]
            auth = self.headers.get("Authorization", "")
            call = GraphRequest(
                method=self.command,
                path=path,
                query=query,
                prefer_immutable=any(p.lower() == IMMUTABLE_PREF for p in prefer),
                authorized=auth.startswith("Bearer ") and auth[7:] in fake._tokens,
            )
            ctype = self.headers.get("Content-Type", "")
            reply = fake._graph(call, segments, prefer, body, ctype)
            fake.requests.append(
                GraphRequest(
                    call.method,
                    call.path,
                    call.query,
                    call.prefer_immutable,
                    call.authorized,
                    reply.status,
                )
            )
            return reply

        def _basic(self) -> tuple[str, str] | None:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))

    return Handler
