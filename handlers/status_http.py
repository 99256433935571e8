"""/healthz and /metrics over HTTP: beside /slack/events in HTTP mode, or on their own small
server (status.host, status.port) in Socket Mode, where nothing else listens. Served by
waitress, like the Slack endpoint."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
StatusFn = Callable[[], dict[str, Any]]  # the JSON; "status": "down" answers 503
MetricsFn = Callable[[], tuple[bytes, str]]  # the body and its content type


class StatusUnavailable(Exception):
    """The status server can't listen; the message says what to change."""


class StatusApp:
    """A WSGI app answering /healthz and /metrics; anything else is 404."""

    def __init__(self, status: StatusFn, metrics: MetricsFn | None = None) -> None:
        self.status = status
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return self.healthz(start_response)
        if path == "/metrics" and self.metrics is not None:
            body, content_type = self.metrics()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    def healthz(self, start_response: StartResponse) -> Iterable[bytes]:
        found = self.status()
        down = found.get("status") == "down"
        body = json.dumps(found).encode()
        start_response(
            "503 Service Unavailable" if down else "200 OK",
            [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
        )
        return [body]


def status_server(status: StatusFn, metrics: MetricsFn | None, host: str, port: int) -> Any:
    """A waitress server for StatusApp; port 0 picks a free one."""
    from waitress import create_server

    try:
        return create_server(StatusApp(status, metrics), host=host, port=port, threads=2)
    except OSError as exc:
        raise StatusUnavailable(
            f"The status endpoint can't listen on {host}:{port} ({exc.strerror}). Set a free "
            "port in [status] port, or enabled = false."
        ) from None


def stop_server(server: Any) -> None:
    """Let requests in hand finish, then close every connection so ``run()`` returns."""
    from waitress import wasyncore

    server.task_dispatcher.shutdown(timeout=5)
    wasyncore.close_all(getattr(server, "_map", None) or server.map, ignore_all=True)


def run_until(server: Any, stop: threading.Event) -> None:
    """Serve in this thread until ``stop`` is set."""
    threading.Thread(target=lambda: (stop.wait(), stop_server(server)), daemon=True).start()
    try:
        server.run()
    except OSError:  # closed by stop
        if not stop.is_set():
            raise


def serve_in_background(server: Any, stop: threading.Event) -> threading.Thread:
    """Run ``server`` on its own thread until ``stop`` is set."""
    thread = threading.Thread(target=run_until, args=(server, stop), name="status-http")
    thread.daemon = True
    thread.start()
    return thread
