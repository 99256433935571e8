"""UK working days: Monday to Friday, minus one nation's bank holidays and configured closures.

Clocks counted in working days (letters "within 5 working days", case summaries "within
3 working days") all go through `WorkingCalendar.add_working_days`, whose docstring states
whether the day of receipt counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Final

import holidays

NATIONS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {"ENG": "England", "SCT": "Scotland", "WLS": "Wales", "NIR": "Northern Ireland"}
)
CLOSURE_NAME: Final = "Office closure"

_ONE_DAY: Final = timedelta(days=1)


@lru_cache(maxsize=512)
def _bank_holidays(nation: str, year: int) -> MappingProxyType[date, str]:
    """Bank holidays of one nation in one calendar year, built once and shared by all calendars.

    The neighbouring years are generated too, so a substitute day that crosses a year
    boundary is never missed, then only this year's dates are kept.
    """
    found = holidays.country_holidays("GB", subdiv=nation, years=range(year - 1, year + 2))
    return MappingProxyType({d: name for d, name in found.items() if d.year == year})


def _weekdays_up_to(d: date) -> int:
    """Number of Mondays-to-Fridays from 1 Jan year 1 (a Monday) up to and including `d`."""
    weeks, rest = divmod(d.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


def _require_date(d: date) -> date:
    # A datetime would compare unequal to the holiday dates and hide which time zone
    # the day belongs to, so callers must convert to the team's local date first.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"Expected a date (in the team's time zone), got {type(d).__name__}.")
    return d


class WorkingCalendar:
    """Working days for one UK nation plus any extra closure dates from config."""

    def __init__(self, nation: str = "ENG", closures: Iterable[date] = ()) -> None:
        code = nation.strip().upper() if isinstance(nation, str) else ""
        if code not in NATIONS:
            choices = ", ".join(f"{c} ({name})" for c, name in NATIONS.items())
            raise ValueError(f"Unknown nation {nation!r}. Use one of {choices}.")
        self.nation: Final = code
        self.closures: Final = frozenset(_require_date(d) for d in closures)

    def __repr__(self) -> str:
        return f"WorkingCalendar(nation={self.nation!r}, closures={len(self.closures)})"

    def _bank_holiday(self, d: date) -> str | None:
        return _bank_holidays(self.nation, d.year).get(d)

    def is_working_day(self, d: date) -> bool:
        """True for Monday to Friday that is neither a bank holiday here nor a closure."""
        _require_date(d)
        return d.weekday() < 5 and d not in self.closures and self._bank_holiday(d) is None

    def holiday_name(self, d: date) -> str | None:
        """The bank holiday's name, "Office closure" for a configured closure, else None."""
        _require_date(d)
        name = self._bank_holiday(d)
        if name is None and d in self.closures:
            return CLOSURE_NAME
        return name

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d = _require_date(d) + _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before `d`."""
        d = _require_date(d) - _ONE_DAY
        while not self.is_working_day(d):
            d -= _ONE_DAY
        return d

    def add_working_days(self, start: date, n: int, *, count_start: bool = False) -> date:
        """The date that is `n` working days after `start`.

        Counting rule:
        - By default (`count_start=False`) the day of receipt does NOT count: day 1 is the
          first working day after `start`. Received Monday + 5 working days = the next
          Monday (when there are no holidays). Received on a Saturday + 1 = Monday.
        - With `count_start=True`, `start` itself counts as day 1 if it is a working day:
          received Monday + 5 = that Friday. If `start` is not a working day, counting
          begins on the next working day, exactly as with the default.
        - `n == 0` returns `start` if it is a working day, else the next working day
          (either way round).
        - A negative `n` raises ValueError.
        """
        _require_date(start)
        if n < 0:
            raise ValueError(f"Working days to add must be zero or more, not {n}.")
        start_works = self.is_working_day(start)
        if n == 0:
            return start if start_works else self.next_working_day(start)
        if count_start and start_works:
            n -= 1
        d = start
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days after `a` up to and including `b`; 0 if `b` is on or before `a`.

        So a task received on `a` and done on `b` took this many working days.
        """
        _require_date(a)
        _require_date(b)
        if b <= a:
            return 0
        weekdays = _weekdays_up_to(b) - _weekdays_up_to(a)
        # Count each weekday lost to a holiday or closure once, even if it is both.
        lost = {d for d in self.closures if a < d <= b and d.weekday() < 5}
        for year in range(a.year, b.year + 1):
            lost.update(
                d for d in _bank_holidays(self.nation, year) if a < d <= b and d.weekday() < 5
            )
        return weekdays - len(lost)


def day_began(now: datetime, tz: tzinfo) -> datetime:
    """Local midnight before ``now`` in ``tz``: where "today" starts for a team."""
    return datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
