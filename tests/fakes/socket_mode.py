"""A local fake of Slack's Socket Mode WebSocket, for end-to-end tests of the default mode.

FakeSlack's ``apps.connections.open`` hands the bot this server's ``ws://`` URL (slack_sdk's
built-in client speaks plain WebSocket to any port but 443). On each connection it sends
Slack's ``hello``; a test then pushes envelopes the way Slack does and reads the bot's acks::

    with FakeSocketMode() as sm, FakeSlack(socket_mode_url=sm.url) as fake:
        ...start the bot in Socket Mode...
        envelope = sm.send("slash_commands", {...form fields...})
        ack = sm.ack(envelope)  # {"envelope_id": ..., "payload": {...}} as the bot sent it

``refresh()`` asks the bot to reconnect, as Slack routinely does; ``drop()`` cuts the live
connection without a word, as a network fault would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["FakeSocketMode"]


class FakeSocketMode:
    """Socket Mode on 127.0.0.1 with a random free port."""

    def __init__(self, app_id: str = "ADUTYBOT") -> None:
        self.app_id = app_id
        self.connections = 0  # how many times the bot has connected
        self._live: ServerConnection | None = None
        self._acks: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._server: Server | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSocketMode:
        self._server = serve(self._serve, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, name="fake-socket", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSocketMode is not started")
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=fake"

    # ------------------------------------------------------------------ what a test does

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> None:
        """Until the bot has connected ``count`` times and is connected now."""
        self._wait(lambda: self.connections >= count and self._live is not None, timeout)

    def send(self, kind: str, payload: dict[str, Any], *, response_payload: bool = True) -> str:
        """Push one envelope (``slash_commands``, ``interactive`` or ``events_api``) to the bot;
        returns its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._changed:
            live = self._live
        if live is None:
            raise AssertionError("the bot is not connected")
        live.send(json.dumps(message))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The bot's acknowledgement of an envelope, once it arrives."""
        self._wait(lambda: envelope_id in self._acks, timeout)
        return self._acks[envelope_id]

    def refresh(self) -> None:
        """Ask the bot to reconnect, as Slack does every few hours ("refresh_requested")."""
        with self._changed:
            live = self._live
        if live is not None:
            message = {"type": "disconnect", "reason": "refresh_requested"}
            live.send(json.dumps({**message, "debug_info": {"host": "fake"}}))

    def drop(self) -> None:
        """Cut the live connection with no closing handshake."""
        with self._changed:
            live, self._live = self._live, None
        if live is not None:
            with contextlib.suppress(OSError):
                live.socket.shutdown(socket.SHUT_RDWR)  # the bot sees the stream end now

    # ------------------------------------------------------------------ the server side

    def _serve(self, conn: ServerConnection) -> None:
        with self._changed:
            self.connections += 1
            number = self.connections
            self._live = conn
            self._changed.notify_all()
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "fake", "approximate_connection_time": 3600},
            "connection_info": {"app_id": self.app_id},
        }
        conn.send(json.dumps(hello))
        try:
            for raw in conn:
                self._received(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                if self._live is conn and self.connections == number:
                    self._live = None
                self._changed.notify_all()

    def _received(self, message: dict[str, Any]) -> None:
        if "envelope_id" in message:
            with self._changed:
                self._acks[str(message["envelope_id"])] = message
                self._changed.notify_all()

    def _wait(self, ready: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Socket Mode: waited {timeout:.0f} s")
                self._changed.wait(left)
