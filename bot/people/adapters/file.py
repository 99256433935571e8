"""A people file, for the shell and demos (`source = "file"`, `availability = "file"`): who
people are, their team leaders, and what Exchange and the chat would say about them. Read
again whenever it changes, so a demo can switch someone's automatic reply on.

    [people.kim]
    email = "kim@council.example.gov.uk"
    name = "Kim"
    team_leader = "rita"                       # a chat id in this file, or an email address
    automatic_reply = true
    automatic_reply_until = 2026-12-11T17:00:00  # the team's local time; leave out: no end
    busy = ["09:00-10:00", "14:00-15:30"]        # every day, the team's local time
    status = "Working from home"                # as the chat would show it
"""

from __future__ import annotations

import threading
import tomllib
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.kernel.clock import Clock
from bot.people.adapters.config import Entry, TableBook
from bot.people.directory import AutoReply, Busy, Colleague, Status

_KEYS = {"email", "name", "team_leader", "automatic_reply", "automatic_reply_until", "busy",
         "status"}  # fmt: skip


class PeopleFileError(ValueError):
    """The file can't be used; the message is one plain line."""


@dataclass(frozen=True)
class _Person:
    entry: Entry
    reply: AutoReply
    busy: tuple[tuple[time, time], ...]
    status: str


class PeopleFile:
    """Directory, Availability and Profiles from a TOML file."""

    def __init__(self, path: str | Path, tz: ZoneInfo, clock: Clock) -> None:
        self.path = Path(path)
        self.tz = tz
        self.clock = clock  # the bot's: the shell's /duty clock moves it
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._people: dict[str, _Person] = {}
        self._book = TableBook({})
        self._load()  # a broken file stops the start, with the line that is wrong

    # ---- Profiles ---------------------------------------------------------------------

    def email_of(self, user: str) -> str | None:
        return self._current()[1].email_of(user)

    def user_of(self, email: str) -> str | None:
        return self._current()[1].user_of(email)

    def status_of(self, user: str) -> Status | None:
        person = self._current()[0].get(user)
        return Status(person.status) if person else None

    # ---- Directory --------------------------------------------------------------------

    def team_leader(self, email: str) -> Colleague | None:
        return self._current()[1].team_leader(email)

    # ---- Availability -----------------------------------------------------------------

    def automatic_reply(self, email: str) -> AutoReply:
        person = self._by_email(email)
        if person is None:
            return AutoReply(False)
        reply = person.reply
        if reply.on and reply.until is not None and reply.until <= self.clock.now():
            return AutoReply(False)  # it has run out
        return reply

    def busy_times(self, email: str, start: datetime, end: datetime) -> list[Busy]:
        person = self._by_email(email)
        if person is None:
            return []
        found = []
        day: date = start.astimezone(self.tz).date()
        while datetime.combine(day, time(0), tzinfo=self.tz) < end:
            for begins, ends in person.busy:
                spell = Busy(
                    datetime.combine(day, begins, tzinfo=self.tz),
                    datetime.combine(day, ends, tzinfo=self.tz),
                )
                if spell.end > start and spell.start < end:
                    found.append(spell)
            day += timedelta(days=1)
        return found

    # ---- reading ----------------------------------------------------------------------

    def _by_email(self, email: str) -> _Person | None:
        people, book = self._current()
        user = book.user_of(email)
        return people.get(user) if user else None

    def _current(self) -> tuple[dict[str, _Person], TableBook]:
        with suppress(PeopleFileError):  # edited into a broken state: keep the last good one
            self._load()
        with self._lock:
            return self._people, self._book

    def _load(self) -> None:
        try:
            stamp = self.path.stat().st_mtime
        except OSError as exc:
            raise PeopleFileError(
                f"{self.path}: can't be read ({exc.strerror}); expected a people file"
            ) from None
        with self._lock:
            if stamp == self._stamp:
                return
        people = _parse(self.path, self.tz)
        with self._lock:
            self._people, self._stamp = people, stamp
            self._book = TableBook({u: p.entry for u, p in people.items()})


def _parse(path: Path, tz: ZoneInfo) -> dict[str, _Person]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PeopleFileError(f"{path}: not a TOML people file ({exc})") from None
    people = data.get("people", {})
    if not isinstance(people, dict):
        raise PeopleFileError(f"{path}: expected [people.NAME] tables")
    return {str(user): _person(path, str(user), raw, tz) for user, raw in people.items()}


def _person(path: Path, user: str, raw: Any, tz: ZoneInfo) -> _Person:
    where = f"{path}: people.{user}"
    if not isinstance(raw, dict):
        raise PeopleFileError(f"{where}: expected a table of keys")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        expected = ", ".join(sorted(_KEYS))
        raise PeopleFileError(f"{where}.{unknown[0]}: unknown key; expected one of {expected}")
    until = raw.get("automatic_reply_until")
    if until is not None:
        if not isinstance(until, datetime):
            raise PeopleFileError(f"{where}.automatic_reply_until: expected a date and time")
        until = until if until.tzinfo else until.replace(tzinfo=tz)
    entry = Entry(_text(raw, "email", where), _text(raw, "name", where),
                  _text(raw, "team_leader", where))  # fmt: skip
    return _Person(
        entry=entry,
        reply=AutoReply(bool(raw.get("automatic_reply", False)), until),
        busy=tuple(_spell(where, s) for s in raw.get("busy", [])),
        status=_text(raw, "status", where) or "",
    )


def _text(raw: dict[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise PeopleFileError(f"{where}.{key}: expected text in quotes")
    return value


def _spell(where: str, spell: Any) -> tuple[time, time]:
    try:
        begins, ends = (time.fromisoformat(t.strip()) for t in str(spell).split("-"))
    except ValueError:
        raise PeopleFileError(
            f'{where}.busy: "{spell}" is not a spell; expected "09:00-10:30"'
        ) from None
    if ends <= begins:
        raise PeopleFileError(f'{where}.busy: "{spell}" ends before it starts')
    return begins, ends
