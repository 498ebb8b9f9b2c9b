"""Statutory clocks on the Chinese working-day calendar.

Working days come from the `chinese-calendar` package, which carries the State Council's
holiday schedule including the make-up working days (调休上班) that fall on weekends. Its data
covers a fixed range of years; a date outside that range cannot be counted honestly (the
schedule for a new year is published in November or December), so every function here raises
`CalendarOutOfRange` instead of guessing that weekends are the only rest days.

Two kinds of periods appear in the procedures:

- **working-day limits** (工作日): "within N working days of X" — the deadline is the N-th
  working day after X (X itself not counted);
- **day periods** (日, e.g. the 7-day village notice): counted in calendar days from the day
  after the start; when the last day is a rest day or public holiday the period ends on the
  first working day after it (民法典 Art. 201 and 203, the general rule for periods).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar

from safetynet.core.errors import SafetyNetError, ValidationFailed


class CalendarOutOfRange(SafetyNetError):
    code = "calendar_out_of_range"


@lru_cache(maxsize=1)
def coverage() -> tuple[int, int]:
    """First and last year the installed holiday data covers."""
    years = {d.year for d in chinese_calendar.holidays} | {
        d.year for d in chinese_calendar.workdays
    }
    return min(years), max(years)


def _check(day: dt.date) -> None:
    first, last = coverage()
    if not first <= day.year <= last:
        raise CalendarOutOfRange(
            f"节假日数据只覆盖 {first}–{last} 年，无法按工作日计算 {day.isoformat()}；"
            "请升级 chinese-calendar 软件包（国务院公布新一年放假安排后）",
            f"the holiday data covers {first}–{last} only; cannot count working days at "
            f"{day.isoformat()}. Upgrade the chinese-calendar package once the State Council "
            "publishes that year's holiday schedule",
            date=day.isoformat(),
        )


def is_working_day(day: dt.date) -> bool:
    _check(day)
    return chinese_calendar.is_workday(day)


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The n-th working day after `start` (start not counted). n = 0 returns start."""
    if n < 0:
        raise ValueError("n must be >= 0")
    day = start
    remaining = n
    while remaining:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]; negative when end is before start."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def period_end(start: dt.date, days: int) -> dt.date:
    """Last day of a period of `days` calendar days starting the day after `start`.

    If that day is a weekend or public holiday, the period runs to the next working day.
    """
    end = start + dt.timedelta(days=days)
    while not is_working_day(end):
        end += dt.timedelta(days=1)
    return end


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's last day (3 months after 11-30 is 02-28)."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    """First day of the month after `day`'s month."""
    return add_months(month_start(day), 1)


def month_end(day: dt.date) -> dt.date:
    return next_month(day) - dt.timedelta(days=1)


def parse_month(text: str) -> dt.date:
    """'2024-07' (or a full date) → 2024-07-01, with a bilingual error for bad input."""
    try:
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        return month_start(dt.date.fromisoformat(text))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"月份格式应为 YYYY-MM：{text!r}", f"month must be YYYY-MM: {text!r}"
        ) from exc
