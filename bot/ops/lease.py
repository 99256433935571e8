"""Leases: one process at a time does a piece of background work (the clocks, delivery).

A lease is a database row naming its holder until it expires. The holder renews it as it
works; if it dies, another process takes over when the row expires, or at once when the dead
holder ran on this machine (a restart after a crash finds its own dead predecessor).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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


# ---- one lease per team, spread across the processes ----------------------------------------

TEAM_PREFIX = "team:"
PROCESS_PREFIX = "process:"
# How often a process short of its share looks for a team come free.
HUNGRY_SECONDS = 1.0


def team_lease_name(team: str) -> str:
    """The lease that says which process takes in the team's mail, posts its cards and runs
    its clocks (a hash for a name too long for the lease's 64 characters)."""
    name = TEAM_PREFIX + team
    if len(name) <= 64:
        return name
    return TEAM_PREFIX + "#" + hashlib.sha256(team.encode()).hexdigest()[:40]


def fair_share(teams: int, processes: int) -> int:
    """How many teams one process holds: ceil(teams / live processes)."""
    return -(-teams // max(1, processes))


class TeamLeases:
    """The teams this process acts for: one lease per team, the teams spread across the
    live processes.

    Every process renews a presence row ("process:…") so each knows how many share the
    work; each holds at most its fair share of teams and gives up the extras, so a process
    that joins gets teams within seconds. A team given up (a fairer spread, or a clean stop)
    is released only once no work for it is in hand here (``acting``), so two processes
    never post its cards at once. A team whose holder died is taken over when its lease
    runs out, or at once when the dead holder ran on this machine.

    ``refresh`` does the database work; ``keep_up``, ``acting`` and ``holds`` call it when it
    is due (every third of the lease, or every second while this process is short of its
    share).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        teams: list[str],
        ttl: timedelta,
        holder: str | None = None,
    ) -> None:
        self.db, self.clock, self.ttl = db, clock, ttl
        self.holder = holder or new_holder_id()
        _MADE_HERE.add(self.holder)
        self.names = {team_lease_name(t): t for t in teams}
        self._presence = PROCESS_PREFIX + hashlib.sha256(self.holder.encode()).hexdigest()[:32]
        self._cond = threading.Condition()
        self._held: dict[str, float] = {}  # team -> monotonic time of its last renewal
        self._leaving: set[str] = set()  # given up: released once nothing is in hand
        self._busy: dict[str, int] = dict.fromkeys(teams, 0)
        self._refreshing = threading.Lock()
        self._refreshed = float("-inf")
        self._share = len(teams)
        self._closed = False

    # ---- asking ----------------------------------------------------------------------

    def holds(self, team: str) -> bool:
        """True while this process acts for ``team`` (its lease fresh and not given up)."""
        self.keep_up()
        with self._cond:
            return self._fresh(team)

    @contextmanager
    def acting(self, team: str) -> Iterator[bool]:
        """Work for ``team`` in hand: True if this process may do it. While any is in hand,
        the team's lease is not given up."""
        self.keep_up()
        with self._cond:
            ok = self._fresh(team)
            if ok:
                self._busy[team] += 1
        try:
            yield ok
        finally:
            if ok:
                with self._cond:
                    self._busy[team] -= 1
                    self._cond.notify_all()

    def held(self) -> list[str]:
        with self._cond:
            return sorted(t for t in self._held if self._fresh(t))

    def _fresh(self, team: str) -> bool:
        renewed = self._held.get(team)
        if renewed is None or team in self._leaving or self._closed:
            return False
        # Stop acting well before the lease runs out, in case renewals are failing.
        return time.monotonic() - renewed < self.ttl.total_seconds() * 2 / 3

    def keep_up(self) -> None:
        """Refresh when due: every third of the lease, or every second while this process
        is short of its share (a team may have come free). Only one thread at a time."""
        with self._cond:
            if self._closed:
                return
            since = time.monotonic() - self._refreshed
            short = len(self._held) - len(self._leaving) < self._share
            due = since >= self.ttl.total_seconds() / 3 or (short and since >= HUNGRY_SECONDS)
            leaving = bool(self._leaving)
        if not (due or leaving) or not self._refreshing.acquire(blocking=False):
            return
        try:
            if due:
                self.refresh()
            else:
                self._release_idle()
        finally:
            self._refreshing.release()

    def notice_free(self, s: Session) -> bool:
        """In another loop's session: True if a team has no holder (a clean stop gave it up,
        or its lease ran out), and then the next ``keep_up`` refreshes at once, so it is
        taken over within a round rather than a third of the lease later."""
        free = leases_db.count_held(s, list(self.names), self.clock.now()) < len(self.names)
        if free:
            with self._cond:
                self._refreshed = float("-inf")
        return free

    # ---- the database work -------------------------------------------------------------

    def refresh(self) -> None:
        """Renew what we hold, give up what is over our share, take free teams up to it."""
        now = self.clock.now()
        self._refreshed = time.monotonic()
        with self._cond:
            ours = [team_lease_name(t) for t in self._held]
        with self.db.session() as s:
            leases_db.take_lease(s, self._presence, self.holder, now, self.ttl)
            renewed = leases_db.renew_leases(s, ours, self.holder, now, self.ttl)
            rows = leases_db.leases_named(s, PROCESS_PREFIX)
            teams = leases_db.leases_named(s, TEAM_PREFIX)
            leases_db.drop_expired(s, PROCESS_PREFIX, now)
        at = time.monotonic()
        live = {h for _, h, exp in rows if exp > now and not died_here(h, self.holder)}
        share = fair_share(len(self.names), len(live | {self.holder}))
        with self._cond:
            for team in list(self._held):
                if team_lease_name(team) in renewed:
                    self._held[team] = at
                else:
                    self._lost(team)
            self._share = share
            keep = sorted(t for t in self._held if t not in self._leaving)
            for team in keep[share:]:  # over our share: another process gets these
                log.info("giving up the lease of team %s to spread the teams", team)
                self._leaving.add(team)
        self._release_idle()
        self._take(teams, now, share)

    def _take(self, rows: list[tuple[str, str, datetime]], now: datetime, share: int) -> None:
        holders = {name: (holder, expires) for name, holder, expires in rows}
        with self._cond:
            room = share - (len(self._held) - len(self._leaving))
            if room <= 0:
                return
            wanted = [n for n, t in self.names.items() if t not in self._held]
        # Each process tries the free teams in its own order, so two rarely race for one.
        wanted.sort(key=lambda n: hashlib.sha256((self.holder + n).encode()).digest())
        for name in wanted:
            if room <= 0:
                break
            holder, expires = holders.get(name, (None, now))
            dead = holder if holder is not None and died_here(holder, self.holder) else None
            if holder is not None and expires > now and dead is None:
                continue  # a live process acts for it
            try:
                with self.db.session() as s:
                    took = leases_db.take_lease(s, name, self.holder, now, self.ttl, dead)
            except IntegrityError:
                took = False  # another process took it first, just now
            if took:
                team = self.names[name]
                with self._cond:
                    if self._closed:
                        break
                    self._held[team] = time.monotonic()
                log.info("took the lease of team %s (%s)", team, self.holder)
                room -= 1

    def _lost(self, team: str) -> None:
        log.info("lost the lease of team %s (%s)", team, self.holder)
        self._held.pop(team, None)
        self._leaving.discard(team)

    def _release_idle(self) -> None:
        """Give up the leases marked leaving that have no work in hand."""
        with self._cond:
            idle = [t for t in self._leaving if self._busy[t] == 0]
        for team in idle:
            with self.db.session() as s:
                leases_db.drop_lease(s, team_lease_name(team), self.holder, self.clock.now())
            with self._cond:
                self._held.pop(team, None)
                self._leaving.discard(team)

    def release_all(self, timeout: float = 10.0) -> None:
        """A clean stop: every team's lease goes at once (one with work in hand as soon as
        that is done), so the other processes take the teams over straight away."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closed = True
            self._leaving.update(self._held)
        self._release_idle()
        with self._cond:
            while any(self._busy[t] for t in self._leaving):
                left = deadline - time.monotonic()
                if left <= 0:
                    break  # those still busy run out by themselves
                self._cond.wait(left)
        self._release_idle()
        with self.db.session() as s:
            leases_db.drop_lease(s, self._presence, self.holder, self.clock.now())
