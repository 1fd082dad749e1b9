"""EventBridge Scheduler expressions: `cron(...)`, `rate(...)` and `at(...)`, parsed as the
Scheduler user guide ("Schedule types in EventBridge Scheduler") and the cron reference
("Cron expressions reference", EventBridge) describe them, and the next time each one fires.

AWS cron is not Unix cron: six fields (minutes hours day-of-month month day-of-week year), days of
the week 1-7 = SUN-SAT, exactly one of day-of-month and day-of-week is `?`, and `L`, `W` and `#`
exist. `parse` refuses (ScheduleError, one line) what the guide does not allow; `next_run` is the
first fire time strictly after a moment, in the schedule's time zone.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}  # JAN=1 ... DEC=12
DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
# Rate units as the Scheduler API lists them; like EventBridge's rate rules, 1 takes the singular.
RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_EXPRESSION = re.compile(r"^(?P<kind>cron|rate|at)\((?P<body>.*)\)$")
_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_NUMBER = re.compile(r"^\d+$")


class ScheduleError(ValueError):
    """An expression the Scheduler would refuse; the message says which part and why."""


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    wildcards: str  # beyond the digits: what the cron reference allows in this field


FIELDS = (
    Field("minutes", 0, 59, {}, ",-*/"),
    Field("hours", 0, 23, {}, ",-*/"),
    Field("day-of-month", 1, 31, {}, ",-*?/LW"),
    Field("month", 1, 12, MONTHS, ",-*/"),
    Field("day-of-week", 1, 7, DAYS, ",-*?L#"),
    Field("year", 1970, 2199, {}, ",-*/"),
)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_matches: Callable[[date], bool]


@dataclass(frozen=True)
class Schedule:
    kind: str  # cron | rate | at
    expression: str
    cron: Cron | None = None
    rate_seconds: int | None = None
    at: datetime | None = None  # naive: wall time in the schedule's time zone


def parse(expression: str) -> Schedule:
    """The parsed expression, or ScheduleError naming what is wrong."""
    match = _EXPRESSION.match(expression.strip()) if isinstance(expression, str) else None
    if not match:
        raise ScheduleError(f"{expression!r} is not cron(...), rate(...) or at(...)")
    kind, body = match["kind"], match["body"].strip()
    if kind == "rate":
        return Schedule(kind, expression, rate_seconds=_rate(body))
    if kind == "at":
        if not _AT.match(body):
            raise ScheduleError(f"at({body}) is not at(yyyy-mm-ddThh:mm:ss)")
        try:
            return Schedule(kind, expression, at=datetime.fromisoformat(body))
        except ValueError as exc:
            raise ScheduleError(f"at({body}): {exc}") from None
    return Schedule(kind, expression, cron=_cron(body))


def timezone(name: str | None) -> ZoneInfo:
    """An IANA time zone (Scheduler's ScheduleExpressionTimezone; UTC when none is given)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r} (an IANA name such as Europe/London)") from None


def _rate(body: str) -> int:
    parts = body.split()
    if len(parts) != 2 or not _NUMBER.match(parts[0]) or int(parts[0]) < 1:
        raise ScheduleError(f"rate({body}) is not rate(VALUE UNIT) with a positive whole VALUE")
    value, unit = int(parts[0]), parts[1]
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in RATE_UNITS:
        raise ScheduleError(f"rate({body}): the unit is one of minute(s), hour(s), day(s), not {unit!r}")
    if (value == 1) != (unit == singular):
        wanted = singular if value == 1 else singular + "s"
        raise ScheduleError(f"rate({body}): write rate({value} {wanted})")
    return value * RATE_UNITS[singular]


def _cron(body: str) -> Cron:
    parts = body.split()
    if len(parts) != 6:
        raise ScheduleError(
            f"cron({body}) has {len(parts)} fields; AWS cron has six: minutes hours day-of-month month day-of-week year"
        )
    minutes, hours, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"cron({body}): exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_values(FIELDS[0], minutes),
        hours=_values(FIELDS[1], hours),
        months=_values(FIELDS[3], month),
        years=_values(FIELDS[5], year),
        day_matches=_day_of_month(dom) if dow == "?" else _day_of_week(dow),
    )


def _check(field: Field, text: str) -> None:
    allowed = set(field.wildcards) | set("0123456789") | set("".join(field.names))
    bad = sorted(set(text.upper()) - allowed)
    if bad or not text:
        raise ScheduleError(f"{field.name} field {text!r}: {''.join(bad) or 'empty'} not allowed there")


def _number(field: Field, text: str) -> int:
    value = field.names.get(text.upper()) if not _NUMBER.match(text) else int(text)
    if value is None or not field.low <= value <= field.high:
        raise ScheduleError(f"{field.name} field: {text!r} is outside {field.low}-{field.high}")
    return value


def _values(field: Field, text: str) -> frozenset[int]:
    """Values of a field made of `,` lists of `*`, N, N-M, and `/` steps (N/S, */S, N-M/S)."""
    _check(field, text)
    if text == "?":
        raise ScheduleError(f"{field.name} field: '?' is for day-of-month or day-of-week only")
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if slash and "/" not in field.wildcards:
            raise ScheduleError(f"{field.name} field {text!r}: '/' not allowed there")
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _number(field, first), _number(field, last)
            if low > high:
                raise ScheduleError(f"{field.name} field: range {base!r} runs backwards")
        else:
            low = _number(field, base)
            high = field.high if slash else low
        step = 1
        if slash:
            if not _NUMBER.match(step_text) or int(step_text) < 1:
                raise ScheduleError(f"{field.name} field {item!r}: the increment after '/' is a positive number")
            step = int(step_text)
        values.update(range(low, high + 1, step))
    return frozenset(values)


def _day_of_month(text: str) -> Callable[[date], bool]:
    field = FIELDS[2]
    _check(field, text)
    if text == "L":
        return lambda day: day.day == _month_length(day)
    if text.endswith("W"):
        nearest = _number(field, text[:-1])
        return lambda day: day == _nearest_weekday(day.year, day.month, nearest)
    if "L" in text or "W" in text:
        raise ScheduleError(f"day-of-month field {text!r}: L stands alone, W follows one day (15W)")
    days = _values(field, text)
    return lambda day: day.day in days


def _day_of_week(text: str) -> Callable[[date], bool]:
    field = FIELDS[4]
    _check(field, text)
    if "#" in text:
        if "," in text:
            raise ScheduleError(f"day-of-week field {text!r}: with '#' only one expression is allowed (3#2)")
        weekday_text, _, nth_text = text.partition("#")
        weekday = _number(field, weekday_text)
        if not _NUMBER.match(nth_text) or not 1 <= int(nth_text) <= 5:
            raise ScheduleError(f"day-of-week field {text!r}: the instance after '#' is 1-5")
        nth = int(nth_text)
        return lambda day: aws_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if text == "L":
        return lambda day: aws_weekday(day) == DAYS["SAT"]  # the last day of the week
    if text.endswith("L"):
        weekday = _number(field, text[:-1])  # 6L: the month's last Friday
        return lambda day: aws_weekday(day) == weekday and day.day + 7 > _month_length(day)
    if "L" in text:
        raise ScheduleError(f"day-of-week field {text!r}: L stands alone or follows one day (6L)")
    days = _values(field, text)
    return lambda day: aws_weekday(day) in days


def aws_weekday(day: date) -> int:
    """1 = Sunday ... 7 = Saturday (Python's Monday = 0)."""
    return (day.weekday() + 1) % 7 + 1


def _month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(year: int, month: int, wanted: int) -> date | None:
    """The weekday (MON-FRI) nearest the `wanted` day, never leaving the month (Quartz's W)."""
    length = calendar.monthrange(year, month)[1]
    if wanted > length:
        return None
    day = date(year, month, wanted)
    if day.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return day - timedelta(days=1) if wanted > 1 else day + timedelta(days=2)
    if day.weekday() == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return day + timedelta(days=1) if wanted < length else day - timedelta(days=2)
    return day


def next_run(schedule: Schedule, zone: ZoneInfo, after: datetime, *, start: datetime | None = None) -> datetime | None:
    """The first fire time strictly after `after` (aware), in UTC; None when there is none (an
    at() or a cron year that is past) or it cannot be known (a rate schedule without `start`, the
    moment its first run was due: Scheduler starts a rate schedule when it is created)."""
    after = after.astimezone(UTC)
    if schedule.rate_seconds is not None:
        if start is None:
            return None
        start = start.astimezone(UTC)
        if start > after:
            return start
        periods = int((after - start).total_seconds() // schedule.rate_seconds) + 1
        return start + timedelta(seconds=periods * schedule.rate_seconds)
    if schedule.at is not None:
        moment = schedule.at.replace(tzinfo=zone).astimezone(UTC)
        return moment if moment > after else None
    assert schedule.cron is not None
    return _next_cron(schedule.cron, zone, after)


def _next_cron(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    local = after.astimezone(zone)
    day = local.date()
    for year in sorted(y for y in cron.years if y >= day.year):
        for month in sorted(m for m in cron.months if (year, m) >= (day.year, day.month)):
            first = day.day if (year, month) == (day.year, day.month) else 1
            for number in range(first, calendar.monthrange(year, month)[1] + 1):
                candidate = date(year, month, number)
                if not cron.day_matches(candidate):
                    continue
                for hour in sorted(cron.hours):
                    for minute in sorted(cron.minutes):
                        wall = datetime(year, month, number, hour, minute, tzinfo=zone)
                        if wall.astimezone(UTC) > after:
                            return wall.astimezone(UTC)
    return None
