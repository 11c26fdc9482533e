"""After a level's page: schedule the call each paged person's rules ask for (EventBridge Scheduler, one-time).

Whose rules: a chain of plain numbers follows `voiceAfterSeconds` (0: never); a policy level follows each person's
`notify` in oncall.yaml (escalation.oncall.notify), found by their number in the deployed definitions. A call due
no sooner than the level's window ends is not scheduled (the level would be over).

Once per call: the schedule's name is made from the incident pass, level and number, so a retried page finds
it there (ConflictException) instead of scheduling a second call. Scheduler fires within the minute it is set
for: the schedule is set for the minute before the call is due (or the current one, for a call due within a
minute), and the call waits for its second (escalation.voice.calls): it never rings late for Scheduler's sake.
A schedule that cannot be created is a fault of ours: recorded on the incident (`call_not_made`), told to ops, and
the page stands.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.heartbeat_schedules import SCHEDULE_MAX_EVENT_AGE_SECONDS, SCHEDULE_RETRY_ATTEMPTS, scheduler_client
from escalation.incidents.levels import phone_of
from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.voice.calls import CallRequest, not_made


def voice_delays(deps: Dependencies, entry: str, numbers: list[str]) -> dict[str, int]:
    """Seconds from the page to the call, for each number of the level that is called."""
    if phone_of(entry) is not None:
        delay = deps.settings.voice_after_seconds
        return {number: delay for number in numbers} if delay > 0 else {}
    if deps.oncall_table is None:
        return {}
    from escalation.oncall.store import NoDefinitions, OncallStore  # noqa: PLC0415 (pydantic only for policy levels)

    try:
        people = OncallStore(deps.oncall_table).definitions().people.values()
    except NoDefinitions:
        return {}
    delays = {person.phone: person.voice_after_seconds for person in people if person.voice_after_seconds is not None}
    return {number: delays[number] for number in numbers if number in delays}


def schedule_name(request: CallRequest) -> str:
    """The same for every attempt of one call (<= 64 characters)."""
    return "call-" + hashlib.sha256(request.key.encode()).hexdigest()[:40]


def _create(deps: Dependencies, request: CallRequest) -> None:
    settings = deps.settings
    early = max(request.due - 60, time.time())  # fired within the minute before the call is due, never after it
    minute = datetime.fromtimestamp(early - early % 60, UTC)
    target: dict[str, Any] = {
        "Arn": settings.voice_function_arn,
        "RoleArn": settings.voice_scheduler_role_arn,
        "Input": json.dumps({"incident_id": request.incident_id, "execution": request.execution, "level": request.level,
                             "number": request.number, "due": request.due}),
        "RetryPolicy": {"MaximumRetryAttempts": SCHEDULE_RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": SCHEDULE_MAX_EVENT_AGE_SECONDS},
    }  # fmt: skip
    if settings.voice_dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": settings.voice_dead_letter_arn}
    try:
        scheduler_client().create_schedule(
            Name=schedule_name(request), GroupName=settings.voice_schedule_group,
            ScheduleExpression=f"at({minute:%Y-%m-%dT%H:%M:%S})", ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"}, Target=target, ActionAfterCompletion="DELETE",
            Description=f"call about incident {request.incident_id[:100]}, level {request.level + 1}",
        )  # fmt: skip
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConflictException":
            return  # scheduled by an earlier attempt of this page
        not_made(deps, request, "the call could not be scheduled", str(error)[:500])
        return
    due = datetime.fromtimestamp(request.due, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    entry = timeline_entry(Event.CALL_SCHEDULED, utc_now(), level=request.level, phone=request.number, due=due)
    deps.incidents.append(request.incident_id, entry)


def schedule_calls(deps: Dependencies, event: dict[str, Any], numbers: list[str], *, sent_key: str, window: int) -> None:
    """Schedule the calls the rules of the level's numbers ask for, for those paged (`sent#<sent_key>#<number>` done).

    A level's first page only: reminders schedule nothing.
    """
    if not deps.settings.voice_function_arn or int(event.get("attempt", 0)) != 0:
        return
    paged = [number for number in numbers if deps.once.done(f"sent#{sent_key}#{number}")]
    level = int(event["level"])
    now = time.time()
    for number, delay in voice_delays(deps, event["contacts"][level], paged).items():
        if delay >= window:
            logger.info("no call: the level ends before it is due", extra={"level": level, "delay": delay, "window": window})
            continue
        request = CallRequest(event["incident_id"], event["execution"], level, number, round(now + delay, 3))
        deps.once.once(f"call_scheduled#{request.key}", lambda request=request: _create(deps, request))  # type: ignore[misc]
