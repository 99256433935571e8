"""What `dutybot run` serves for monitoring: /healthz (bot.status) and /metrics (bot.metrics),
both built from one status snapshot of the database, plus a cached Slack check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from bot.app import DutyBot
from bot.kernel.clock import Clock
from bot.kernel.config import Config
from bot.ops import metrics
from bot.ops.status import Probe, Status, build_status
from storage.db import Database


def _never() -> bool:
    return False


@dataclass
class Monitor:
    config: Config
    db: Database
    clock: Clock
    slack: Probe | None = None  # None: the chat isn't Slack
    is_leader: Callable[[], bool] = _never  # does this process run the clocks?
    registry: CollectorRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.registry = metrics.registry(self.status, self.is_leader)
        if self.slack is not None:
            self.slack()  # a CachedProbe starts its first check now, so /healthz soon knows

    @classmethod
    def of(cls, bot: DutyBot, slack: Probe | None = None) -> Monitor:
        assert bot.db is not None

        def leads() -> bool:
            return bot.scheduler is not None and bot.scheduler.leads()

        return cls(bot.config, bot.db, bot.clock, slack, leads)

    def status(self) -> Status:
        return build_status(self.config, self.db, self.clock.now(), self.slack)

    def healthz(self) -> dict[str, Any]:
        return self.status().to_json()

    def metrics(self) -> tuple[bytes, str]:
        return metrics.exposition(self.registry)
