"""Runs the Teams side: Teams' messaging endpoint (/api/messages) beside /healthz and /metrics."""

from __future__ import annotations

from typing import Any

from bot.chat.port import ChatSetupError
from bot.kernel.config import Config
from bot.kernel.roles import GroupLookup
from bot.ops.status import Probe
from bot.people.directory import Profiles


class TeamsAdapter:
    """`chat = "teams"`: Microsoft Teams through the Microsoft 365 Agents SDK."""

    def groups(self, config: Config) -> GroupLookup | None:
        return None

    def probe(self, config: Config) -> Probe | None:
        return None

    def profiles(self, config: Config) -> Profiles | None:
        return None

    def start(self, config: Config, bot: Any) -> Any:
        raise ChatSetupError('Teams is not ready in this build yet; use chat = "slack".')


ADAPTER = TeamsAdapter()
