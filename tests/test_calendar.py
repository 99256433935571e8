"""Working days for the duty team: bank holidays per UK nation, closures and counting rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.kernel.calendar import WorkingCalendar

ENG = WorkingCalendar("ENG")
SCT = WorkingCalendar("SCT")

GOOD_FRIDAY_2027 = date(2027, 3, 26)
EASTER_MONDAY_2027 = date(2027, 3, 29)


def test_easter_2027_in_england() -> None:
    assert not ENG.is_working_day(GOOD_FRIDAY_2027)
    assert not ENG.is_working_day(EASTER_MONDAY_2027)
    assert ENG.holiday_name(GOOD_FRIDAY_2027) == "Good Friday"
    assert ENG.holiday_name(EASTER_MONDAY_2027) == "Easter Monday"


def test_easter_monday_is_a_working_day_in_scotland() -> None:
    assert not SCT.is_working_day(GOOD_FRIDAY_2027)
    assert SCT.is_working_day(EASTER_MONDAY_2027)
    assert SCT.holiday_name(EASTER_MONDAY_2027) is None


def test_august_bank_holiday_differs_between_england_and_scotland() -> None:
    first_monday, last_monday = date(2027, 8, 2), date(2027, 8, 30)
    assert ENG.is_working_day(first_monday)
    assert not ENG.is_working_day(last_monday)
    assert not SCT.is_working_day(first_monday)
    assert SCT.is_working_day(last_monday)


def test_scotland_has_a_second_new_year_holiday() -> None:
    # 2 Jan 2027 is a Saturday, so Scotland takes Monday 4 Jan instead.
    assert not SCT.is_working_day(date(2027, 1, 4))
    assert ENG.is_working_day(date(2027, 1, 4))


@pytest.mark.parametrize("nation", ["ENG", "SCT", "WLS", "NIR"])
def test_christmas_2027_on_a_saturday_gives_substitute_days(nation: str) -> None:
    cal = WorkingCalendar(nation)
    christmas_eve = date(2027, 12, 24)  # Friday
    assert christmas_eve.weekday() == 4
    assert not cal.is_working_day(date(2027, 12, 27))
    assert not cal.is_working_day(date(2027, 12, 28))
    assert cal.add_working_days(christmas_eve, 1) == date(2027, 12, 29)
    assert cal.next_working_day(christmas_eve) == date(2027, 12, 29)
    assert cal.previous_working_day(date(2027, 12, 29)) == christmas_eve
    assert cal.working_days_between(christmas_eve, date(2027, 12, 31)) == 3


def test_thursday_before_good_friday_runs_to_the_tuesday_after_easter() -> None:
    thursday, tuesday = date(2027, 3, 25), date(2027, 3, 30)
    assert ENG.next_working_day(thursday) == tuesday
    assert ENG.add_working_days(thursday, 1) == tuesday
    assert ENG.previous_working_day(tuesday) == thursday
    # Scotland works on Easter Monday.
    assert SCT.next_working_day(thursday) == EASTER_MONDAY_2027


def test_weekends_are_not_working_days() -> None:
    assert not ENG.is_working_day(date(2027, 6, 5))  # Saturday
    assert not ENG.is_working_day(date(2027, 6, 6))  # Sunday
    assert ENG.is_working_day(date(2027, 6, 7))  # Monday


def test_closures_from_config_are_not_working_days() -> None:
    closure = date(2027, 12, 29)
    cal = WorkingCalendar("ENG", closures=[closure])
    assert not cal.is_working_day(closure)
    assert cal.holiday_name(closure) == "Office closure"
    assert cal.add_working_days(date(2027, 12, 24), 1) == date(2027, 12, 30)
    assert cal.working_days_between(date(2027, 12, 24), date(2027, 12, 31)) == 2
    # A closure on a bank holiday keeps the bank holiday's name and is counted once.
    both = WorkingCalendar("ENG", closures=[date(2027, 12, 27), closure])
    assert both.holiday_name(date(2027, 12, 27)) == "Christmas Day (observed)"
    assert both.working_days_between(date(2027, 12, 24), date(2027, 12, 31)) == 2


def test_day_of_receipt_does_not_count_by_default() -> None:
    monday = date(2027, 6, 7)
    assert ENG.add_working_days(monday, 5) == date(2027, 6, 14)  # next Monday
    assert ENG.add_working_days(monday, 1) == date(2027, 6, 8)


def test_count_start_makes_the_day_of_receipt_day_one() -> None:
    monday = date(2027, 6, 7)
    assert ENG.add_working_days(monday, 5, count_start=True) == date(2027, 6, 11)  # Friday
    assert ENG.add_working_days(monday, 1, count_start=True) == monday


def test_count_start_on_a_non_working_day_starts_on_the_next_working_day() -> None:
    saturday = date(2027, 6, 5)
    assert ENG.add_working_days(saturday, 1, count_start=True) == date(2027, 6, 7)
    assert ENG.add_working_days(saturday, 1) == date(2027, 6, 7)
    assert ENG.add_working_days(GOOD_FRIDAY_2027, 1, count_start=True) == date(2027, 3, 30)


def test_zero_working_days() -> None:
    monday, saturday = date(2027, 6, 7), date(2027, 6, 5)
    for count_start in (False, True):
        assert ENG.add_working_days(monday, 0, count_start=count_start) == monday
        assert ENG.add_working_days(saturday, 0, count_start=count_start) == monday


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="zero or more"):
        ENG.add_working_days(date(2027, 6, 7), -1)


def test_working_days_between() -> None:
    monday = date(2027, 6, 7)
    assert ENG.working_days_between(monday, date(2027, 6, 14)) == 5
    assert ENG.working_days_between(monday, monday) == 0
    assert ENG.working_days_between(date(2027, 6, 14), monday) == 0
    # Across Easter: Fri 26 and Mon 29 March are holidays in England only.
    assert ENG.working_days_between(date(2027, 3, 24), date(2027, 3, 31)) == 3
    assert SCT.working_days_between(date(2027, 3, 24), date(2027, 3, 31)) == 4


def test_working_days_between_agrees_with_counting_day_by_day() -> None:
    cal = WorkingCalendar("NIR", closures=[date(2027, 7, 13), date(2027, 12, 31)])
    start = date(2026, 12, 20)
    days = [start + timedelta(days=i) for i in range(420)]
    working = [cal.is_working_day(d) for d in days]
    for i in range(0, len(days), 17):
        for j in range(i, len(days), 23):
            expected = sum(working[i + 1 : j + 1])
            assert cal.working_days_between(days[i], days[j]) == expected
            if expected:
                last_working = cal.previous_working_day(days[j] + timedelta(days=1))
                assert cal.add_working_days(days[i], expected) == last_working


def test_add_working_days_inverts_working_days_between() -> None:
    start = date(2027, 12, 20)
    for n in range(0, 30):
        end = ENG.add_working_days(start, n)
        assert ENG.working_days_between(start, end) == n


@pytest.mark.parametrize("nation", ["XYZ", "UK", "GB", "", "England"])
def test_unknown_nation_is_a_clear_error(nation: str) -> None:
    with pytest.raises(ValueError) as err:
        WorkingCalendar(nation)
    message = str(err.value)
    assert repr(nation) in message
    for code in ("ENG", "SCT", "WLS", "NIR"):
        assert code in message


def test_nation_code_is_not_case_sensitive() -> None:
    assert WorkingCalendar(" sct ").is_working_day(EASTER_MONDAY_2027)


def test_a_datetime_is_refused_so_the_time_zone_is_decided_by_the_caller() -> None:
    with pytest.raises(TypeError, match="date"):
        ENG.is_working_day(datetime(2027, 3, 26, 23, 30))
