"""Background work for `dutybot run`: watch each mailbox, and deliver what waits for the chat.

One delivery at a time per team (a lock), so a card is never posted by two threads at once.
Poke a team to deliver straight away. Every few seconds one look at the database finds the
held teams with something waiting (a card changed through another process, a nudge, a retry
after the chat was down) and pokes them, so an idle bot with many teams stays idle.
Emails of resolved tasks move to Done from their own loop: soon after a card changes (a
resolve), and every poll interval anyway, so a move that failed while Exchange was down is
tried again even when no new mail arrives to wake the (streaming) mail watcher. The same loop
retries a mail check that failed (say the database was away while the stream told of new mail).

A database that can't be reached is said once in the log (bot.outage), not on every round.
Stopping (``shutdown``) lets each loop finish the email or card in hand, then return.

Several processes may share one database (replicas, or a restart overlapping the old one).
Each team has its own lease (bot.ops.lease.TeamLeases): only its holder takes the team's mail
in, posts its cards and moves its mail, so no card is posted twice; the teams spread across
the processes, every process answers chat, and a team whose holder dies is taken over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from bot.app import DutyBot
from bot.chat.delivery import Delivered
from bot.chat.port import Chat
from bot.kernel.clock import SystemClock
from bot.mail.watcher import SyncResult
from bot.ops.lease import TeamLeases
from bot.ops.logs import for_team
from bot.ops.outage import database_unreachable
from storage.tasks import teams_waiting

log = logging.getLogger(__name__)
T = TypeVar("T")
MOVE_RETRY_SECONDS = 30.0  # a watched mailbox's failed moves are retried at least this often


class _StopOrLost:
    """Stop after the card in hand when the process stops or the team's lease is lost."""

    def __init__(self, stop: threading.Event, holding: Callable[[], bool]) -> None:
        self.stop = stop
        self.holding = holding

    def is_set(self) -> bool:
        return self.stop.is_set() or not self.holding()


@dataclass
class Runner:
    bot: DutyBot
    chat: Chat
    deliver_every: float = 2.0  # how often to look for anything waiting, all teams at once
    # A team's delivery goes round anyway this often, should a poke ever be missed.
    deliver_anyway: float = 300.0
    # Longer than a Slack call can take (10 s timeout), so a slow post is never redone by
    # another process while its answer is still on the way.
    lease_seconds: float = 30.0
    stop: threading.Event = field(default_factory=threading.Event)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _pokes: dict[str, threading.Event] = field(default_factory=dict)
    _move_pokes: dict[str, threading.Event] = field(default_factory=dict)
    _mail_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _mail_failed: set[str] = field(default_factory=set)  # teams whose last mail check failed
    _threads: list[threading.Thread] = field(default_factory=list)
    leases: TeamLeases = field(init=False)

    def __post_init__(self) -> None:
        assert self.bot.db is not None
        ttl = timedelta(seconds=self.lease_seconds)
        self.leases = TeamLeases(self.bot.db, SystemClock(), list(self.bot.teams), ttl)
        for name in self.bot.teams:
            self._locks[name] = threading.Lock()
            self._mail_locks[name] = threading.Lock()
            self._pokes[name] = threading.Event()
            self._move_pokes[name] = threading.Event()

    def holding(self, team: str) -> bool:
        """True while this process holds the team's lease (renewed every few seconds)."""
        return self.leases.holds(team)

    def deliver(self, team: str, *, wait: bool = True) -> Delivered:
        """Deliver now, in this thread. Does nothing while another process holds the team's
        lease: that one delivers within seconds. Without ``wait`` (after a chat action), a
        delivery already under way is not waited for, which may take a minute in a backlog
        of paced cards: the delivery loop goes round again straight after it instead."""
        with self.leases.acting(team) as ours:
            if not ours:
                return Delivered()
            lock = self._locks[team]
            if not lock.acquire(blocking=wait):
                self.poke(team)
                return Delivered()
            try:
                still = _StopOrLost(self.stop, lambda: self.holding(team))
                done = self.bot.deliver(team, self.chat, stop=still)
            finally:
                lock.release()
        if done.updated:  # a card changed: perhaps resolved, so its email may go to Done
            self._move_pokes[team].set()
        return done

    def poke(self, team: str) -> None:
        self._pokes[team].set()

    def check_mail(self, team: str) -> SyncResult:
        with self.leases.acting(team) as ours:
            if not ours:  # the holder takes the mail in; this one catches up on taking over
                return SyncResult(error="another process holds the team's lease")
            with self._mail_locks[team]:  # the watcher and the retry in the move loop
                result = self.bot.check_mail(team, stop=self.stop)
        if result.new or result.replies:
            self.poke(team)
        return result

    def start(self) -> None:
        self._spawn("deliver-scan", self._scan_loop)
        for name, wired in self.bot.teams.items():
            self._spawn(f"deliver-{name}", for_team(name, lambda n=name: self._deliver_loop(n)))
            if wired.mailbox is not None:
                self._spawn(f"mailbox-{name}", for_team(name, lambda n=name: self._mail_loop(n)))
                self._spawn(f"move-{name}", for_team(name, lambda n=name: self._move_loop(n)))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _scan_loop(self) -> None:
        """Every ``deliver_every`` seconds: keep the leases up (taking over a team come free),
        and poke the held teams with something waiting."""
        while not self.stop.wait(self.deliver_every):
            self._guard("all", "looking for cards to deliver", self._scan)

    def _scan(self) -> None:
        self.leases.keep_up()
        held = self.leases.held()
        assert self.bot.db is not None
        with self.bot.db.session() as s:
            waiting = teams_waiting(s, held)
            free = self.leases.notice_free(s)
        if free:  # a team come free (say another process stopped): take it over now
            self.leases.keep_up()
        for team in waiting:
            self.poke(team)

    def _deliver_loop(self, team: str) -> None:
        while not self.stop.is_set():
            self._pokes[team].wait(self.deliver_anyway)
            self._pokes[team].clear()
            if self.stop.is_set():
                break
            done = self._guard(team, "delivering cards", lambda: self.deliver(team))
            if done and (done.posted or done.updated or done.messages) and not done.waiting:
                self._pokes[team].set()  # perhaps more than one batch waits: go on at once

    def _mail_loop(self, team: str) -> None:
        wired = self.bot.teams[team]
        interval = wired.cfg.mailbox.poll_seconds
        if self._watched(team):
            self._safe_check(team)  # catch up first, then let the stream (or listing) tell us
            watch = wired.mailbox.watch  # type: ignore[union-attr]
            watch(self.stop, lambda: self._safe_check(team), poll_interval=interval)
            return
        pace = getattr(wired.mailbox, "pace", None)  # Graph: quicker after mail, slower idle
        while not self.stop.is_set():
            self._safe_check(team)
            self.stop.wait(pace.next_wait() if pace is not None else interval)

    def _watched(self, team: str) -> bool:
        """True if the team's mailbox tells of new mail (an EWS stream, a folder's listing)
        rather than being polled: a folder always, EWS unless streaming is off."""
        wired = self.bot.teams[team]
        watch = getattr(wired.mailbox, "watch", None)
        return callable(watch) and bool(getattr(wired.cfg.mailbox, "streaming", True))

    def _move_loop(self, team: str) -> None:
        # A polled mailbox moves mail on each poll already (DutyBot.check_mail): this loop
        # then only answers pokes. A watched one may go quiet for hours: a failed check is
        # retried every poll interval, and moves every poll interval (at least 30 s apart).
        mailbox = self.bot.teams[team].cfg.mailbox
        interval = mailbox.poll_seconds if self._watched(team) else None
        moved = time.monotonic()
        while not self.stop.is_set():
            poked = self._move_pokes[team].wait(interval)
            self._move_pokes[team].clear()
            if self.stop.is_set():
                break
            if team in self._mail_failed:
                self._safe_check(team)
            if poked or time.monotonic() - moved >= max(interval or 0, MOVE_RETRY_SECONDS):
                moved = time.monotonic()
                self._guard(team, "moving resolved emails", lambda: self._move_done(team))

    def _move_done(self, team: str) -> int:
        with self.leases.acting(team) as ours:
            return self.bot.move_done(team) if ours else 0

    def _safe_check(self, team: str) -> bool:
        """Check the mail; False if that failed (or another process holds the team)."""
        result = self._guard(team, "checking the mailbox", lambda: self.check_mail(team))
        if result is None or result.error:  # a streamed "new mail" must not be forgotten
            self._mail_failed.add(team)
            return False
        self._mail_failed.discard(team)
        return True

    def _guard(self, team: str, doing: str, work: Callable[[], T]) -> T | None:
        """Run one round of a loop; None if it failed (to be tried again next round)."""
        try:
            done = work()
        except Exception as exc:
            if database_unreachable(exc):
                self.bot.db_watch.failed(exc, doing)
            else:
                log.exception("%s for %s failed; will try again", doing, team)
            return None
        self.bot.db_watch.worked()
        return done

    def shutdown(self, timeout: float = 10.0) -> list[str]:
        """Finish what is in hand, then stop. Returns the loops still busy after ``timeout``
        (say a Slack call hanging); what they held is redone safely after a restart."""
        self.stop.set()
        for ev in (*self._pokes.values(), *self._move_pokes.values()):
            ev.set()
        for t in self._threads:
            t.join(timeout)
        busy = [t.name for t in self._threads if t.is_alive()]
        # The other processes take the teams over at once rather than wait for the leases to
        # run out (a team with work still in hand is left to run out by itself).
        self._guard("all", "giving up the teams' leases", lambda: self.leases.release_all(timeout))
        return busy
