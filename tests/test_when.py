"""Follow-up times as duty workers type them, read in the team's zone (Europe/London)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.kernel.when import WhenError, parse_when, read_date, split_when

LONDON = ZoneInfo("Europe/London")
WED = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # Wednesday, GMT: London wall time == UTC
FRI = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 10:00", utc(2026, 11, 19, 10, 0)),
        ("tomorrow", utc(2026, 11, 19, 9, 0)),
        ("Tomorrow at 3pm", utc(2026, 11, 19, 15, 0)),
        ("today 15:30", utc(2026, 11, 18, 15, 30)),
        ("15:00", utc(2026, 11, 18, 15, 0)),  # still ahead today
        ("11:00", utc(2026, 11, 19, 11, 0)),  # already gone: tomorrow
        ("12:00", utc(2026, 11, 19, 12, 0)),  # exactly now is not ahead
        ("3pm", utc(2026, 11, 18, 15, 0)),
        ("3:30pm", utc(2026, 11, 18, 15, 30)),
        ("3.30pm", utc(2026, 11, 18, 15, 30)),
        ("3 PM", utc(2026, 11, 18, 15, 0)),
        ("12am", utc(2026, 11, 19, 0, 0)),
        ("9am", utc(2026, 11, 19, 9, 0)),
        ("at 16:45", utc(2026, 11, 18, 16, 45)),
        ("in 3 days", utc(2026, 11, 21, 12, 0)),
        ("in 2 hours", utc(2026, 11, 18, 14, 0)),
        ("in 30 mins", utc(2026, 11, 18, 12, 30)),
        ("in 30 minutes", utc(2026, 11, 18, 12, 30)),
        ("in 30m", utc(2026, 11, 18, 12, 30)),
        ("in an hour", utc(2026, 11, 18, 13, 0)),
        ("in 1 week", utc(2026, 11, 25, 12, 0)),
        ("in 2 weeks", utc(2026, 12, 2, 12, 0)),
        ("fri 14:00", utc(2026, 11, 20, 14, 0)),
        ("FRIDAY", utc(2026, 11, 20, 9, 0)),
        ("monday", utc(2026, 11, 23, 9, 0)),
        ("mon 2pm", utc(2026, 11, 23, 14, 0)),
        ("wed", utc(2026, 11, 25, 9, 0)),  # today's 09:00 has gone: next Wednesday
        ("wed 17:00", utc(2026, 11, 18, 17, 0)),  # still ahead today
        ("2026-12-01", utc(2026, 12, 1, 9, 0)),
        ("2026-12-01 09:30", utc(2026, 12, 1, 9, 30)),
        ("2026-12-01T09:30", utc(2026, 12, 1, 9, 30)),
        ("2027-06-01 09:30", utc(2027, 6, 1, 8, 30)),  # BST
        ("1/12/2026 09:30", utc(2026, 12, 1, 9, 30)),
        ("1/12/2026", utc(2026, 12, 1, 9, 0)),
        ("3/4/2027", utc(2027, 4, 3, 8, 0)),  # day first: 3 April, BST
        ("1.12.2026 14:00", utc(2026, 12, 1, 14, 0)),
        ("1 Dec 14:00", utc(2026, 12, 1, 14, 0)),
        ("1st december", utc(2026, 12, 1, 9, 0)),
        ("1 Dec 2027", utc(2027, 12, 1, 9, 0)),
        ("10 Nov", utc(2027, 11, 10, 9, 0)),  # already gone this year: next year
        ("29 feb", utc(2028, 2, 29, 9, 0)),  # waits for a leap year
    ],
)
def test_reads_each_form_in_london(text: str, expected: datetime) -> None:
    got = parse_when(text, WED, LONDON)
    assert got == expected
    assert got.utcoffset() is not None and got.utcoffset().total_seconds() == 0


def test_friday_on_a_friday_depends_on_the_time() -> None:
    assert parse_when("fri 14:00", FRI, LONDON) == utc(2026, 11, 20, 14, 0)
    assert parse_when("fri 10:00", FRI, LONDON) == utc(2026, 11, 27, 10, 0)
    assert parse_when("fri", FRI, LONDON) == utc(2026, 11, 27, 9, 0)


class TestClockChange:
    """Europe/London goes to BST at 01:00 UTC on Sunday 2027-03-28 and back on 2027-10-31."""

    SAT_BEFORE_SPRING = utc(2027, 3, 27, 12, 0)
    SAT_BEFORE_AUTUMN = utc(2027, 10, 30, 12, 0)  # 13:00 BST

    def test_tomorrow_morning_is_in_summer_time(self) -> None:
        assert parse_when("tomorrow 10:00", self.SAT_BEFORE_SPRING, LONDON) == utc(
            2027, 3, 28, 9, 0
        )

    def test_days_keep_the_wall_clock_but_hours_are_elapsed_time(self) -> None:
        now = self.SAT_BEFORE_SPRING
        assert parse_when("in 1 day", now, LONDON) == utc(2027, 3, 28, 11, 0)  # 12:00 BST
        assert parse_when("in 24 hours", now, LONDON) == utc(2027, 3, 28, 12, 0)  # 13:00 BST

    def test_weekday_after_the_change(self) -> None:
        assert parse_when("monday", utc(2027, 3, 26, 12, 0), LONDON) == utc(2027, 3, 29, 8, 0)

    def test_back_to_gmt(self) -> None:
        now = self.SAT_BEFORE_AUTUMN
        assert parse_when("tomorrow 10:00", now, LONDON) == utc(2027, 10, 31, 10, 0)
        assert parse_when("11:00", now, LONDON) == utc(2027, 10, 31, 11, 0)

    def test_skipped_hour_moves_forward(self) -> None:
        # 01:30 never happens on 28 March; we take it as 02:30 BST rather than fail.
        got = parse_when("2027-03-28 01:30", self.SAT_BEFORE_SPRING, LONDON)
        assert got == utc(2027, 3, 28, 1, 30)
        assert got.astimezone(LONDON).strftime("%H:%M %Z") == "02:30 BST"

    def test_repeated_hour_takes_the_first(self) -> None:
        got = parse_when("2027-10-31 01:30", self.SAT_BEFORE_AUTUMN, LONDON)
        assert got == utc(2027, 10, 31, 0, 30)


def test_other_zone() -> None:
    assert parse_when("tomorrow 10:00", WED, ZoneInfo("America/New_York")) == utc(
        2026, 11, 19, 15, 0
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tomorow 10:00", "I couldn't read 'tomorow 10:00' as a time. Try 'tomorrow 10:00'"),
        ("blah", "I couldn't read 'blah' as a time"),
        ("", "I need a time"),
        ("   ", "I need a time"),
        ("today", "like 'today 15:30'"),
        ("25:00", "'25:00' isn't a real time of day"),
        ("13pm", "'13pm' isn't a real time of day"),
        ("2026-02-30", "'2026-02-30' isn't a real date"),
        ("31/2/2026", "isn't a real date"),
        ("in 0 days", "right now"),
        ("in 99999 days", "too far ahead"),
        ("in three days", "I couldn't read"),
        ("fri 1 dec", "I couldn't read"),
        ("1 at", "I couldn't read"),  # dateutil would skip "at"; we don't
    ],
)
def test_garbage_gets_a_helpful_sentence(text: str, says: str) -> None:
    with pytest.raises(WhenError) as info:
        parse_when(text, WED, LONDON)
    message = str(info.value)
    assert says in message
    assert "\n" not in message and message.endswith(".")


def test_date_out_of_range_is_a_when_error() -> None:
    with pytest.raises(WhenError):
        parse_when("9999-12-31 23:00", WED, ZoneInfo("America/New_York"))


def test_long_garbage_is_quoted_short() -> None:
    with pytest.raises(WhenError) as info:
        parse_when("x" * 5000, WED, LONDON)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("tomorrow 10:00 call the landlord back", ("tomorrow 10:00", "call the landlord back")),
        ("in 3 days", ("in 3 days", "")),
        ("in 3 days ring school", ("in 3 days", "ring school")),
        ("fri 14:00", ("fri 14:00", "")),
        ("fri 2 calls to make", ("fri", "2 calls to make")),
        ("2026-12-01 09:30 note", ("2026-12-01 09:30", "note")),
        ("1 Dec 14:00 ring school", ("1 Dec 14:00", "ring school")),
        ("3 pm check in", ("3 pm", "check in")),
        ("Tomorrow Call Landlord", ("Tomorrow", "Call Landlord")),
        ("tomorrow at 10:00 visit", ("tomorrow at 10:00", "visit")),
    ],
)
def test_split_when_takes_the_longest_time(words: str, expected: tuple[str, str]) -> None:
    assert split_when(words.split()) == expected


@pytest.mark.parametrize("words", [[], ["call", "back"], ["tomorow", "10:00"], ["25:00", "x"]])
def test_split_when_without_a_time(words: list[str]) -> None:
    with pytest.raises(WhenError):
        split_when(words)


def test_read_date() -> None:
    assert read_date("2026-12-01").isoformat() == "2026-12-01"
    assert read_date("1/12/2026").isoformat() == "2026-12-01"
    for bad in ("1/12", "2026-02-30", "tomorrow", ""):
        with pytest.raises(WhenError):
            read_date(bad)


# --- properties ---------------------------------------------------------------------------

_VOCAB = [
    "in", "at", "tomorrow", "today", "fri", "monday", "sun", "dec", "feb", "1", "3", "29", "30",
    "0", "99999", "pm", "am", "days", "hours", "mins", "week", "an", "a", "noon", "10:00",
    "25:99", "9.30", "12:00pm", "3pm", "2026-12-01", "2026-12-01t09:30", "0000-01-01",
    "9999-12-31", "1/12/2026", "31/2", "1.12.26", "1st", "2027", "30m",
]  # fmt: skip
_when_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(_VOCAB) | st.text(max_size=6), max_size=4).map(" ".join),
)
_nows = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_zones = st.sampled_from(
    [LONDON, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Tokyo")]
)


@settings(max_examples=300)
@given(text=_when_text, now=_nows, tz=_zones)
def test_any_text_gives_a_utc_time_or_when_error(text: str, now: datetime, tz: ZoneInfo) -> None:
    try:
        got = parse_when(text, now, tz)
    except WhenError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0


@settings(max_examples=200)
@given(words=st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=5))
def test_what_split_when_accepts_parse_when_can_read(words: list[str]) -> None:
    try:
        when, note = split_when(words)
    except WhenError:
        return
    assert " ".join(words) == f"{when} {note}".strip()
    parse_when(when, WED, LONDON)  # must not raise
