"""The Chinese working-day calendar and the statutory periods counted on it."""

import datetime as dt

import pytest

from safetynet.assistance import clocks
from safetynet.assistance.clocks import CalendarOutOfRange

D = dt.date


def test_national_day_notice_runs_past_the_holiday_with_makeup_days():
    # 2024-09-29 (Sunday) is a make-up working day; 10-01..10-07 is the National Day holiday.
    assert clocks.is_working_day(D(2024, 9, 29))
    assert not clocks.is_working_day(D(2024, 10, 3))
    assert clocks.is_working_day(D(2024, 10, 12))  # Saturday, make-up working day
    # Seven days from the day after the start end on 10-06, a holiday: the period runs on
    # to the first working day after it.
    assert clocks.period_end(D(2024, 9, 29), 7) == D(2024, 10, 8)


def test_a_notice_ending_on_a_working_day_is_not_extended():
    assert clocks.period_end(D(2024, 6, 3), 7) == D(2024, 6, 11)  # 06-10 is the Dragon Boat holiday
    assert clocks.period_end(D(2024, 6, 12), 7) == D(2024, 6, 19)


def test_working_days_skip_holidays_and_count_makeup_weekends():
    # From Friday 2024-09-27: Sunday 09-29 (make-up), Monday 09-30, then 10-08 after the holiday.
    assert clocks.add_working_days(D(2024, 9, 27), 3) == D(2024, 10, 8)
    assert clocks.add_working_days(D(2024, 9, 27), 0) == D(2024, 9, 27)
    assert clocks.working_days_between(D(2024, 9, 27), D(2024, 10, 8)) == 3
    assert clocks.working_days_between(D(2024, 10, 8), D(2024, 9, 27)) == -3
    # 30 working days from Friday 2024-09-20 across the holiday (two make-up Sundays/Saturdays)
    assert clocks.add_working_days(D(2024, 9, 20), 30) == D(2024, 11, 6)


def test_dates_beyond_the_holiday_data_fail_loudly_in_both_languages():
    first, last = clocks.coverage()
    assert first <= 2024 <= last
    with pytest.raises(CalendarOutOfRange) as info:
        clocks.add_working_days(D(last, 12, 28), 5)
    assert "节假日数据" in info.value.zh and "holiday data" in info.value.en
    with pytest.raises(CalendarOutOfRange):
        clocks.is_working_day(D(first - 1, 6, 1))


def test_month_arithmetic():
    assert clocks.add_months(D(2024, 11, 30), 3) == D(2025, 2, 28)
    assert clocks.add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert clocks.next_month(D(2024, 12, 15)) == D(2025, 1, 1)
    assert clocks.parse_month("2024-07") == D(2024, 7, 1)
    with pytest.raises(Exception) as info:
        clocks.parse_month("July")
    assert "YYYY-MM" in str(info.value)
