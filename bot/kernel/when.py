"""Follow-up times typed by duty workers ("tomorrow 10:00", "in 3 days", "fri 14:00").

Reading happens in two steps so the command parser can check the grammar without a clock:
``_read`` turns words into a clock-free spec, and ``_resolve`` places the spec in time.
Local times are read in the team's zone and returned in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

__all__ = ["WhenError", "parse_when", "split_when", "read_date"]

_EXAMPLES = "'tomorrow 10:00', 'in 3 days', 'fri 14:00' or '2026-12-01 09:30'"
_DEFAULT_TIME = time(9, 0)  # a day without a time means the start of the working day
_MAX_AMOUNT = 9999  # "in N units": bigger numbers are typos, not plans
_MAX_WORDS = 3  # split_when looks at most this many words for the time


class WhenError(ValueError):
    """A time the bot could not read. ``str()`` is one plain sentence for a duty worker."""


def _show(text: str, limit: int = 40) -> str:
    """The user's words, on one line and short enough to quote back."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _unreadable(text: str) -> WhenError:
    if not text.strip():
        return WhenError(f"I need a time, like {_EXAMPLES}.")
    return WhenError(f"I couldn't read '{_show(text)}' as a time. Try {_EXAMPLES}.")


# --- clock-free specs ---------------------------------------------------------------


@dataclass(frozen=True)
class _Relative:
    amount: int
    unit: str  # "minutes" | "hours" | "days" | "weeks"


@dataclass(frozen=True)
class _DayOffset:
    days: int  # 0 today, 1 tomorrow
    at: time | None


@dataclass(frozen=True)
class _Weekday:
    weekday: int  # Monday is 0
    at: time | None


@dataclass(frozen=True)
class _TimeOnly:
    at: time


@dataclass(frozen=True)
class _OnDate:
    year: int | None  # None: the next such day and month
    month: int
    day: int
    at: time | None


_Spec = _Relative | _DayOffset | _Weekday | _TimeOnly | _OnDate

_WEEKDAYS = {
    name: i
    for i, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed", "weds"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}

# Month words are checked here, not by dateutil: dateutil skips words such as "at" or "of",
# so "1 at" would otherwise read as a date.
_MONTHS = {
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june",
    "jul", "july", "aug", "august", "sep", "sept", "september", "oct", "october", "nov",
    "november", "dec", "december",
}  # fmt: skip

_UNITS = {
    "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes", "m": "minutes",
    "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours", "h": "hours",
    "day": "days", "days": "days", "d": "days",
    "week": "weeks", "weeks": "weeks", "wk": "weeks", "wks": "weeks", "w": "weeks",
}  # fmt: skip

_DAY_WORDS = {"today": 0, "tomorrow": 1, "tmrw": 1, "tmw": 1}

_H24 = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})", re.ASCII)
_H12 = re.compile(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?(am|pm)", re.ASCII)
_HOUR = re.compile(r"[0-9]{1,2}(?:[:.][0-9]{2})?", re.ASCII)
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", re.ASCII)
_ISO_DATETIME = re.compile(r"([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})t([0-9]{1,2}:[0-9]{2})", re.ASCII)
# "." only with a year ("1.12.2026"), so "9.30" stays a time.
_NUMERIC_DATE = re.compile(
    r"[0-9]{1,2}([/-])[0-9]{1,2}(?:\1(?:[0-9]{2}|[0-9]{4}))?"
    r"|[0-9]{1,2}\.[0-9]{1,2}\.(?:[0-9]{2}|[0-9]{4})",
    re.ASCII,
)
_DAY_NUMBER = re.compile(r"[0-9]{1,2}(?:st|nd|rd|th)?", re.ASCII)
_YEAR = re.compile(r"[0-9]{4}", re.ASCII)
_COMPACT = re.compile(r"([0-9]{1,6})([a-z]+)", re.ASCII)


def _bad_time(word: str) -> WhenError:
    return WhenError(f"'{_show(word)}' isn't a real time of day. Try '14:00' or '2pm'.")


def _bad_date(words: str) -> WhenError:
    return WhenError(f"'{_show(words)}' isn't a real date. Try '2026-12-01' or '1/12/2026'.")


def _clock_time(words: Sequence[str]) -> time | None:
    """Read "14:00", "3pm", "3:30pm", "3 pm", "noon" or "at 14:00"; None if not a time."""
    if words and words[0] == "at":
        words = words[1:]
    if len(words) == 2 and words[1] in ("am", "pm") and _HOUR.fullmatch(words[0]):
        words = [words[0].replace(".", ":") + words[1]]
    if len(words) != 1:
        return None
    word = words[0]
    if word in ("noon", "midday"):
        return time(12, 0)
    if m := _H24.fullmatch(word):
        hour, minute = int(m[1]), int(m[2])
        if hour > 23 or minute > 59:
            raise _bad_time(word)
        return time(hour, minute)
    if m := _H12.fullmatch(word):
        hour, minute = int(m[1]), int(m[2] or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise _bad_time(word)
        return time(hour % 12 + (12 if m[3] == "pm" else 0), minute)
    return None


def _optional_time(words: Sequence[str], whole: str) -> time | None:
    """The time after a day; no words means the default, anything unreadable is an error."""
    if not words:
        return None
    at = _clock_time(words)
    if at is None:
        raise _unreadable(whole)
    return at


def _relative(words: Sequence[str], whole: str) -> _Relative:
    """Read the part after "in": "3 days", "an hour", "30m"."""
    if len(words) == 1 and (m := _COMPACT.fullmatch(words[0])):
        words = [m[1], m[2]]
    if len(words) != 2 or words[1] not in _UNITS:
        raise _unreadable(whole)
    count, unit = words[0], _UNITS[words[1]]
    if count in ("a", "an"):
        amount = 1
    elif count.isascii() and count.isdigit() and len(count) <= 6:
        amount = int(count)
    else:
        raise _unreadable(whole)
    if amount < 1:
        raise WhenError(f"'{_show(whole)}' is right now. Use a number from 1 up, like 'in 3 days'.")
    if amount > _MAX_AMOUNT:
        raise WhenError(f"'{_show(whole)}' is too far ahead. Try {_EXAMPLES}.")
    return _Relative(amount, unit)


def _checked_date(year: int, month: int, day: int, words: str) -> None:
    try:
        date(year, month, day)
    except ValueError:
        raise _bad_date(words) from None


def _dateutil_day(words: Sequence[str], has_year: bool) -> _OnDate:
    """Day-first dates ("1/12/2026", "1 Dec") through dateutil.

    Without a year we parse against a leap year so "29 Feb" is still accepted; the year is
    chosen later from the clock.
    """
    text = " ".join(words)
    default = datetime(2000, 1, 1)
    try:
        parsed = dateparser.parse(text, dayfirst=True, default=default)
    except (ValueError, OverflowError):
        raise _bad_date(text) from None
    return _OnDate(parsed.year if has_year else None, parsed.month, parsed.day, None)


def _date_prefix(words: Sequence[str]) -> tuple[_OnDate, int] | None:
    """A date at the start of ``words`` and how many words it used, or None."""
    first = words[0]
    if m := _ISO_DATE.fullmatch(first):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        _checked_date(year, month, day, first)
        return _OnDate(year, month, day, None), 1
    if _NUMERIC_DATE.fullmatch(first):
        has_year = len(re.split(r"[/.-]", first)) == 3
        return _dateutil_day([first], has_year=has_year), 1
    if len(words) >= 2:
        a, b = words[0], words[1]
        # "1 Dec" (the UK way) and "Dec 1" both read the same; an optional year follows.
        if (_DAY_NUMBER.fullmatch(a) and b in _MONTHS) or (
            a in _MONTHS and _DAY_NUMBER.fullmatch(b)
        ):
            used = 3 if len(words) >= 3 and _YEAR.fullmatch(words[2]) else 2
            return _dateutil_day(words[:used], has_year=used == 3), used
    return None


def _read(words: Sequence[str]) -> _Spec:
    """Turn lower-cased words into a spec; raise WhenError when they are not a time."""
    whole = " ".join(words)
    if not words:
        raise _unreadable(whole)
    first, rest = words[0], words[1:]
    if first == "in":
        return _relative(rest, whole)
    if first in _DAY_WORDS:
        if first == "today" and not rest:
            raise WhenError("Say what time today, like 'today 15:30'.")
        return _DayOffset(_DAY_WORDS[first], _optional_time(rest, whole))
    if first in _WEEKDAYS:
        return _Weekday(_WEEKDAYS[first], _optional_time(rest, whole))
    if m := _ISO_DATETIME.fullmatch(first):
        if rest:
            raise _unreadable(whole)
        spec, _ = _date_prefix([m[1]]) or (None, 0)
        at = _clock_time([m[2]])
        if spec is None or at is None:
            raise _unreadable(whole)
        return _OnDate(spec.year, spec.month, spec.day, at)
    if found := _date_prefix(words):
        spec, used = found
        return _OnDate(spec.year, spec.month, spec.day, _optional_time(words[used:], whole))
    if (at := _clock_time(words)) is not None:
        return _TimeOnly(at)
    raise _unreadable(whole)


# --- placing a spec in time ------------------------------------------------------------


def _at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall time as UTC.

    zoneinfo's fold=0 gives the earlier reading of a repeated hour (autumn) and moves a
    skipped hour forward (spring: 01:30 on the change day becomes 02:30 BST).
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _resolve(spec: _Spec, now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    today = local.date()
    if isinstance(spec, _Relative):
        if spec.unit == "minutes":
            return (now + timedelta(minutes=spec.amount)).astimezone(UTC)
        if spec.unit == "hours":
            return (now + timedelta(hours=spec.amount)).astimezone(UTC)
        # Days and weeks keep the wall-clock time, even across a clock change.
        days = spec.amount * (7 if spec.unit == "weeks" else 1)
        wall = local.replace(tzinfo=None) + timedelta(days=days)
        return _at(wall.date(), wall.time(), tz)
    if isinstance(spec, _DayOffset):
        return _at(today + timedelta(days=spec.days), spec.at or _DEFAULT_TIME, tz)
    if isinstance(spec, _TimeOnly):
        first = _at(today, spec.at, tz)
        return first if first > now else _at(today + timedelta(days=1), spec.at, tz)
    if isinstance(spec, _Weekday):
        at = spec.at or _DEFAULT_TIME
        ahead = (spec.weekday - today.weekday()) % 7
        candidate = _at(today + timedelta(days=ahead), at, tz)
        return candidate if candidate > now else _at(today + timedelta(days=ahead or 7), at, tz)
    at = spec.at or _DEFAULT_TIME
    if spec.year is not None:
        return _at(date(spec.year, spec.month, spec.day), at, tz)
    # No year: the next time that day comes round (29 Feb waits for a leap year).
    for year in range(today.year, today.year + 9):
        try:
            candidate = _at(date(year, spec.month, spec.day), at, tz)
        except ValueError:
            continue
        if candidate > now:
            return candidate
    raise _bad_date(f"{spec.day}/{spec.month}")


def _words(text: str) -> list[str]:
    return text.lower().split()


# --- public API -------------------------------------------------------------------------


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """Read a follow-up time typed by a worker; return an aware datetime in UTC.

    ``now`` must be aware. Bare times, weekdays and day-month dates roll forward to the next
    such moment; explicit dates ("today 08:00", "2026-12-01") are taken as written, even if
    past, so the caller decides what a past time means.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_when needs an aware 'now'")
    if not isinstance(text, str):
        raise _unreadable("")
    spec = _read(_words(text))
    try:
        return _resolve(spec, now, tz)
    except (OverflowError, ValueError) as err:
        if isinstance(err, WhenError):
            raise
        raise WhenError(f"'{_show(text)}' is too far ahead or behind. Try {_EXAMPLES}.") from None


def _is_when(words: Sequence[str]) -> bool:
    try:
        _read(words)
    except WhenError:
        return False
    return True


_TIMEISH = set(_WEEKDAYS) | _MONTHS | set(_UNITS) | set(_DAY_WORDS) | {"in", "at", "am", "pm"}


def _quoted_prefix(words: Sequence[str]) -> list[str]:
    """The words most likely meant as the time, to quote back when none of them parse."""
    out = list(words[:1])
    for word in words[1:_MAX_WORDS]:
        if word.lower() in _TIMEISH or any(c.isdigit() for c in word):
            out.append(word)
        else:
            break
    return out


def split_when(words: Sequence[str]) -> tuple[str, str]:
    """Split "tomorrow 10:00 call the landlord" into ("tomorrow 10:00", "call the landlord").

    Uses the longest prefix of up to three words that reads as a time (grammar only, no
    clock). The note keeps the user's own words. Raises WhenError if no prefix is a time.
    """
    words = [w for w in words if w.strip()]
    for size in range(min(_MAX_WORDS, len(words)), 0, -1):
        if _is_when([w.lower() for w in words[:size]]):
            return " ".join(words[:size]), " ".join(words[size:])
    quoted = _quoted_prefix(words)
    _read([w.lower() for w in quoted])  # raises the most specific message for those words
    raise _unreadable(" ".join(quoted))  # pragma: no cover - _read above always raises here


def read_date(text: str) -> date:
    """A calendar date written "2026-12-01" or day-first "1/12/2026"; else WhenError.

    Used by commands that take a plain date (rota days, case contacts and letters).
    """
    words = _words(text)
    if len(words) == 1 and (_ISO_DATE.fullmatch(words[0]) or _NUMERIC_DATE.fullmatch(words[0])):
        found = _date_prefix(words)
        if found and found[0].year is not None:
            spec = found[0]
            return date(spec.year, spec.month, spec.day)
    raise WhenError(f"I couldn't read '{_show(text)}' as a date. Try '2026-12-01' or '1/12/2026'.")
