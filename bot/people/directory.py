"""The people directory: who a worker's team leader is, and whether they are in today.

Adapters answer the ports below (bot/people/adapters: the config table, a file, Exchange
through EWS or Graph; the chat's own profiles come through the chat adapter). ``People``
asks them through a cache, on a few worker threads, and never waits longer than the team's
``wait_seconds``: whatever has not come back by then is "not known", so a command still
answers inside Slack's 3 seconds when Exchange or Slack is slow or down. A late answer is
kept for the next time. Nothing here logs what a directory said.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable
from zoneinfo import ZoneInfo

from bot.kernel.clock import Clock
from bot.kernel.message import Message, say, user

log = logging.getLogger(__name__)

T = TypeVar("T")

FAILED_RETRY_SECONDS = 30.0  # a source that failed is asked again after this, not every time
WORKERS = 4  # threads asking the sources; a hung source holds one until its own timeout


# ---- what the directory knows ----------------------------------------------------------------


@dataclass(frozen=True)
class Colleague:
    """Someone the directory knows: by email, by name, and by chat id if they have one."""

    email: str | None = None
    name: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class AutoReply:
    """A mailbox's automatic reply: on or off, and until when if it says (never its text)."""

    on: bool
    until: datetime | None = None


@dataclass(frozen=True)
class Busy:
    """A busy spell in a calendar (free/busy only: never a subject or a place)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Status:
    """The person's status in the chat ("" if they set none)."""

    text: str
    until: datetime | None = None


@dataclass(frozen=True)
class Today:
    """Busy or free now, and when that changes today (None: not today)."""

    busy: bool
    changes_at: datetime | None


@dataclass(frozen=True)
class About:
    """A worker's team leader and automatic reply; None is "not known"."""

    leader: Colleague | None
    reply: AutoReply | None


@dataclass(frozen=True)
class Whois:
    """Everything `/duty whois` says; None is "not known"."""

    user: str
    email: str | None
    reply: AutoReply | None
    today: Today | None
    status: Status | None
    leader: Colleague | None


# ---- the ports the adapters answer -------------------------------------------------------------
# Any exception from an adapter means "can't say now": the answer becomes "not known".


class Directory(Protocol):
    def team_leader(self, email: str) -> Colleague | None:
        """The team leader of the person with this mailbox; None if they have none."""
        ...


class Availability(Protocol):
    def automatic_reply(self, email: str) -> AutoReply: ...

    def busy_times(self, email: str, start: datetime, end: datetime) -> list[Busy]:
        """Busy spells overlapping [start, end) (tentative and out of office count)."""
        ...


# outside: another organisation's account, or a bot; gone: closed, or no such account
AccountKind = Literal["member", "guest", "outside", "gone"]


@runtime_checkable
class Accounts(Protocol):
    """What the chat says of an account: one of the organisation's own people, a guest, or
    someone from outside it (a shared channel's other organisation)."""

    def kind_of(self, user: str) -> AccountKind | None: ...


class Profiles(Protocol):
    """The chat's people: a chat id's mailbox and status (Slack's profile, or the table)."""

    def email_of(self, user: str) -> str | None: ...

    def user_of(self, email: str) -> str | None: ...

    def status_of(self, user: str) -> Status | None: ...


# ---- the cache -----------------------------------------------------------------------------------


class _Entry:
    __slots__ = ("future", "at")

    def __init__(self, future: Future[Any], at: float) -> None:
        self.future = future
        self.at = at


class Lookups:
    """Each question asked once at a time, its answer kept ``ttl`` seconds (a failure only
    FAILED_RETRY_SECONDS), on a small pool of threads so the asker can stop waiting."""

    def __init__(self, ttl: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._now = monotonic
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="people")
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def ask(self, key: Hashable, fetch: Callable[[], T]) -> Future[T]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not self._stale(entry):
                return entry.future
            future = self._pool.submit(_quietly, fetch)
            self._entries[key] = _Entry(future, self._now())
            return future

    def _stale(self, entry: _Entry) -> bool:
        if not entry.future.done():
            return False  # still on its way: wait for that one rather than ask again
        age = self._now() - entry.at
        failed = entry.future.exception() is not None
        return age >= (min(self.ttl, FAILED_RETRY_SECONDS) if failed else self.ttl)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _quietly(fetch: Callable[[], T]) -> T:
    try:
        return fetch()
    except Exception as exc:
        # The kind of failure only: what a directory says about a person stays out of logs.
        log.warning("a people lookup failed (%s); answering 'not known'", type(exc).__name__)
        raise


class Deadline:
    """One wait shared by every answer a command needs."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self.ends = monotonic() + seconds

    def result(self, future: Future[T] | None) -> T | None:
        """The answer if it comes in time; None if it fails or is late (not known)."""
        if future is None:
            return None
        try:
            return future.result(timeout=max(0.0, self.ends - self._now()))
        except FutureTimeout:
            return None
        except Exception:  # already logged where it happened
            return None


# ---- the service ---------------------------------------------------------------------------------


class People:
    """One team's people directory: team leaders, automatic replies, free/busy and chat
    status, each from the source the config names (a missing source answers "not known")."""

    def __init__(
        self,
        *,
        clock: Clock,
        tz: ZoneInfo,
        profiles: Sequence[Profiles],
        accounts: Accounts | None = None,  # the chat's; None in the shell (no accounts)
        directory: Directory | None = None,
        availability: Availability | None = None,
        cache_seconds: float = 300.0,
        wait_seconds: float = 1.5,
        monotonic: Callable[[], float] = time.monotonic,  # tests move it
    ) -> None:
        self.clock = clock
        self.tz = tz
        self.profiles = list(profiles)  # the chat's first, then the config's table or file
        self.accounts = accounts
        self.directory = directory
        self.availability = availability
        self.wait_seconds = wait_seconds
        self.lookups = Lookups(cache_seconds, monotonic)

    def close(self) -> None:
        self.lookups.close()
        for source in {id(s): s for s in (self.directory, self.availability) if s}.values():
            closing = getattr(source, "close", None)
            if callable(closing):
                closing()  # its connections, if it holds any

    def deadline(self) -> Deadline:
        return Deadline(self.wait_seconds)

    # ---- answers, within one wait ------------------------------------------------------

    def about(self, users: Sequence[str], wait: Deadline | None = None) -> dict[str, About]:
        """Each person's team leader and automatic reply, asked all together."""
        wait = wait or self.deadline()
        emails = {u: self.lookups.ask(("email", u), lambda u=u: self._email(u)) for u in users}
        found = {u: wait.result(f) for u, f in emails.items()}
        leaders = {u: self._leader(e) if e else None for u, e in found.items()}
        replies = {u: self._reply(e) if e else None for u, e in found.items()}
        return {u: About(wait.result(leaders[u]), wait.result(replies[u])) for u in users}

    def whois(self, user: str) -> Whois:
        """Everything `/duty whois` says; the questions go out together and share one wait."""
        wait = self.deadline()
        status = self.lookups.ask(("status", user), lambda: self._status(user))
        email = wait.result(self.lookups.ask(("email", user), lambda: self._email(user)))
        leader = self._leader(email) if email else None
        reply = self._reply(email) if email else None
        busy = self._busy(email) if email else None
        return Whois(
            user=user,
            email=email,
            reply=wait.result(reply),
            today=self._today(wait.result(busy)),
            status=wait.result(status),
            leader=wait.result(leader),
        )

    def kinds(self, users: Sequence[str], wait: Deadline | None = None) -> dict[str, str | None]:
        """Each account's kind ("member", "guest", "outside"), None if the chat can't say in
        time. The shell has no accounts but the config's: all are the team's own."""
        accounts = self.accounts
        if accounts is None:
            return {u: "member" for u in users}
        wait = wait or self.deadline()
        asked = {u: self.lookups.ask(("kind", u), lambda u=u: accounts.kind_of(u)) for u in users}
        return {u: wait.result(f) for u, f in asked.items()}

    # ---- the questions ------------------------------------------------------------------

    def _email(self, user: str) -> str | None:
        return _first(self.profiles, lambda p: p.email_of(user))

    def _user(self, email: str) -> str | None:
        return _first(self.profiles, lambda p: p.user_of(email))

    def _status(self, user: str) -> Status | None:
        return _first(self.profiles, lambda p: p.status_of(user))

    def _leader(self, email: str) -> Future[Colleague | None] | None:
        directory = self.directory
        if directory is None:
            return None

        def ask() -> Colleague | None:
            found = directory.team_leader(email)
            if found is None or found.user or not found.email:
                return found
            # Reach them in chat too: their chat id from their mailbox.
            return Colleague(found.email, found.name, self._user(found.email))

        return self.lookups.ask(("leader", email.lower()), ask)

    def _reply(self, email: str) -> Future[AutoReply] | None:
        source = self.availability
        if source is None:
            return None
        return self.lookups.ask(("reply", email.lower()), lambda: source.automatic_reply(email))

    def _busy(self, email: str) -> Future[list[Busy]] | None:
        source = self.availability
        if source is None:
            return None
        day = self.clock.now().astimezone(self.tz).date()
        start, end = _day(day, self.tz)
        return self.lookups.ask(
            ("busy", email.lower(), day), lambda: source.busy_times(email, start, end)
        )

    def _today(self, spells: list[Busy] | None) -> Today | None:
        if spells is None:
            return None
        now = self.clock.now()
        _, end_of_day = _day(now.astimezone(self.tz).date(), self.tz)
        return today(spells, now, end_of_day)


def _first(sources: Sequence[Profiles], ask: Callable[[Profiles], T | None]) -> T | None:
    """The first source's answer that isn't None. If every source failed, the failure
    stands (not known) rather than looking like a plain "none"."""
    failure: Exception | None = None
    for source in sources:
        try:
            found = ask(source)
        except Exception as exc:
            failure = exc
            continue
        if found is not None:
            return found
    if failure is not None:
        raise failure
    return None


def _day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, clock_time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), clock_time(0), tzinfo=tz)
    return start, end


def today(spells: list[Busy], now: datetime, end_of_day: datetime) -> Today:
    """Busy or free at ``now``, and when that changes before ``end_of_day`` (None: it
    doesn't). Touching or overlapping spells count as one."""
    merged: list[list[datetime]] = []
    for spell in sorted(spells, key=lambda b: b.start):
        if spell.end <= now or spell.start >= end_of_day:
            continue
        if merged and spell.start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], spell.end)
        else:
            merged.append([spell.start, spell.end])
    for start, end in merged:
        if start <= now < end:
            return Today(True, end if end < end_of_day else None)
        if start > now:
            return Today(False, start)
    return Today(False, None)


def not_ours(people: People | None, users: Sequence[str], group: set[str] | None) -> Message | None:
    """Duty work (an alert, a worker's name) goes only to the organisation's own people: never
    to a guest, nor to someone from another organisation; with ``group``, only to its members.
    None if all of ``users`` may have it, else the one plain sentence saying who may not."""
    kinds = people.kinds(users) if people else {u: "member" for u in users}
    for who in users:
        kind = kinds.get(who)
        if kind == "guest":
            return say(user(who), " is a guest in this workspace, so duty work can't go to them. "
                       "Choose someone from the council.")  # fmt: skip
        if kind == "outside":
            return say(user(who), " is from outside the council, so duty work can't go to them.")
        if kind == "gone":
            return say(user(who), " has no account here any more, so duty work can't go to them.")
        if kind is None:
            return say("I can't check just now that ", user(who), " is one of the council's own "
                       "people, so nothing was sent. Try again in a minute.")  # fmt: skip
        if group is not None and who not in group:
            return say(user(who), " isn't in the group duty alerts may go to. Ask a duty manager "
                       "to add them.")  # fmt: skip
    return None
