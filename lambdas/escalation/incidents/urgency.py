"""Urgency: high pages at once, low waits for its targets' working hours (pure rules; the hold is escalation.paging.urgency).

An alert's urgency comes from its `payload.severity` (critical and error: high; warning and info: low) unless its
integration says `urgency: high` or `low`; an incident with no severity (written to the table, or by the CLI) is
high. A low-urgency incident pages a level only within working hours, checked when the level is due, for that
level's targets: each person's own hours in their own zone (`working_hours` in oncall.yaml, default
Mon-Fri 09:00-18:00), or the deployment's `workingHours` in `workingHoursZone` for a number. The level pages when
any of its targets is within hours, else it waits for the first of them to start. A trigger that raises the
incident's severity makes it high at once; the level waiting pages at its next look (escalation.paging.urgency).

Times are local wall-clock times of the zone (zoneinfo does DST): hours from 09:00 stay 09:00 on both sides of a
change, and a start the clocks skip happens at the instant PEP 495 gives it with fold=0 (01:30 on a London
spring-forward day is 02:30 BST).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HIGH, LOW = "high", "low"
URGENCIES = (HIGH, LOW)
LOW_SEVERITIES = ("warning", "info")
DEFAULT_HOURS = "Mon-Fri 09:00-18:00"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*([A-Za-z]{3})(?:\s*-\s*([A-Za-z]{3}))?\s+(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*$")


class BadWorkingHours(ValueError):
    """Working hours that cannot be read; the message says what is expected."""


def urgency_of(severity: str | None, override: str | None = None) -> str:
    """High or low: the integration's override, else low for warning and info, and high for anything else or none."""
    if override in URGENCIES:
        return str(override)
    return LOW if (severity or "").lower() in LOW_SEVERITIES else HIGH


def raises_urgency(current: str | None, severity: str | None, override: str | None = None) -> bool:
    """A repeat whose severity makes a low-urgency incident high."""
    return (current or HIGH) == LOW and urgency_of(severity, override) == HIGH


@dataclass(frozen=True)
class WorkingHours:
    """Working days (0 is Monday) from `start` to `end` local time in `zone`; an end before the start runs overnight."""

    days: frozenset[int]
    start: time
    end: time
    zone: str

    def _window_on(self, day: date) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.zone)
        begin = datetime.combine(day, self.start, tzinfo=zone)
        finish_day = day + timedelta(days=1) if self.end <= self.start else day
        finish = datetime.combine(finish_day, self.end, tzinfo=zone)
        return begin.astimezone(UTC), finish.astimezone(UTC)

    def contains(self, at: datetime) -> bool:
        """Within working hours at the instant."""
        local_day = at.astimezone(ZoneInfo(self.zone)).date()
        for day in (local_day - timedelta(days=1), local_day):  # an overnight period began the day before
            if day.weekday() in self.days:
                begin, finish = self._window_on(day)
                if begin <= at < finish:
                    return True
        return False

    def next_start(self, at: datetime) -> datetime:
        """The first instant at or after `at` within working hours (`at` itself when within them)."""
        if self.contains(at):
            return at
        local_day = at.astimezone(ZoneInfo(self.zone)).date()
        for offset in range(8):
            day = local_day + timedelta(days=offset)
            if day.weekday() in self.days:
                begin, _ = self._window_on(day)
                if begin >= at:
                    return begin
        raise BadWorkingHours("no working day in a week")  # days is never empty (parse_hours)


def parse_hours(text: str, zone: str) -> WorkingHours:
    """`Mon-Fri 09:00-18:00`, `Sat 10:00-14:00`, `Mon-Sun 22:00-06:00` (overnight) in an IANA zone."""
    match = _HOURS.match(text or "")
    if match is None:
        raise BadWorkingHours(f"must be like {DEFAULT_HOURS!r} (days, then from-to in 24 h), got {text!r}")
    first, last, h1, m1, h2, m2 = match.groups()
    try:
        start_day, end_day = DAYS.index(first.lower()), DAYS.index((last or first).lower())
        start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
    except ValueError:
        raise BadWorkingHours(f"days are Mon..Sun and times 00:00-23:59, got {text!r}") from None
    if start == end:
        raise BadWorkingHours(f"from and to must differ, got {text!r}")
    days = (
        frozenset(range(start_day, end_day + 1))
        if start_day <= end_day
        else frozenset([*range(start_day, 7), *range(end_day + 1)])
    )
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadWorkingHours(f"zone: must be an IANA time zone such as Europe/London, got {zone!r}") from None
    return WorkingHours(days, start, end, zone)


def first_start(hours: list[WorkingHours], at: datetime) -> datetime:
    """When the first of these targets is within working hours (`at` when one already is)."""
    return min(each.next_start(at) for each in hours)
