"""Saying, once, that the database can't be reached, and once when it is back.

While the database is away every background loop fails on each round. Logging each failure
with its stack trace would bury the one line that matters, so the loops hand database
failures here: the first gives one plain ERROR line, the rest stay quiet, and the first
success after them gives one line saying the bot carries on. Work simply waits meanwhile:
emails stay in the mailbox (the checkpoint is only saved once they are stored) and cards stay
pending in the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)


def database_unreachable(exc: BaseException) -> bool:
    """True for errors that mean "the database isn't answering" rather than a bug."""
    if isinstance(exc, OperationalError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def database_reason(exc: BaseException) -> str:
    """The driver's own first line (e.g. "Connection refused"); never SQL or values."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    return first if len(first) <= 160 else first[:157] + "..."


class DatabaseWatch:
    """Shared by the loops of one `dutybot run` process."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self._lock = threading.Lock()
        self._down_since: float | None = None

    @property
    def reachable(self) -> bool:
        return self._down_since is None

    def failed(self, exc: BaseException, doing: str) -> None:
        """A database failure while ``doing`` something; logged once per outage."""
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = self.timer()
        if first:
            log.error(
                "The database can't be reached (%s) while %s. Emails and cards wait; the bot "
                "carries on by itself when the database is back.",
                database_reason(exc),
                doing,
            )
        else:
            log.debug("database still unreachable while %s", doing)

    def worked(self) -> None:
        """The database answered: if it had been away, say it is back."""
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning(
                "The database is reachable again after %.0f s; carrying on.",
                self.timer() - since,
            )
