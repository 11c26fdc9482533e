"""Handoff notices: a text to the person about to go on call, some time before their shift starts.

Off by default (context key handoffNoticeMinutes). A schedule runs the handoff_notices function every
NOTICE_PERIOD_MINUTES; each run notices every shift of every rotation that starts within the next
handoffNoticeMinutes and was not noticed yet (once-only key per rotation, person and start), so a
run that is late, missed or repeated neither loses nor doubles a notice. A shift is a change of
person (the shifts of oncall.shifts are joined when the same person carries on), overrides included.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from escalation.oncall.definitions import Definitions, Override
from escalation.oncall.schedule import OnCallShift, shifts
from escalation.sms import messages
from escalation.sms.messages import Sms

NOTICE_PERIOD_MINUTES = 15  # how often the schedule runs; handoffNoticeMinutes is at least this


def notices_due(
    definitions: Definitions, overrides: list[Override], now: datetime, lead: timedelta
) -> list[tuple[str, OnCallShift]]:
    """(rotation, shift) for each shift with someone on call starting in (now, now + lead], earliest first."""
    due = [
        (rotation, shift)
        for rotation in sorted(definitions.rotations)
        for shift in shifts(definitions, overrides, rotation, now, now + lead + timedelta(seconds=1))
        if now < shift.start <= now + lead and shift.person is not None
    ]
    return sorted(due, key=lambda pair: (pair[1].start, pair[0]))


def notice_key(rotation: str, shift: OnCallShift) -> str:
    """The once-only key of one notice."""
    person = shift.person.id if shift.person else "-"
    return f"handoff#{rotation}#{person}#{shift.start.isoformat()}"


def handoff_notice(rotation: str, shift: OnCallShift) -> Sms:
    """'On call: you take over payments-primary at 09:00 Mon 09 Mar (Europe/London).' in the person's zone."""
    zone = shift.person.zone if shift.person else "UTC"
    return messages.handoff_notice(rotation, f"{shift.start.astimezone(ZoneInfo(zone)):%H:%M %a %d %b}", zone)
