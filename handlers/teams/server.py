"""Runs the Teams side: Teams' messaging endpoint (/api/messages, the Agents SDK's aiohttp
hosting) beside /healthz and /metrics, on [teams_app] host and port.

Teams reaches a bot only over public HTTPS (there is no Socket Mode): the council's reverse
proxy or Azure App Service takes HTTPS and passes /api/messages here. Every request's token
is checked by the SDK against the configured app and tenant; anything else gets 401.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from aiohttp import web
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator

from bot.app import DutyBot
from bot.chat.port import ChatSetupError, ChatUnavailable
from bot.kernel.config import Config, secret
from bot.kernel.roles import GroupLookup
from bot.ops.monitor import Monitor
from bot.ops.runner import Runner
from bot.ops.status import CachedProbe, Check, Probe
from handlers.status_http import MetricsFn, StatusFn
from handlers.teams.app import TeamsBot, on_turn_error
from handlers.teams.chat import Loop, TeamsChat, auth_config, sign_in
from handlers.teams.people import TeamsProfiles, group_lookup

log = logging.getLogger(__name__)

MESSAGES = "/api/messages"


def client_secret(config: Config) -> str:
    env = config.teams_app.client_secret_env
    value = secret(env)
    if not value:
        raise ChatSetupError(
            f"The Teams bot's client secret is missing. Set the {env} environment variable."
        )
    return value


class TeamsEndpoint:
    """The SDK's adapter and our handler, behind /api/messages; with /healthz and /metrics."""

    def __init__(self, config: Config, bot: DutyBot, chat: TeamsChat, runner: Runner) -> None:
        self.auth = auth_config(config.teams_app, client_secret(config))
        connections = MsalConnectionManager(
            connections_configurations={"SERVICE_CONNECTION": self.auth}
        )
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = on_turn_error  # never "Exception caught" to a person
        self.handler = TeamsBot(bot, chat, deliver=functools.partial(runner.deliver, wait=False))

    def web_app(self, status: StatusFn, metrics: MetricsFn | None = None) -> web.Application:
        app = web.Application()
        app["agent_configuration"] = self.auth  # what the SDK validates tokens against

        @jwt_authorization_decorator
        async def messages(request: web.Request) -> web.Response:
            answer = await self.adapter.process(request, self.handler)
            return answer if answer is not None else web.Response(status=202)

        async def healthz(_: web.Request) -> web.Response:
            found = status()
            down = found.get("status") == "down"
            return web.json_response(found, status=503 if down else 200,
                                     headers={"Cache-Control": "no-store"})  # fmt: skip

        async def exposition(_: web.Request) -> web.Response:
            assert metrics is not None
            body, content_type = metrics()
            return web.Response(body=body, headers={"Content-Type": content_type})

        app.router.add_post(MESSAGES, messages)
        app.router.add_get("/healthz", healthz)
        if metrics is not None:
            app.router.add_get("/metrics", exposition)
        return app


class Site:
    """The aiohttp site on the chat's event loop; ``port`` is the one it got (0 picks)."""

    def __init__(self, loop: Loop, app: web.Application, host: str, port: int) -> None:
        self.loop = loop
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run(self.runner.setup(), 10)
        site = web.TCPSite(self.runner, host, port)
        try:
            self.loop.run(site.start(), 10)
        except OSError as exc:
            self.loop.run(self.runner.cleanup(), 10)
            raise ChatSetupError(
                f"Teams' endpoint can't listen on {host}:{port} ({exc.strerror}). Set a free "
                "port in [teams_app] port."
            ) from None
        self.port = int(self.runner.addresses[0][1])

    def close(self) -> None:
        self.loop.run(self.runner.cleanup(), 15)


def teams_probe(config: Config, chat: TeamsChat | None = None) -> Callable[[], Check]:
    """Does Microsoft take the bot's credentials (a token for the Bot Connector), and is any
    conversation refusing the bot?"""

    def probe() -> Check:
        env = config.teams_app.client_secret_env
        if not secret(env):
            return Check(False, f"the {env} environment variable is not set")
        own = chat or TeamsChat(config.teams_app, sign_in(config.teams_app, secret(env) or ""),
                                Loop())  # fmt: skip
        try:
            own.loop.run(own.token(), 15)
        except ChatUnavailable as exc:
            return Check(False, str(exc), refused="sign-in failed" in str(exc))
        finally:
            if chat is None:
                own.loop.close()
        problems = own.problems()
        if problems:
            return Check(False, "; ".join(problems))
        return Check(True, "Microsoft signed the bot in")

    return probe


class TeamsService:
    """Teams, started: the endpoint and its runner, served until stopped."""

    def __init__(self, config: Config, bot: DutyBot) -> None:
        self.config = config
        self.loop = Loop()
        app = config.teams_app
        self.chat = TeamsChat(app, sign_in(app, client_secret(config)), self.loop)
        self.runner = Runner(bot, self.chat)
        self.endpoint = TeamsEndpoint(config, bot, self.chat, self.runner)
        self.monitor = Monitor.of(bot, CachedProbe(teams_probe(config, self.chat)))
        self.site: Site | None = None

    def listen(self, host: str | None = None, port: int | None = None) -> int:
        """Start serving (in the chat's loop thread); the port it got."""
        app = self.endpoint.web_app(self.monitor.healthz, self.monitor.metrics)
        cfg = self.config.teams_app
        self.site = Site(self.loop, app, host or cfg.host, cfg.port if port is None else port)
        return self.site.port

    def serve(self, stop: threading.Event) -> None:
        if self.site is None:
            self.listen()
        cfg = self.config.teams_app
        log.info("serving %s, /healthz and /metrics on %s:%s", MESSAGES, cfg.host,
                 self.site.port if self.site else cfg.port)  # fmt: skip
        stop.wait()

    def close(self) -> None:
        self.endpoint.handler.close()
        if self.site is not None:
            self.site.close()
            self.site = None
        self.loop.close()


class TeamsAdapter:
    """`chat = "teams"`: Microsoft Teams through the Microsoft 365 Agents SDK."""

    def groups(self, config: Config) -> GroupLookup:
        return group_lookup(config)

    def probe(self, config: Config) -> Probe:
        return teams_probe(config)

    def profiles(self, config: Config) -> TeamsProfiles:
        return TeamsProfiles.of(config)

    def start(self, config: Config, bot: DutyBot) -> TeamsService:
        return TeamsService(config, bot)


ADAPTER = TeamsAdapter()

__all__ = ["ADAPTER", "TeamsService"]
