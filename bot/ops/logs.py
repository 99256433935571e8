"""Logging for `dutybot run`: plain lines, or one JSON object per line (`log.json_lines`).

A JSON line carries time (UTC, ISO 8601), level, logger, message and, where the work is
for one team (its mailbox watcher, card delivery, scheduled jobs), team. Nothing else from
the record goes out: a library's `extra` fields could hold anything. The privacy filters
(bot/logsafe.py, storage/db.py) sit on the loggers, so they apply in both formats.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from bot.kernel.config import LogConfig

_TEAM: contextvars.ContextVar[str | None] = contextvars.ContextVar("dutybot_team", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("time", "level", "logger", "message", "team", "exc_info", "stack_info")


@contextmanager
def team_context(team: str | None) -> Iterator[None]:
    """Log records made inside carry this team."""
    token = _TEAM.set(team)
    try:
        yield
    finally:
        _TEAM.reset(token)


def for_team(team: str, work: Callable[[], None]) -> Callable[[], None]:
    """``work`` run with the team set (a new thread starts with no context of its own)."""

    def run() -> None:
        with team_context(team):
            work()

    return run


class TeamFilter(logging.Filter):
    """Puts the current team (if any) on each record, as ``record.team``."""

    def filter(self, record: logging.LogRecord) -> bool:
        team = _TEAM.get()
        if team is not None and not hasattr(record, "team"):
            record.team = team
        return True


class DutyJsonFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        team = getattr(record, "team", None)
        if team is not None:
            log_data["team"] = team
        # Only the fields we name, in that order; see the module docstring.
        kept = {key: log_data[key] for key in JSON_FIELDS if key in log_data}
        log_data.clear()
        log_data.update(kept)


class _Ours(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler setup_logging installed, so a second call replaces only it."""


def handler(cfg: LogConfig, stream: TextIO | None = None) -> logging.Handler:
    """A stderr handler in the configured format."""
    out = _Ours(stream or sys.stderr)
    out.setFormatter(DutyJsonFormatter() if cfg.json_lines else logging.Formatter(TEXT_FORMAT))
    out.addFilter(TeamFilter())
    return out


def setup_logging(cfg: LogConfig, stream: TextIO | None = None) -> None:
    """The root logger at the configured level, writing to stderr. Python's warnings go
    through it too, so with JSON lines every line on stderr is JSON."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Ours)]:
        root.removeHandler(old)
    root.addHandler(handler(cfg, stream))
    root.setLevel(cfg.level)
    logging.captureWarnings(True)
