"""A local fake of the Slack Web API, served over real HTTP for end-to-end tests.

Point the real client at it::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0]["text"] == "hi"

It answers what slack_sdk sends (JSON bodies for chat.*/views.*, form bodies for the rest,
``Authorization: Bearer xoxb-...``) with the minimal response shapes real Slack returns, and can
inject faults (429 with Retry-After, 5xx, hangs, connection resets, per-channel rate limits).
A faulted call never applies its side effect, except the kinds ``"500-after-post"`` and
``"hang-after-post"`` (Slack did the work but the answer never arrived).

Response URLs (slash commands, interactivity) can also be served: ``fake.response_url()`` hands
out a URL on this server; posts to it are recorded as calls with method ``"response_url"``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import math
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl

__all__ = ["FAULT_KINDS", "Call", "FakeSlack"]

FAULT_KINDS = ("429", "500", "503", "hang", "reset", "500-after-post", "hang-after-post")
RESPONSE_URL_METHOD = "response_url"

# Slack's documented limits that the bot could plausibly hit.
MAX_TEXT_CHARS = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_PRIVATE_METADATA_CHARS = 3000

T = TypeVar("T")
Params = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One HTTP request the fake received (faulted ones included)."""

    method: str
    params: Params
    headers: dict[str, str]  # lower-cased names: urllib sends e.g. "Content-type"
    at: float  # time.time() when received
    fault: str | None = None  # the fault injected instead of a normal answer, if any
    path: str = ""

    def json(self, name: str) -> Any:
        """A param that may arrive JSON-encoded (form bodies) or already decoded (JSON bodies)."""
        return _maybe_json(self.params.get(name))


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Fault:
    kind: str
    method: str | None


@dataclass
class _Outcome:
    """What to send back for one API request, decided under the lock and sent outside it."""

    fault: str | None
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: int = 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for hanging handlers
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.to_reset: set[socket.socket] = set()

    def shutdown_request(self, request: Any) -> None:
        if request in self.to_reset:
            # SO_LINGER 0 and no FIN first: close() sends RST ("connection reset by peer").
            self.to_reset.discard(request)
            with contextlib.suppress(OSError):
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_request(request)
            return
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or go away mid-answer are expected; anything else is a fake bug.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FakeSlack:
    """In-process Slack Web API on 127.0.0.1 with a random free port."""

    def __init__(
        self,
        *,
        seed: int = 0,
        team_id: str = "T0DUTY",
        team: str = "Duty Team",
        team_domain: str = "dutyteam",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "dutybot",
        app_id: str = "ADUTYBOT",
        retry_after: int = 1,
        hang_seconds: float = 3.0,
        socket_mode_url: str | None = None,
    ) -> None:
        self.team_id = team_id
        self.team = team
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        # What apps.connections.open hands out (a FakeSocketMode's url); None: no Socket Mode.
        self.socket_mode_url = socket_mode_url

        # Configuration a test may change at any time.
        self.usergroups: dict[str, list[str]] = {}
        # user id -> real name, or a dict of fields ("real_name", "name", "display_name",
        # "email", "tz", "deleted", "is_bot", ...).
        self.users: dict[str, str | dict[str, Any]] = {}
        self.retry_after = retry_after  # seconds in Retry-After for injected 429s
        self.hang_seconds = hang_seconds  # how long "hang" holds the request before closing
        self.random = random.Random(seed)
        self.failure_rate = 0.0
        self.failure_kinds: list[str] = ["429", "500", "503", "reset"]
        self.failure_methods: set[str] | None = None  # None: random faults hit every method
        self.rate_limit_per_channel: float | None = None  # chat.postMessage per second
        self.rate_limit_burst = 1.0
        # Slack's refusals: channels the bot isn't in (posting there: not_in_channel) and
        # users it can't DM, such as deactivated accounts (conversations.open: user_disabled).
        self.not_in_channels: set[str] = set()
        self.undmable_users: set[str] = set()
        self.refused_tokens: set[str] = set()  # answered invalid_auth, as a revoked token is

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[Params], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
        }
        self._ids = itertools.count(1)
        self._clear_state()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-slack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes "hang" handlers so nothing outlives the fake for long
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2.0)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The base_url for slack_sdk's WebClient."""
        return f"{self.root_url}api/"

    # ------------------------------------------------------------------ recorded calls

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Poll predicate() (woken on every request) until truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with self._changed:
                self._changed.wait(min(0.05, remaining))

    def reset(self) -> None:
        """Forget calls, messages, views and pending faults; keep configuration."""
        with self._lock:
            self._clear_state()

    def _clear_state(self) -> None:
        with self._lock:
            self._calls: list[Call] = []
            self._history: dict[str, list[dict[str, Any]]] = {}
            self._threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
            self._by_ts: dict[tuple[str, str], dict[str, Any]] = {}
            self._ephemerals: list[dict[str, Any]] = []
            self._views: dict[str, dict[str, Any]] = {}
            self._opened: list[dict[str, Any]] = []
            self._published: dict[str, list[dict[str, Any]]] = {}
            self._open_dms: set[str] = set()
            self._faults: list[_Fault] = []
            self._buckets: dict[str, _Bucket] = {}
            self._last_ts_us = 0
            self._hooks: set[str] = set()

    # ------------------------------------------------------------------ stored state

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages in a channel, oldest first, with metadata."""
        with self._lock:
            return copy.deepcopy(self._history.get(self.resolve_channel(channel), []))

    def all_messages(self) -> list[dict[str, Any]]:
        """Every message as it stands now (edits applied): top level and in threads, in every
        channel and DM."""
        with self._lock:
            found = [m for msgs in self._history.values() for m in msgs]
            found += [m for msgs in self._threads.values() for m in msgs]
            return copy.deepcopy(found)

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Thread replies under the message ts (not the parent itself), oldest first."""
        with self._lock:
            return copy.deepcopy(self._threads.get((self.resolve_channel(channel), ts), []))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._by_ts.get((self.resolve_channel(channel), ts))
            return copy.deepcopy(found)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict]:
        with self._lock:
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (channel is None or e["channel"] == channel)
                and (user is None or e["user"] == user)
            ]

    def views_opened(self) -> list[dict[str, Any]]:
        """Modals opened or pushed, in order, each as {"trigger_id": ..., "view": ...}."""
        with self._lock:
            return copy.deepcopy(self._opened)

    def views_published(self, user: str) -> list[dict[str, Any]]:
        """Home tabs published for a user, in order (the last one is what they see)."""
        with self._lock:
            return copy.deepcopy(self._published.get(user, []))

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._views.get(view_id))

    def dm_channel(self, user_id: str) -> str:
        return f"D{user_id}"

    def resolve_channel(self, channel: str) -> str:
        # Posting to a user id lands in the app's DM with them, as on real Slack.
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    def response_url(self) -> str:
        """A response_url served by this fake (for slash command / interaction payloads)."""
        with self._lock:
            hook = f"T{next(self._ids)}/{next(self._ids)}/hook"
            self._hooks.add(hook)
        return f"{self.root_url}hooks/{hook}"

    # ------------------------------------------------------------------ fault injection

    def fail_next(self, n: int = 1, kind: str = "500", *, method: str | None = None) -> None:
        """Make the next n API calls (to method, if given) fail with kind."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._faults.extend(_Fault(kind, method) for _ in range(n))

    def _take_fault(self, method: str) -> str | None:
        for i, fault in enumerate(self._faults):
            if fault.method is None or fault.method == method:
                del self._faults[i]
                return fault.kind
        targeted = self.failure_methods is None or method in self.failure_methods
        if targeted and self.failure_rate > 0 and self.random.random() < self.failure_rate:
            return self.random.choice(self.failure_kinds)
        return None

    def _rate_limited(self, channel: str, now: float) -> int | None:
        """Token bucket per channel; returns Retry-After seconds when over the limit."""
        rate = self.rate_limit_per_channel
        if not rate:
            return None
        burst = max(1.0, self.rate_limit_burst)
        bucket = self._buckets.setdefault(channel, _Bucket(tokens=burst, updated=now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, req: _Handler) -> None:
        path, _, query = req.path.partition("?")
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in req.headers.items()}
        params = _parse_params(query, raw, headers.get("content-type", ""))
        if path.startswith("/api/"):
            self._serve_api(req, path.removeprefix("/api/"), params, headers, path)
        elif path.startswith("/hooks/"):
            self._serve_hook(req, path.removeprefix("/hooks/"), params, headers, path)
        else:
            _send(req, 404, b"not found", "text/plain")

    def _serve_api(
        self, req: _Handler, method: str, params: Params, headers: dict[str, str], path: str
    ) -> None:
        outcome = self._decide(method, params, headers, path)
        kind = outcome.fault
        if kind is None:
            _send_json(req, 200, outcome.body)
        elif kind in ("429", "ratelimited"):
            _send_json(
                req,
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(outcome.retry_after)},
            )
        elif kind in ("500", "500-after-post"):
            _send_json(req, 500, {"ok": False, "error": "internal_error"})
        elif kind == "503":
            _send_json(req, 503, {"ok": False, "error": "service_unavailable"})
        elif kind in ("hang", "hang-after-post"):
            self._stopping.wait(self.hang_seconds)
            req.close_connection = True  # close without a word
        elif kind == "reset":
            _reset_connection(req)

    def _decide(self, method: str, params: Params, headers: dict[str, str], path: str) -> _Outcome:
        now = time.time()
        with self._changed:
            fault = self._take_fault(method)
            retry_after = max(0, int(self.retry_after))
            # Socket Mode's one call takes the app-level token; every other, the bot token.
            wanted = "xapp-" if method == "apps.connections.open" else "xoxb-"
            token = _token(params, headers)
            authorised = token.startswith(wanted) and token not in self.refused_tokens
            if (
                fault is None
                and method == "chat.postMessage"
                and authorised
                and params.get("channel")
            ):
                wait = self._rate_limited(self.resolve_channel(str(params["channel"])), now)
                if wait is not None:
                    fault, retry_after = "ratelimited", wait
            self._calls.append(Call(method, params, headers, now, fault, path))
            body: dict[str, Any] = {}
            if fault in (None, "500-after-post", "hang-after-post"):
                body = self._dispatch(method, params, authorised)
            self._changed.notify_all()
        return _Outcome(fault=fault, body=body, retry_after=retry_after)

    def _dispatch(self, method: str, params: Params, authorised: bool) -> dict[str, Any]:
        handler = self._methods.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if not authorised:
            return {"ok": False, "error": "invalid_auth"}
        try:
            return {"ok": True, **handler(params)}
        except _ApiError as err:
            return {"ok": False, "error": err.error, **err.extra}
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            # Malformed arguments; real Slack says invalid_arguments. Detail helps debug tests.
            return {"ok": False, "error": "invalid_arguments", "fake_detail": repr(err)}

    def _serve_hook(
        self, req: _Handler, hook: str, params: Params, headers: dict[str, str], path: str
    ) -> None:
        with self._changed:
            known = hook in self._hooks
            self._calls.append(Call(RESPONSE_URL_METHOD, params, headers, time.time(), None, path))
            self._changed.notify_all()
        if known:
            _send(req, 200, b"ok", "text/plain")
        else:
            _send(req, 404, b"no_service", "text/plain")

    # ------------------------------------------------------------------ API methods
    # Each runs under the lock and returns the body without "ok" or raises _ApiError.

    def _auth_test(self, params: Params) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: Params) -> dict[str, Any]:
        if self.socket_mode_url is None:
            raise _ApiError("not_allowed_token_type")  # Slack's answer when it is switched off
        return {"url": self.socket_mode_url}

    def _next_ts(self) -> str:
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _content(self, params: Params, *, require: bool) -> dict[str, Any]:
        """text/blocks/attachments/metadata from params, validated like Slack does."""
        content: dict[str, Any] = {}
        if "text" in params:
            content["text"] = str(params["text"])
        for name in ("blocks", "attachments"):
            value = _maybe_json(params.get(name))
            if value is not None:
                if not isinstance(value, list):
                    raise _ApiError(f"invalid_{name}")
                content[name] = value
        if require and not (
            content.get("text") or content.get("blocks") or content.get("attachments")
        ):
            raise _ApiError("no_text")
        if len(content.get("text", "")) > MAX_TEXT_CHARS:
            raise _ApiError("msg_too_long")
        if len(content.get("blocks", [])) > MAX_MESSAGE_BLOCKS:
            raise _ApiError("invalid_blocks")
        metadata = _maybe_json(params.get("metadata"))
        if metadata is not None:
            if not (
                isinstance(metadata, dict)
                and isinstance(metadata.get("event_type"), str)
                and isinstance(metadata.get("event_payload"), dict)
            ):
                raise _ApiError("invalid_metadata_format")
            content["metadata"] = {
                "event_type": metadata["event_type"],
                "event_payload": metadata["event_payload"],
            }
        return content

    def _channel(self, params: Params) -> str:
        channel = params.get("channel")
        if not channel or not isinstance(channel, str):
            raise _ApiError("channel_not_found")
        return self.resolve_channel(channel)

    def _chat_post_message(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        if channel in self.not_in_channels:
            raise _ApiError("not_in_channel")
        content = self._content(params, require=True)
        parent_ts = self._thread_parent(channel, params.get("thread_ts"))
        ts = self._next_ts()
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": "",
            "ts": ts,
            **content,
        }
        if parent_ts is None:
            self._history.setdefault(channel, []).append(msg)
        else:
            self._add_reply(channel, parent_ts, msg, broadcast=_flag(params.get("reply_broadcast")))
        self._by_ts[(channel, ts)] = msg
        return {"channel": channel, "ts": ts, "message": copy.deepcopy(msg)}

    def _thread_parent(self, channel: str, thread_ts: Any) -> str | None:
        if thread_ts in (None, ""):
            return None
        if not isinstance(thread_ts, str) or _ts_key(thread_ts) is None:
            raise _ApiError("invalid_thread_ts")
        parent = self._by_ts.get((channel, thread_ts))
        if parent is None:
            raise _ApiError("thread_not_found")
        # Replying to a reply threads under the original parent, as Slack does.
        return str(parent.get("thread_ts", thread_ts))

    def _add_reply(
        self, channel: str, parent_ts: str, msg: dict[str, Any], broadcast: bool
    ) -> None:
        msg["thread_ts"] = parent_ts
        parent = self._by_ts[(channel, parent_ts)]
        msg["parent_user_id"] = parent.get("user")
        thread = self._threads.setdefault((channel, parent_ts), [])
        thread.append(msg)
        users = sorted({str(r.get("user")) for r in thread})
        parent.update(
            thread_ts=parent_ts,
            reply_count=len(thread),
            reply_users=users,
            reply_users_count=len(users),
            latest_reply=msg["ts"],
        )
        if broadcast:
            self._history.setdefault(channel, []).append(
                {**copy.deepcopy(msg), "subtype": "thread_broadcast"}
            )

    def _find(self, channel: str, ts: Any) -> dict[str, Any]:
        msg = self._by_ts.get((channel, ts)) if isinstance(ts, str) else None
        if msg is None:
            raise _ApiError("message_not_found")
        return msg

    def _chat_update(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        msg = self._find(channel, params.get("ts"))
        content = self._content(params, require=False)
        msg.update(content)  # omitted fields keep their old value, as on Slack
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": msg["ts"],
            "text": msg.get("text", ""),
            "message": copy.deepcopy(msg),
        }

    def _chat_delete(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        msg = self._find(channel, params.get("ts"))
        ts = msg["ts"]
        del self._by_ts[(channel, ts)]
        self._history[channel] = [m for m in self._history.get(channel, []) if m["ts"] != ts]
        parent_ts = msg.get("thread_ts")
        if parent_ts and parent_ts != ts:
            key = (channel, parent_ts)
            self._threads[key] = [m for m in self._threads.get(key, []) if m["ts"] != ts]
        return {"channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        user = params.get("user")
        if not user:
            raise _ApiError("user_not_in_channel")
        content = self._content(params, require=True)
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "ts": ts,
                "thread_ts": params.get("thread_ts"),
                "text": "",
                **content,
            }
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        msg = self._find(channel, params.get("message_ts"))
        link = (
            f"https://{self.team_domain}.slack.com/archives/{channel}/p{msg['ts'].replace('.', '')}"
        )
        parent = msg.get("thread_ts")
        if parent and parent != msg["ts"]:
            link += f"?thread_ts={parent}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_open(self, params: Params) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": params["channel"]}}
        users = params.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        if set(users) & self.undmable_users:
            raise _ApiError("user_disabled")
        channel = self.dm_channel(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
        already = channel in self._open_dms
        self._open_dms.add(channel)
        return {"no_op": already, "already_open": already, "channel": {"id": channel}}

    def _conversations_history(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        newest_first = list(reversed(self._history.get(channel, [])))
        page, next_cursor = _window(newest_first, params, newest_first=True)
        return {
            "messages": _present(page, _flag(params.get("include_all_metadata"))),
            "has_more": next_cursor is not None,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            **_cursor_metadata(next_cursor),
        }

    def _conversations_replies(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params)
        msg = self._by_ts.get((channel, params.get("ts"))) if params.get("ts") else None
        if msg is None:
            raise _ApiError("thread_not_found")
        parent_ts = str(msg.get("thread_ts", msg["ts"]))
        thread = [self._by_ts[(channel, parent_ts)], *self._threads.get((channel, parent_ts), [])]
        page, next_cursor = _window(thread, params, newest_first=False)
        return {
            "messages": _present(page, _flag(params.get("include_all_metadata"))),
            "has_more": next_cursor is not None,
            **_cursor_metadata(next_cursor),
        }

    def _new_view(self, raw: Any, *, view_id: str | None = None) -> dict[str, Any]:
        view = _maybe_json(raw)
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise _ApiError("invalid_arguments")
        if len(view.get("blocks", [])) > MAX_VIEW_BLOCKS:
            raise _ApiError("invalid_arguments")
        if len(view.get("private_metadata", "")) > MAX_PRIVATE_METADATA_CHARS:
            raise _ApiError("invalid_arguments")
        view_id = view_id or f"V{next(self._ids):010d}"
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{next(self._ids)}",
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = stored
        return stored

    def _views_open(self, params: Params) -> dict[str, Any]:
        trigger = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger:
            raise _ApiError("invalid_arguments")
        view = self._new_view(params.get("view"))
        self._opened.append({"trigger_id": trigger, "view": copy.deepcopy(view)})
        return {"view": copy.deepcopy(view)}

    def _views_publish(self, params: Params) -> dict[str, Any]:
        user = params.get("user_id")
        if not user:
            raise _ApiError("invalid_arguments")
        history = self._published.setdefault(user, [])
        if params.get("hash") and history and history[-1]["hash"] != params["hash"]:
            raise _ApiError("hash_conflict")
        old_id = history[-1]["id"] if history else None
        view = self._new_view(params.get("view"), view_id=old_id)
        history.append(copy.deepcopy(view))
        return {"view": copy.deepcopy(view)}

    def _views_update(self, params: Params) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next(
                (
                    v["id"]
                    for v in self._views.values()
                    if v["external_id"] == params["external_id"]
                ),
                None,
            )
        current = self._views.get(view_id) if view_id else None
        if current is None:
            raise _ApiError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        view = self._new_view(params.get("view"), view_id=current["id"])
        view["root_view_id"] = current["root_view_id"]
        return {"view": copy.deepcopy(view)}

    def _usergroups_users_list(self, params: Params) -> dict[str, Any]:
        group = params.get("usergroup")
        if group not in self.usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _users_info(self, params: Params) -> dict[str, Any]:
        user = params.get("user")
        if user == self.bot_user_id:
            return {"user": self._user_object(user, {"real_name": self.bot_name, "is_bot": True})}
        if not user or user not in self.users:
            raise _ApiError("user_not_found")
        spec = self.users[user]
        return {
            "user": self._user_object(user, {"real_name": spec} if isinstance(spec, str) else spec)
        }

    def _user_object(self, user_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        real = str(spec.get("real_name", user_id))
        display = str(spec.get("display_name", real))
        profile: dict[str, Any] = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": display,
            "display_name_normalized": display,
        }
        if spec.get("email"):
            profile["email"] = spec["email"]
        profile.update(_status_profile(spec))
        known = {"real_name", "display_name", "email", "name", *STATUS_KEYS}
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": str(spec.get("name", real.lower().replace(" ", "."))),
            "deleted": False,
            "real_name": real,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "is_bot": False,
            "is_admin": False,
            "profile": profile,
            **{k: v for k, v in spec.items() if k not in known},
        }

    def _users_lookup_by_email(self, params: Params) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        for user_id, spec in self.users.items():
            if isinstance(spec, dict) and str(spec.get("email", "")).lower() == email and email:
                return {"user": self._user_object(user_id, spec)}
        raise _ApiError("users_not_found")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack  # bound per server in FakeSlack.start()
    timeout = 10  # socket timeout, so a silent client cannot pin a thread forever

    def do_POST(self) -> None:
        self.fake._serve(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines would carry message text into test output


# ---------------------------------------------------------------------- helpers


# A user's custom status, kept in their profile as Slack keeps it (users.info, users.profile).
STATUS_KEYS = ("status_text", "status_emoji", "status_expiration")


def _status_profile(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "status_text": str(spec.get("status_text", "")),
        "status_emoji": str(spec.get("status_emoji", "")),
        "status_expiration": int(spec.get("status_expiration", 0)),  # 0: it doesn't end
    }


def _send(
    req: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    ctype: str,
    extra: dict[str, str] | None = None,
) -> None:
    with contextlib.suppress(ConnectionError, TimeoutError):
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(body)


def _send_json(
    req: BaseHTTPRequestHandler,
    status: int,
    body: dict[str, Any],
    extra: dict[str, str] | None = None,
) -> None:
    _send(req, status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)


def _reset_connection(req: BaseHTTPRequestHandler) -> None:
    # The server resets the socket once the handler is done with it (see _Server).
    req.close_connection = True
    if isinstance(req.server, _Server):
        req.server.to_reset.add(req.request)


def _parse_params(query: str, raw: bytes, content_type: str) -> Params:
    params: Params = dict(parse_qsl(query, keep_blank_values=True))
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = json.loads(text) if text else {}
            if isinstance(body, dict):
                params.update(body)
    elif text:
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _token(params: Params, headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ").strip()
    return str(params.get("token", ""))


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _flag(value: Any) -> bool:
    return value is True or value == 1 or str(value).lower() in ("1", "true")


def _ts_key(ts: Any) -> tuple[int, int] | None:
    """Order Slack timestamps exactly ("1700000000.000123"); floats lose the last digits."""
    whole, _, frac = str(ts).partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 6:
        return None
    return int(whole), int(frac.ljust(6, "0") or 0)


def _window(
    messages: list[dict[str, Any]], params: Params, *, newest_first: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """Apply oldest/latest/inclusive/cursor/limit; return the page and the next cursor."""
    inclusive = _flag(params.get("inclusive"))
    oldest = _ts_key(params.get("oldest") or "0") or (0, 0)
    latest = _ts_key(params["latest"]) if params.get("latest") else None
    cursor_ts = _decode_cursor(params.get("cursor"))

    def keep(msg: dict[str, Any]) -> bool:
        key = _ts_key(msg["ts"]) or (0, 0)
        if key < oldest or (key == oldest and not inclusive):
            return False
        if latest is not None and (key > latest or (key == latest and not inclusive)):
            return False
        if cursor_ts is not None:
            return key <= cursor_ts if newest_first else key >= cursor_ts
        return True

    matching = [m for m in messages if keep(m)]
    limit = int(params.get("limit") or 100)
    limit = min(max(limit, 1), 999)
    page = matching[:limit]
    next_cursor = _encode_cursor(matching[limit]["ts"]) if len(matching) > limit else None
    return page, next_cursor


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: Any) -> tuple[int, int] | None:
    if not cursor:
        return None
    try:
        text = base64.b64decode(str(cursor)).decode()
    except ValueError as err:
        raise _ApiError("invalid_cursor") from err
    key = _ts_key(text.removeprefix("next_ts:"))
    if not text.startswith("next_ts:") or key is None:
        raise _ApiError("invalid_cursor")
    return key


def _cursor_metadata(next_cursor: str | None) -> dict[str, Any]:
    return {"response_metadata": {"next_cursor": next_cursor}} if next_cursor else {}


def _present(messages: list[dict[str, Any]], include_metadata: bool) -> list[dict[str, Any]]:
    out = copy.deepcopy(messages)
    if not include_metadata:
        # Real Slack leaves metadata out of history unless include_all_metadata is set.
        for msg in out:
            msg.pop("metadata", None)
    return out
