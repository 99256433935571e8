"""Prometheus metrics, served at /metrics.

Two kinds:
- what this process did, counted as it happens: tasks received, and how long each card took
  from the email arriving to the card being posted;
- what the database says, read at each scrape (a custom collector over bot.status), so the
  figures are right whichever process took the email in or sent the nudge, and survive
  restarts: tasks open / claimed / resolved, cards waiting, mailbox sync age, nudges sent.
  Every replica reports the same database figures: aggregate them with max(), not sum().
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage.status import TASK_STATES

if TYPE_CHECKING:  # bot.status reaches the scheduler; intake imports this module
    from bot.ops.status import Status

# This process's own counts: one registry for the process, shared by every bot in it.
PROCESS = CollectorRegistry(auto_describe=True)

TASKS_RECEIVED = Counter(
    "dutybot_tasks_received",
    "Emails taken in as new tasks by this process.",
    ["team"],
    registry=PROCESS,
)
POST_LATENCY = Histogram(
    "dutybot_card_post_latency_seconds",
    "From the email reaching the inbox to its task card being posted.",
    ["team"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=PROCESS,
)


def task_received(team: str) -> None:
    TASKS_RECEIVED.labels(team=team).inc()


def card_posted(team: str, received_at: datetime, now: datetime) -> None:
    POST_LATENCY.labels(team=team).observe(max(0.0, (now - received_at).total_seconds()))


class StatusCollector(Collector):
    """Database figures at scrape time, from the same snapshot /healthz shows."""

    def __init__(self, status: Callable[[], Status], is_leader: Callable[[], bool]) -> None:
        self.status = status
        self.is_leader = is_leader

    def collect(self) -> Iterator[Metric]:
        st = self.status()
        up = GaugeMetricFamily("dutybot_database_up", "1 if the database answers, else 0.")
        up.add_metric([], 1.0 if st.database.ok else 0.0)
        yield up
        leader = GaugeMetricFamily(
            "dutybot_scheduler_leader", "1 if this process runs the clocks (holds a team's lease)."
        )
        leader.add_metric([], 1.0 if self.is_leader() else 0.0)
        yield leader
        if st.slack is not None:
            slack = GaugeMetricFamily(
                "dutybot_slack_up", "1 if Slack answered auth.test (Socket Mode: and it is linked)."
            )
            slack.add_metric([], 1.0 if st.slack.ok else 0.0)
            yield slack
        if not st.database.ok:
            return  # nothing below can be known; the scrape itself still succeeds
        yield from _team_metrics(st)


def _team_metrics(st: Status) -> Iterator[Metric]:
    tasks = GaugeMetricFamily("dutybot_tasks", "Tasks by state.", labels=["team", "state"])
    waiting = GaugeMetricFamily(
        "dutybot_cards_pending", "Tasks whose card is not posted yet.", labels=["team"]
    )
    age = GaugeMetricFamily(
        "dutybot_mailbox_sync_age_seconds",
        "Seconds since the mailbox was last checked.",
        labels=["team"],
    )
    failing = GaugeMetricFamily(
        "dutybot_mailbox_sync_error", "1 if the last mailbox check failed.", labels=["team"]
    )
    nudges = CounterMetricFamily(
        "dutybot_nudges_sent", "Reminders sent, by kind.", labels=["team", "kind"]
    )
    for team in st.teams:
        for state in TASK_STATES:
            tasks.add_metric([team.name, state], team.facts.tasks.get(state, 0))
        waiting.add_metric([team.name], team.facts.pending_cards)
        if team.sync_age is not None:
            age.add_metric([team.name], team.sync_age.total_seconds())
        failing.add_metric([team.name], 1.0 if team.facts.last_error else 0.0)
        for kind, count in sorted(team.facts.nudges.items()):
            nudges.add_metric([team.name, kind], count)
    yield from (tasks, waiting, age, failing, nudges)


class _Process(Collector):
    """This process's counters, inside each bot's registry."""

    def collect(self) -> Iterator[Metric]:
        yield from PROCESS.collect()


def registry(status: Callable[[], Status], is_leader: Callable[[], bool]) -> CollectorRegistry:
    """What /metrics serves for one bot: its process counters, the database figures, and the
    usual process_* figures (memory, CPU, open files)."""
    reg = CollectorRegistry()
    reg.register(_Process())
    reg.register(StatusCollector(status, is_leader))
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    return reg


def exposition(reg: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type for a scrape."""
    return generate_latest(reg), CONTENT_TYPE_LATEST
