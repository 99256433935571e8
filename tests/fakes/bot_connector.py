"""A local fake of Teams' Bot Connector service (and the two Microsoft Graph calls that read a
channel's messages back), over real HTTP, for end-to-end tests of the Teams adapter.

It answers the /v3/conversations calls the Agents SDK makes: post to a channel (a new
thread), reply in a thread (``<channel>;messageid=<post>``), update an activity, create a
1:1 conversation, list members; and Graph's channel messages and their replies, as Teams
keeps them. Every request is recorded (``calls``), faulted ones too. Bearer tokens must be
ones the fake sign-in issued (``MicrosoftLogin.issued``), else 401.

Faults, on demand: ``fail_next(n, kind)`` with kind "429" (Retry-After), "500", "503",
"slow" (answers after ``slow_seconds``), "500-after-post" (did the work, answered 500),
"hang-after-post" (did the work, answers only after ``slow_seconds``);
``fault_rate(p)`` faults that share of calls at random; ``gone(conversation)`` makes a
conversation answer 403 as Teams does once the bot is removed from it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

T = TypeVar("T")
CARD = "application/vnd.microsoft.card.adaptive"
FAULTS = ("429", "500", "503", "slow", "500-after-post", "hang-after-post")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    at: float
    fault: str | None = None


@dataclass
class Post:
    """A message in Teams: a channel post, a reply in its thread, or a 1:1 chat message."""

    id: str
    conversation: str  # the channel, or the 1:1 chat
    activity: dict[str, Any]
    parent: str | None = None  # a reply: the post it is under
    targeted_to: str | None = None  # a targeted message: the only one who sees it
    versions: list[dict[str, Any]] = field(default_factory=list)  # earlier, on update

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [a["content"] for a in self.activity.get("attachments") or []
                if a.get("contentType") == CARD]  # fmt: skip

    @property
    def card(self) -> dict[str, Any] | None:
        return (self.cards or [None])[0]

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")


class FakeBotConnector:
    def __init__(self, *, issued: set[str] | None = None, seed: int = 15) -> None:
        self.issued = issued  # None: any bearer token will do
        self.slow_seconds = 3.0
        self.retry_after = 1  # what a 429 says in Retry-After
        self.targeted = True  # whether this tenant takes targeted (one-person) messages
        self.members: dict[str, list[dict[str, Any]]] = {}  # conversation -> Teams members
        self.users: dict[str, dict[str, Any]] = {}  # Graph's users, by Entra id
        self.groups: dict[str, list[str]] = {}  # Graph's groups: id -> member Entra ids
        self.presence: dict[str, dict[str, Any]] = {}  # Graph's presence, by Entra id
        self.presence_granted = True  # False: Presence.Read.All not granted (403)
        self._calls: list[Call] = []
        self._posts: dict[str, Post] = {}
        self._order: list[str] = []
        self._ids = itertools.count(1_700_000_000_001)
        self._faults: list[str] = []
        self._rate = 0.0
        self._random = random.Random(seed)
        self._gone: set[str] = set()
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeBotConnector:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBotConnector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def graph_url(self) -> str:
        return f"{self.url}graph/v1.0"

    # ---- faults -----------------------------------------------------------------------

    def fail_next(self, n: int, kind: str = "503") -> None:
        assert kind in FAULTS, kind
        with self._lock:
            self._faults += [kind] * n

    def fault_rate(self, share: float, kinds: tuple[str, ...] = ("429", "503")) -> None:
        """Fault ``share`` of the calls (not Graph's reads), each with one of ``kinds``."""
        with self._lock:
            self._rate = share
            self._rate_kinds = kinds

    def gone(self, conversation: str) -> None:
        with self._lock:
            self._gone.add(conversation)

    # ---- what it holds ------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def posts(self, conversation: str) -> list[Post]:
        """Top-level posts in a channel (or messages in a 1:1 chat), oldest first."""
        with self._lock:
            return [self._posts[i] for i in self._order
                    if self._posts[i].conversation == conversation
                    and self._posts[i].parent is None]  # fmt: skip

    def replies(self, conversation: str, post_id: str) -> list[Post]:
        with self._lock:
            return [self._posts[i] for i in self._order
                    if self._posts[i].conversation == conversation
                    and self._posts[i].parent == post_id]  # fmt: skip

    def all_posts(self) -> list[Post]:
        """Every message in every conversation, as it stands now (after any update)."""
        with self._lock:
            return [self._posts[i] for i in self._order]

    def post(self, post_id: str) -> Post | None:
        with self._lock:
            return self._posts.get(post_id)

    def targeted_to(self, user: str) -> list[Post]:
        """Targeted messages (one person sees them) to ``user`` (their Teams id, 29:...)."""
        with self._lock:
            return [p for p in (self._posts[i] for i in self._order) if p.targeted_to == user]

    def chats_with(self, user: str) -> list[Post]:
        """Messages in the bot's 1:1 chat with ``user`` (by Entra object id)."""
        return self.posts(f"a:{user}")

    def wait_for(self, found: Callable[[], T], timeout: float = 10.0) -> T:
        deadline = time.monotonic() + timeout
        while True:
            got = found()
            if got or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    # ---- answering ----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, body: Any, auth: str, query: dict[str, str] | None = None
    ) -> tuple[int, Any, dict]:
        is_graph = path.startswith("/graph/")
        with self._lock:
            fault = self._fault_for(is_graph)
            self._calls.append(Call(method, path, body, time.time(), fault))
        token = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or (self.issued is not None and token not in self.issued):
            return 401, {"message": "Authorization has been denied for this request."}, {}
        if fault == "429":
            return (
                429,
                {"error": {"code": "TooManyRequests"}},
                {"Retry-After": str(self.retry_after)},
            )
        if fault in ("500", "503"):
            return int(fault), {"error": {"code": "ServiceError"}}, {}
        if fault == "slow":
            time.sleep(self.slow_seconds)
        targeted = (query or {}).get("isTargetedActivity") == "true"
        if targeted and not self.targeted:
            return 400, {"error": {"code": "BadArgument",
                                   "message": "Targeted messages are not enabled"}}, {}  # fmt: skip
        try:
            if is_graph:
                status, data = self._graph(method, path, body)
            else:
                status, data = self._connector(method, path, body, targeted)
        except KeyError:
            return 404, {"error": {"code": "NotFound", "message": "Not found"}}, {}
        if fault == "500-after-post":
            return 500, {"error": {"code": "ServiceError"}}, {}
        if fault == "hang-after-post":  # did the work; the answer comes too late to matter
            time.sleep(self.slow_seconds)
        return status, data, {}

    def _fault_for(self, is_graph: bool) -> str | None:
        if is_graph:
            return None
        if self._faults:
            return self._faults.pop(0)
        if self._rate and self._random.random() < self._rate:
            return self._random.choice(self._rate_kinds)
        return None

    def _connector(self, method: str, path: str, body: Any, targeted: bool) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.split("/") if p]
        assert parts[:2] == ["v3", "conversations"], path
        rest = parts[2:]
        if not rest and method == "POST":
            return self._create(body)
        conversation, _, parent = rest[0].partition(";messageid=")
        if conversation in self._gone:
            not_in = "The bot is not part of the conversation roster."
            return 403, {"error": {"code": "BotNotInConversationRoster", "message": not_in}}
        if rest[1:] == ["activities"] and method == "POST":
            return 201, {"id": self._add(conversation, body, parent or None)}
        if len(rest) == 3 and rest[1] == "activities" and method == "POST":
            # A reply: in a channel, in the thread it was said in; a 1:1 chat has no threads.
            thread = None if conversation.startswith("a:") else (parent or rest[2])
            if thread is not None and thread not in self._posts:
                thread = None  # said in a thread the fake never saw: kept in the channel
            to = ((body or {}).get("recipient") or {}).get("id") if targeted else None
            return 201, {"id": self._add(conversation, body, thread, to)}
        if len(rest) == 3 and rest[1] == "activities" and method == "PUT":
            post = self._posts[rest[2]]
            with self._lock:
                post.versions.append(post.activity)
                post.activity = {**body, "id": post.id}
            return 200, {"id": post.id}
        if rest[1:2] == ["members"]:
            members = self.members.get(conversation, [])
            if len(rest) == 3:
                found = [m for m in members if rest[2] in (m["id"], m["aadObjectId"])]
                if not found:
                    raise KeyError(path)
                return 200, found[0]
            return 200, members
        raise KeyError(path)

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        members = body.get("members") or []
        if not body.get("isGroup") and len(members) == 1:
            user = members[0]["id"]
            if f"a:{user}" in self._gone:
                return 403, {"error": {"code": "ConversationBlockedByUser"}}
            return 201, {"id": f"a:{user}"}  # the same 1:1 chat each time, as Teams does
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        activity = body.get("activity")
        if channel and activity:
            post = self._add(channel, activity, None)
            return 201, {"id": f"{channel};messageid={post}", "activityId": post}
        return 400, {"error": {"code": "BadArgument"}}

    def _add(
        self,
        conversation: str,
        activity: dict[str, Any],
        parent: str | None,
        targeted_to: str | None = None,
    ) -> str:
        with self._lock:
            if parent is not None and parent not in self._posts:
                raise KeyError(parent)
            post = Post(str(next(self._ids)), conversation, {**activity}, parent, targeted_to)
            post.activity["id"] = post.id
            self._posts[post.id] = post
            self._order.append(post.id)
            return post.id

    def _graph(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """GET /teams/{team}/channels/{channel}/messages[/{id}/replies] (newest first),
        /users/{id or sign-in name}[/presence], /groups/{id}/transitiveMembers."""
        parts = [unquote(p) for p in path.split("/") if p][2:]
        assert method == "GET", path
        if parts[0] == "users" and parts[2:] == ["presence"]:
            if not self.presence_granted:
                return 403, {"error": {"code": "Forbidden", "message": "Insufficient privileges"}}
            if parts[1].lower() not in self.users:
                raise KeyError(path)
            unknown = {"availability": "PresenceUnknown", "activity": "PresenceUnknown"}
            return 200, {"id": parts[1], **self.presence.get(parts[1].lower(), unknown)}
        if parts[0] == "users" and len(parts) == 2:
            who = parts[1].lower()
            found = self.users.get(who) or next(
                (u for u in self.users.values()
                 if who in (str(u.get("mail")).lower(), str(u.get("userPrincipalName")).lower())),
                None,
            )  # fmt: skip
            if found is None:
                raise KeyError(path)
            return 200, found
        if parts[0] == "groups" and parts[2:] == ["transitiveMembers"]:
            ids = self.groups[parts[1]]
            return 200, {"value": [self.users.get(i, {"id": i}) for i in ids]}
        assert parts[0] == "teams" and parts[2] == "channels", path
        channel = parts[3]
        if parts[4:] == ["messages"]:
            found = self.posts(channel)
        elif len(parts) == 7 and parts[6] == "replies":
            found = self.replies(channel, parts[5])
        else:
            raise KeyError(path)
        return 200, {"value": [_chat_message(p) for p in reversed(found)]}


def _chat_message(post: Post) -> dict[str, Any]:
    """A post as Graph's chatMessage: the card is JSON text in its attachment's content."""
    return {
        "id": post.id,
        "replyToId": post.parent,
        "messageType": "message",
        "body": {"contentType": "html", "content": post.text},
        "attachments": [
            {"id": str(i), "contentType": a.get("contentType"),
             "content": json.dumps(a.get("content"))}
            for i, a in enumerate(post.activity.get("attachments") or [])
        ],
        "channelData": post.activity.get("channelData"),
    }  # fmt: skip


def _handler_for(fake: FakeBotConnector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(size) if size else b""
            body = json.loads(raw) if raw else None
            where = urlsplit(self.path)
            status, data, headers = fake.handle(
                self.command, where.path, body, self.headers.get("Authorization") or "",
                dict(parse_qsl(where.query)),
            )  # fmt: skip
            out = json.dumps(data).encode()
            with contextlib.suppress(ConnectionError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

        do_GET = _serve
        do_POST = _serve
        do_PUT = _serve

    return Handler
