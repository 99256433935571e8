"""Leases: one process at a time does a piece of background work (the clocks, delivery).

A lease is a database row naming its holder until it expires. The holder renews it as it
works; if it dies, another process takes over when the row expires, or at once when the dead
holder ran on this machine (a restart after a crash finds its own dead predecessor).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from bot.kernel.clock import Clock
from storage import leases as leases_db
from storage.db import Database

log = logging.getLogger(__name__)

# Holder ids made in this process: with our pid but not among these, a holder is a process
# that ran before a restart (in a container the new process often gets the same pid).
_MADE_HERE: set[str] = set()


def new_holder_id() -> str:
    """host:pid:random, so a dead holder on this machine can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def died_here(holder: str, me: str) -> bool:
    """True if ``holder`` was a process on this machine that is no longer running."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or holder == me:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return holder not in _MADE_HERE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


class Lease:
    """One named lease, held by one process at a time."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ttl: timedelta,
        holder: str | None = None,
        name: str = "scheduler",
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl
        self.name = name
        self.holder = holder or new_holder_id()
        _MADE_HERE.add(self.holder)
        self.held = False

    def hold(self) -> bool:
        """Take or renew the lease; True while we hold it."""
        held = self._take(None)
        if not held:
            with self.db.session() as s:
                current = leases_db.lease_row_holder(s, self.name)
            if current is not None and died_here(current, self.holder):
                held = self._take(current)
        if held != self.held:
            log.info("%s the %s lease (%s)", "took" if held else "lost", self.name, self.holder)
        self.held = held
        return held

    def _take(self, dead_holder: str | None) -> bool:
        try:
            with self.db.session() as s:
                return leases_db.take_lease(
                    s, self.name, self.holder, self.clock.now(), self.ttl, dead_holder
                )
        except IntegrityError:
            return False  # another process took it first, just now

    def release(self) -> None:
        with self.db.session() as s:
            leases_db.drop_lease(s, self.name, self.holder, self.clock.now())
        self.held = False
