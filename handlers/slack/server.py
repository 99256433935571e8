"""Runs the Slack side: HTTP mode (waitress serving /slack/events and /healthz) or Socket Mode."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import DutyBot
from bot.chat.port import ChatSetupError
from bot.kernel.config import Config, secret
from bot.kernel.roles import GroupLookup
from bot.ops.monitor import Monitor
from bot.ops.runner import Runner
from bot.ops.status import CachedProbe, Check, Probe
from handlers.slack.app import SlackBot
from handlers.slack.chat import SlackChat, is_transient, make_clients, slack_answer
from handlers.slack.people import SlackProfiles
from handlers.status_http import (
    MetricsFn,
    StatusApp,
    StatusFn,
    StatusUnavailable,
    run_until,
    serve_in_background,
    status_server,
)

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def _need(env: str, what: str) -> str:
    value = secret(env)
    if not value:
        raise ChatSetupError(f"{what} is missing. Set the {env} environment variable.")
    return value


def build(
    config: Config, bot: DutyBot, *, token_verification: bool = True, pace_seconds: float = 1.0
) -> tuple[SlackBot, Runner]:
    token = _need(config.slack.bot_token_env, "The Slack bot token")
    signing = secret(config.slack.signing_secret_env) or ""
    if config.slack.mode == "http" and not signing:
        _need(config.slack.signing_secret_env, "The Slack signing secret")
    safe, posting = make_clients(token, config.slack.api_url)
    chat = SlackChat(safe, posting, pace_seconds=pace_seconds)
    runner = Runner(bot, chat)
    if token_verification:
        check_token(config)
    slack = SlackBot(
        bot,
        chat,
        signing_secret=signing or "socket-mode-has-no-signing-secret",
        client=safe,
        token_verification=False,  # checked above; bolt checks again on the first request
        deliver=functools.partial(runner.deliver, wait=False),
    )
    return slack, runner


REFUSED_TOKEN = ("invalid_auth", "not_authed", "account_inactive", "token_revoked")


def check_token(config: Config) -> None:
    """Fail at start-up on a wrong token; carry on if Slack is only unreachable for now
    (tasks then wait as pending and are posted when Slack is back)."""
    found = slack_probe(config)()
    if found.refused:
        env = config.slack.bot_token_env
        raise ChatSetupError(f"{found.detail}. Check the {env} environment variable.")
    if not found.ok:
        log.warning("%s at start-up; carrying on, cards will wait", found.detail)


def group_lookup(config: Config) -> GroupLookup:
    """A Slack user group's members (usergroups.list; Roster caches the answer)."""
    client = WebClient(token=secret(config.slack.bot_token_env), base_url=config.slack.api_url,
                       timeout=5)  # fmt: skip

    def lookup(group_id: str) -> set[str]:
        return set(client.usergroups_users_list(usergroup=group_id).get("users", []))

    return lookup


def slack_probe(config: Config) -> Callable[[], Check]:
    """Is Slack there, and does it take our token? (auth.test with a short timeout: `dutybot
    status` waits for it; /healthz asks through bot.status.CachedProbe, in the background)."""
    token = secret(config.slack.bot_token_env)
    client = WebClient(token=token, base_url=config.slack.api_url, timeout=5)

    def probe() -> Check:
        if not token:
            return Check(False, f"the {config.slack.bot_token_env} environment variable is not set")
        try:
            client.auth_test()
        except SlackApiError as exc:
            error = slack_answer(exc)[1] or "an error"
            if error in REFUSED_TOKEN:
                return Check(False, f"Slack refused the bot token ({error})", refused=True)
            return Check(False, f"Slack answered {error}")
        except (SlackClientError, OSError) as exc:
            return Check(False, f"Slack can't be reached ({type(exc).__name__})")
        return Check(True, "auth.test answered ok")

    return probe


class WsgiApp:
    """/slack/events for bolt; /healthz and /metrics for load balancers and monitoring."""

    def __init__(self, slack: SlackBot, status: StatusFn, metrics: MetricsFn | None = None) -> None:
        self.handler = SlackRequestHandler(slack.app)
        self.status = StatusApp(status, metrics)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") == "/slack/events":
            return self.handler(environ, start_response)
        return self.status(environ, start_response)  # /healthz, /metrics, else 404


def http_server(
    slack: SlackBot, status: StatusFn, host: str, port: int, metrics: MetricsFn | None = None
) -> Any:
    """A waitress server (production-grade, threaded) for /slack/events; port 0 picks one."""
    from waitress import create_server

    return create_server(WsgiApp(slack, status, metrics), host=host, port=port, threads=8)


def serve_http(
    config: Config,
    slack: SlackBot,
    status: StatusFn,
    stop: threading.Event,
    metrics: MetricsFn | None = None,
) -> None:
    server = http_server(slack, status, config.slack.host, config.slack.port, metrics)
    log.info("serving /slack/events on %s:%s", config.slack.host, config.slack.port)
    run_until(server, stop)


class SocketLink:
    """The Socket Mode connection to Slack: opened by serve_socket_mode, watched by /healthz."""

    def __init__(self, config: Config, slack: SlackBot) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self.env = config.slack.app_token_env
        token = _need(self.env, "The Slack app-level token (xapp-...)")
        self.handler = SocketModeHandler(slack.app, token)

    def connected(self) -> bool:
        return bool(self.handler.client.is_connected())

    def open(self) -> bool:
        """True once connected; False if Slack is unreachable or failing for now."""
        try:
            self.handler.client.connect_to_new_endpoint(force=True)  # a fresh URL each try
        except SlackApiError as exc:
            status, error = slack_answer(exc)
            if is_transient(status, error):
                return False
            raise ChatSetupError(
                f"Slack refused the app-level token ({error}). Check the {self.env} environment "
                "variable holds the app's xapp- token with connections:write, and that Socket "
                "Mode is on in the app's settings."
            ) from None
        except (SlackClientError, OSError):
            return False
        return True

    def watch(self, probe: Probe) -> Probe:
        """``probe`` of Slack's Web API, failing too while the socket is down: without it
        nobody can use /duty or the buttons."""

        def check() -> Check:
            found = probe()
            if found.ok and not self.connected():
                return Check(False, "Slack answers, but the Socket Mode connection is down")
            return found

        return check


def serve_socket_mode(link: SocketLink, stop: threading.Event, retry_seconds: float = 5.0) -> None:
    """Hold the socket to Slack until ``stop``. While Slack can't be reached, keep trying
    (mail is still taken in and cards wait); stop at once if Slack refuses the token."""
    try:
        wait = retry_seconds
        while not link.open():
            log.warning("Slack can't be reached for Socket Mode; trying again in %.0f s", wait)
            if stop.wait(wait):
                return
            wait = min(wait * 2, 60.0)
        log.info("connected to Slack in Socket Mode")
        stop.wait()
    finally:
        link.handler.close()


class SlackService:
    """Slack, started: the bolt app with its runner, served over HTTP or Socket Mode."""

    def __init__(self, config: Config, bot: DutyBot) -> None:
        self.config = config
        self.slack, self.runner = build(config, bot, pace_seconds=config.slack.pace_seconds)
        self.link = SocketLink(config, self.slack) if config.slack.mode == "socket" else None
        probe = CachedProbe(slack_probe(config))
        self.monitor = Monitor.of(bot, self.link.watch(probe) if self.link else probe)
        self.status_http: Any = None
        if self.link is not None and config.status.enabled:  # HTTP mode serves them itself
            try:
                self.status_http = status_server(
                    self.monitor.healthz, self.monitor.metrics, config.status.host,
                    config.status.port,
                )  # fmt: skip
            except StatusUnavailable as exc:
                self.slack.close()
                raise ChatSetupError(str(exc)) from None

    def serve(self, stop: threading.Event) -> None:
        cfg, monitor = self.config, self.monitor
        if self.link is None:
            serve_http(cfg, self.slack, monitor.healthz, stop, monitor.metrics)
            return
        if self.status_http is not None:
            serve_in_background(self.status_http, stop)
            log.info("serving /healthz and /metrics on %s:%s", cfg.status.host, cfg.status.port)
        serve_socket_mode(self.link, stop)

    def close(self) -> None:
        self.slack.close()


class SlackAdapter:
    """`chat = "slack"`: Slack's user groups, its status probe, people's profiles, and the
    service."""

    def groups(self, config: Config) -> GroupLookup:
        return group_lookup(config)

    def probe(self, config: Config) -> Probe:
        return slack_probe(config)

    def profiles(self, config: Config) -> SlackProfiles:
        return SlackProfiles.of(config)

    def start(self, config: Config, bot: DutyBot) -> SlackService:
        return SlackService(config, bot)


ADAPTER = SlackAdapter()
