"""Background work for `dutybot run`: watch each mailbox, and deliver what waits for the chat.

One delivery at a time per team (a lock), so a card is never posted by two threads at once.
Poke a team to deliver straight away. Every few seconds one look at the database finds the
held teams with something waiting (a card changed through another process, a nudge, a retry
after the chat was down) and pokes them, so an idle bot with many teams stays idle.
Emails of resolved tasks move to Done from their own loop: soon after a card changes (a
resolve), and every MOVE_RETRY_SECONDS anyway, so a move that failed while Exchange was down is
tried again even when no new mail arrives to wake the (streaming) mail watcher. The same loop
retries a mail check that failed, every poll interval (say the database was away while the
stream told of new mail).

A database that can't be reached is said once in the log (bot.outage), not on every round.
Stopping (``shutdown``) lets each loop finish the email or card in hand, then return.

Several processes may share one database (replicas, or a restart overlapping the old one).
Each team has its own lease (bot.ops.lease.TeamLeases): only its holder takes the team's mail
in, posts its cards and moves its mail, so no card is posted twice; the teams spread across
the processes, every process answers chat, and a team whose holder dies is taken over.
A team's loops (its mail watcher, delivery and move loops) run only while this process holds
its lease: they start when the lease is taken, the watcher first checking the inbox so mail
that came while nobody watched is taken in at once, and stop when it is given up or lost. So
with two processes each watches only its own teams' mailboxes (one EWS stream, or one folder
look, per team across the processes), and an idle process has only its own teams' threads.
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
class _TeamWork:
    """One held team's loops, and what stops them: the process stopping or the lease going."""

    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


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
    _move_asked: set[str] = field(default_factory=set)  # teams with a card changed: move soon
    _threads: list[threading.Thread] = field(default_factory=list)
    _work: dict[str, _TeamWork] = field(default_factory=dict)  # the held teams' loops
    _work_lock: threading.Lock = field(default_factory=threading.Lock)
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
        if done.resolved:  # a resolved task's card changed: its email may go to Done now
            self._move_asked.add(team)
            self._move_pokes[team].set()
        return done

    def poke(self, team: str) -> None:
        self._pokes[team].set()

    def check_mail(self, team: str) -> SyncResult:
        with self.leases.acting(team) as ours:
            if not ours:  # the holder takes the mail in; this one catches up on taking over
                return SyncResult(error="another process holds the team's lease")
            with self._mail_locks[team]:  # the watcher and the retry in the move loop
                result = self.bot.check_mail(team, stop=self._stop_of(team))
        if result.new or result.replies:
            self.poke(team)
        return result

    def start(self) -> None:
        """Take the teams' leases and start each held team's loops now, before the chat is
        served (so the first look at each inbox comes first, as at any start); then the
        delivery scan, which starts a team's loops within a round of taking it over."""
        self._round()
        self._spawn("deliver-scan", self._scan_loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads = [old for old in self._threads if old.is_alive()]
        self._threads.append(t)
        return t

    def _scan_loop(self) -> None:
        """Every ``deliver_every`` seconds: keep the leases up (taking over a team come free),
        start or stop the teams' loops to match, and poke the held teams with something
        waiting."""
        while not self.stop.wait(self.deliver_every):
            self._round()

    def _round(self) -> None:
        self._guard("all", "looking for cards to deliver", self._scan)
        self._follow_leases()  # also when the database is away: a stale lease stops work

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

    # ---- each held team's loops -------------------------------------------------------

    def _follow_leases(self) -> None:
        """Run the loops of exactly the teams this process holds."""
        held = set(self.leases.held())
        with self._work_lock:
            if self.stop.is_set():  # shutdown ends them all
                return
            for team in [t for t in self._work if t not in held]:
                self._end(self._work.pop(team), team)
            for team in sorted(held - self._work.keys()):
                self._work[team] = self._begin(team)

    def _begin(self, team: str) -> _TeamWork:
        """A team just taken: its delivery, and its mail watcher, which checks the inbox first
        (catching up on what came while another process held it, or nobody did)."""
        work = _TeamWork()
        log.info("running team %s here: watching its mailbox, delivering its cards", team)
        loops: list[tuple[str, Callable[[str, threading.Event], None]]] = [
            ("deliver", self._deliver_loop)
        ]
        if self.bot.teams[team].mailbox is not None:
            loops += [("mailbox", self._mail_loop), ("move", self._move_loop)]
        for kind, loop in loops:
            run = for_team(team, lambda loop=loop: loop(team, work.stop))  # type: ignore[misc]
            work.threads.append(self._spawn(f"{kind}-{team}", run))
        return work

    def _end(self, work: _TeamWork, team: str) -> None:
        """Stop a team's loops after what they have in hand (not waited for here)."""
        if not self.stop.is_set():
            log.info("no longer running team %s here", team)
        work.stop.set()
        self._pokes[team].set()
        self._move_pokes[team].set()

    def _stop_of(self, team: str) -> threading.Event:
        work = self._work.get(team)
        return work.stop if work is not None else self.stop

    def _deliver_loop(self, team: str, stop: threading.Event) -> None:
        while not stop.is_set():
            self._pokes[team].wait(self.deliver_anyway)
            self._pokes[team].clear()
            if stop.is_set():
                break
            done = self._guard(team, "delivering cards", lambda: self.deliver(team))
            if done and (done.posted or done.updated or done.messages) and not done.waiting:
                self._pokes[team].set()  # perhaps more than one batch waits: go on at once

    def _mail_loop(self, team: str, stop: threading.Event) -> None:
        wired = self.bot.teams[team]
        interval = wired.cfg.mailbox.poll_seconds
        if self._watched(team):
            self._safe_check(team)  # catch up first, then let the stream (or listing) tell us
            watch = wired.mailbox.watch  # type: ignore[union-attr]
            watch(stop, lambda: self._safe_check(team), poll_interval=interval)
            return
        pace = getattr(wired.mailbox, "pace", None)  # Graph: quicker after mail, slower idle
        while not stop.is_set():
            self._safe_check(team)
            stop.wait(pace.next_wait() if pace is not None else interval)

    def _watched(self, team: str) -> bool:
        """True if the team's mailbox tells of new mail (an EWS stream, a folder's listing)
        rather than being polled: a folder always, EWS unless streaming is off."""
        wired = self.bot.teams[team]
        watch = getattr(wired.mailbox, "watch", None)
        return callable(watch) and bool(getattr(wired.cfg.mailbox, "streaming", True))

    def _move_loop(self, team: str, stop: threading.Event) -> None:
        # A polled mailbox moves mail on each poll already (DutyBot.check_mail): this loop
        # then only answers pokes. A watched one may go quiet for hours: after a card
        # changes (a poke), at the start, and every MOVE_RETRY_SECONDS (or poll interval, if
        # longer) while some emails still wait (Exchange was down), its moves are tried; a
        # failed check is retried every poll interval until it works. Otherwise it sleeps.
        poll = self.bot.teams[team].cfg.mailbox.poll_seconds
        watched = self._watched(team)
        every = max(poll, MOVE_RETRY_SECONDS)
        waiting = watched  # a team just taken: its last holder may have left moves undone
        moved = float("-inf")
        while not stop.is_set():
            if team in self._mail_failed:
                wait: float | None = poll
            elif waiting:
                wait = max(0.0, every - (time.monotonic() - moved))
            else:
                wait = None
            woken = self._move_pokes[team].wait(wait)
            self._move_pokes[team].clear()
            if stop.is_set():
                break
            asked = team in self._move_asked
            self._move_asked.discard(team)
            if woken and not asked:
                continue  # a check just failed: wait the poll interval, then retry it
            if team in self._mail_failed:
                self._safe_check(team)
            if asked or (waiting and time.monotonic() - moved >= every):
                moved = time.monotonic()
                left = self._guard(team, "moving resolved emails", lambda: self._move_done(team))
                waiting = watched and left is not False  # None: it failed, so try again

    def _move_done(self, team: str) -> bool:
        """Move what waits to go to Done; True if some emails still wait (say Exchange is
        down)."""
        with self.leases.acting(team) as ours:
            if not ours:
                return False
            self.bot.move_done(team)
            return self.bot.moves_waiting(team)

    def _safe_check(self, team: str) -> bool:
        """Check the mail; False if that failed (or another process holds the team)."""
        result = self._guard(team, "checking the mailbox", lambda: self.check_mail(team))
        if result is None or result.error:  # a streamed "new mail" must not be forgotten
            if team not in self._mail_failed and self._watched(team):
                self._move_pokes[team].set()  # the move loop, perhaps in a long wait, retries it
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
        with self._work_lock:
            for team, work in self._work.items():
                self._end(work, team)
            self._work.clear()
        for t in self._threads:
            t.join(timeout)
        busy = [t.name for t in self._threads if t.is_alive()]
        # The other processes take the teams over at once rather than wait for the leases to
        # run out (a team with work still in hand is left to run out by itself).
        self._guard("all", "giving up the teams' leases", lambda: self.leases.release_all(timeout))
        return busy
