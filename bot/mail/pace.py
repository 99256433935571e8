"""How long to wait before looking at a mailbox again, for a mailbox that cannot tell the
bot of new mail (Microsoft Graph, which has no streaming the bot can use).

Every ``fastest`` seconds just after mail came in, waiting longer after each empty look up
to ``slowest`` (the config's ``poll_seconds``) while the inbox is quiet. When Graph throttles
(429, or 503 and the like) the next look waits as long as its Retry-After says, or, when it
says nothing, a back-off that doubles with each throttle in a row; a look Graph answers
without throttling brings the pace back. Graph allows an app 10,000 requests per 10 minutes
per mailbox: a quiet inbox costs one request a look, so 150 to 300 per 10 minutes here.

Time is read from ``clock`` (monotonic seconds), so tests move it by hand; the wall clock
is no use here, since the shell can move it by hours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FASTEST = 2.0  # seconds between looks just after mail came in
SLOWEST = 4.0  # the default ceiling while the inbox is quiet (poll_seconds)
GROWTH = 1.5  # each empty look waits this many times longer than the last, up to the ceiling
LONGEST_HOLD = 300.0  # the most a back-off without Retry-After grows to
# The most a Retry-After holds the inbox back: Graph counts requests over 10 minutes, so a
# longer one is a fault somewhere (a proxy, a clock), and a duty inbox must not go unread.
LONGEST_RETRY_AFTER = 600.0


@dataclass
class PollPace:
    """The wait before the next look at one mailbox. Safe to share between threads: any
    call to the mailbox (a move, a send) may be the one Graph throttles."""

    slowest: float = SLOWEST
    fastest: float = FASTEST
    growth: float = GROWTH
    longest_hold: float = LONGEST_HOLD
    longest_retry_after: float = LONGEST_RETRY_AFTER
    clock: Callable[[], float] = time.monotonic
    _interval: float = field(init=False)
    _hold_until: float = field(init=False, default=float("-inf"))
    _strikes: int = field(init=False, default=0)  # throttles since the last clean look
    _struck: bool = field(init=False, default=False)  # throttled during the look under way
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.fastest = min(self.fastest, self.slowest)  # poll_seconds below 2 s: never slower
        self._interval = self.fastest

    def found_mail(self) -> None:
        """A look brought mail: more may follow soon (a thread of replies, a forward)."""
        with self._lock:
            self._looked(self.fastest)

    def found_nothing(self) -> None:
        """A look brought nothing (or failed): wait a little longer next time."""
        with self._lock:
            self._looked(min(self._interval * self.growth, self.slowest))

    def throttled(self, retry_after: float | None) -> None:
        """Graph said slow down (429) or is overloaded (503), ``retry_after`` seconds from
        now if it said; no look before then, and none faster than the ceiling after it."""
        with self._lock:
            self._strikes += 1
            self._struck = True
            if retry_after is None:
                hold = min(self.slowest * 2**self._strikes, self.longest_hold)
            else:
                hold = min(max(retry_after, 0.0), self.longest_retry_after)
            self._hold_until = max(self._hold_until, self.clock() + hold)
            self._interval = max(self._interval, self.slowest)

    def next_wait(self) -> float:
        """Seconds from now until the next look."""
        with self._lock:
            return max(self._interval, self._hold_until - self.clock(), 0.0)

    def _looked(self, interval: float) -> None:
        if self._struck:  # Graph throttled during this look: not faster than the ceiling yet
            self._struck = False
            interval = max(interval, self.slowest)
        else:
            self._strikes = 0  # a clean look: the next throttle starts the back-off afresh
        self._interval = interval
