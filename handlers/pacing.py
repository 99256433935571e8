"""Pacing posts to one conversation, for the chats that limit it (Slack, Teams)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Pacer"]


class Pacer:
    """At most one message per ``interval`` seconds per channel (Slack's posting limit),
    cards and thread replies alike. The gap counts from when a post went through: a post
    that waited out a 429 must not let the next one go straight after it."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.clock, self.sleep = clock, sleep
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        with self._lock:
            now = self.clock()
            last = self._last.get(channel)
            delay = 0.0 if last is None else max(0.0, last + self.interval - now)
            self._last[channel] = now + delay
        if delay:
            self.sleep(delay)

    def posted(self, channel: str) -> None:
        with self._lock:
            self._last[channel] = max(self._last.get(channel, 0.0), self.clock())

    @contextmanager
    def paced(self, channel: str) -> Iterator[None]:
        self.wait(channel)
        try:
            yield
        finally:
            self.posted(channel)
