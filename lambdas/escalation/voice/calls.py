"""A scheduled call comes due (lambdas/place_call.py): call the person unless their page was answered meanwhile.

The page step scheduled it (escalation.voice.scheduling) for the level that texted the person. When it comes:

1. Nothing happens when the call is moot: the incident was acknowledged or resolved, a new pass or another
   incident replaced it, the escalation moved past that level, or the number is no longer in it. A YES stops
   every method not yet placed; a call already ringing cannot be taken back.
2. Once per call (incident pass, level, number): a schedule delivered twice places one call.
3. A storm is one call: the first call for a person in STORM_SECONDS says how many incidents they have open,
   the others are covered by it (`call_covered`).
4. The daily budget (escalation.voice.limits): past it, or with only the last call left and the incident not
   critical, no call (`call_not_made`, reason budget); ops are told, the text stands, the level goes on.
5. The pace: the call waits for its slot (3 s a call); a slot further than MAX_PACING_WAIT_SECONDS raises, and
   the invocation is retried.
6. The call. Throttling raises (retried); any other error is ours or the number's: `call_not_made` with the
   error, ops told, the level goes on. A placed call is `called` on the timeline and in the message log
   (kind `call`), so its voice receipts reach the timeline (escalation.sms.receipts).

Nothing here ends a level: only a reply, the window or the page's own failure do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from escalation.incidents.levels import numbers_at
from escalation.incidents.status import Event, is_open
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.platform import aws_clients
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.replies.matching import Inbox
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.voice.limits import Budget, VoiceLimits
from escalation.voice.sender import VoiceSender
from escalation.voice.ssml import call_script

# The schedule fires within the minute before the call is due: the call waits for its own second, never longer than this.
MAX_EARLY_SECONDS = 125
MAX_PACING_WAIT_SECONDS = 60
CALL_TTL_SECONDS = 120  # a call the service could not start within this is dropped (VOICE_TTL_EXPIRED): it would be late
HIGHEST_SEVERITY = "critical"
BUDGET_REASONS = {
    Budget.EXHAUSTED: "the daily limit of calls to this number (5 in 24 hours) is reached: texts only",
    Budget.KEPT_FOR_CRITICAL: "the last call of the day to this number is kept for a critical incident: texts only",
}


class InvalidCall(ValueError):
    """The schedule's input is not a call; retrying cannot fix it."""


class CallsBusy(RuntimeError):
    """The calls' queue is longer than a function may wait; the invocation is retried."""


@dataclass(frozen=True)
class CallRequest:
    """What a call's schedule says: whom, about which pass and level of which incident, and when it is due."""

    incident_id: str
    execution: str
    level: int
    number: str
    due: float  # epoch seconds

    @property
    def key(self) -> str:
        """The call's once-only key: one call per incident pass, level and number."""
        return f"call#{self.execution}#{self.level}#{self.number}"


def parse_request(payload: Any) -> CallRequest:
    """The schedule's input, checked; InvalidCall names the field at fault."""
    if not isinstance(payload, dict):
        raise InvalidCall("the input is not a JSON object")
    for field in ("incident_id", "execution", "number"):
        if not isinstance(payload.get(field), str) or not payload[field]:
            raise InvalidCall(f"{field}: must be a non-empty string")
    for field in ("level", "due"):
        if isinstance(payload.get(field), bool) or not isinstance(payload.get(field), int | float) or payload[field] < 0:
            raise InvalidCall(f"{field}: must be a non-negative number")
    return CallRequest(
        payload["incident_id"], payload["execution"], int(payload["level"]), payload["number"], float(payload["due"])
    )


def moot(item: dict[str, Any] | None, request: CallRequest) -> str | None:
    """Why the call is no longer wanted (None: it is)."""
    if item is None:
        return "the incident no longer exists"
    if item.get("execution_arn") != request.execution:
        return "a new pass or a new incident with this id replaced this one"
    if not is_open(item):
        return f"the incident is {item.get('incident_stat')}"
    if int(item.get("escalation_level", 0)) != request.level:
        return "the escalation moved on from this level"
    if request.number not in numbers_at(item, request.level):
        return "the number is not paged at this level"
    return None


def _tell_ops(deps: Dependencies, key: str, subject: str, body: str) -> None:
    if deps.settings.ops_topic_arn:
        topic = deps.settings.ops_topic_arn
        deps.once.once(key, lambda: aws_clients.sns().publish(TopicArn=topic, Subject=subject[:100], Message=body))


def not_made(deps: Dependencies, request: CallRequest, reason: str, error: str | None = None) -> dict[str, Any]:
    """Record a call that could not be placed and tell ops; the level goes on (its text stands)."""
    entry = timeline_entry(Event.CALL_NOT_MADE, utc_now(), level=request.level, phone=request.number, reason=reason,
                           error=error)  # fmt: skip
    deps.incidents.append(request.incident_id, entry)
    detail = f"{reason}" + (f" ({error})" if error else "")
    _tell_ops(
        deps, f"ops#call_not_made#{request.key}", f"Incident {request.incident_id}: call not made",
        f"The call to {entry.get('phone')} about incident {request.incident_id} (level {request.level + 1}) was not "
        f"made: {detail}.\nThe page was texted and the escalation goes on; the incident's timeline shows it.",
    )  # fmt: skip
    logger.warning("call not made", extra={"incident_id": request.incident_id, "reason": reason, "error": error})
    return {"result": "not_made", "reason": reason, "error": error}


def _call(deps: Dependencies, request: CallRequest, item: dict[str, Any], sender: VoiceSender) -> dict[str, Any]:
    """Steps 3 to 6 for a call that is still wanted, under its once-only key."""
    limits = VoiceLimits(deps.once.table)
    covered_by = limits.claim_storm(request.number, request.key)
    if covered_by is not None:
        entry = timeline_entry(Event.CALL_COVERED, utc_now(), level=request.level, phone=request.number, covered_by=covered_by)
        deps.incidents.append(request.incident_id, entry)
        return {"result": "covered", "covered_by": covered_by}
    open_items = [other for other in Inbox(deps.incidents, deps.message_log, request.number, newest=False).items
                  if is_open(other) and other["incident_id"] != request.incident_id]  # fmt: skip
    # No severity (an item written to the table, the CLI) counts as the highest.
    critical = any(str(one.get("severity") or HIGHEST_SEVERITY) == HIGHEST_SEVERITY for one in (item, *open_items))
    budget = limits.take(request.number, request.key, critical=critical)
    if budget is not Budget.OK:
        return not_made(deps, request, BUDGET_REASONS[budget])
    slot = limits.pace().reserve_within(1, MAX_PACING_WAIT_SECONDS * 1000)
    if slot is None:
        raise CallsBusy(f"the next call slot is more than {MAX_PACING_WAIT_SECONDS} s away")
    time.sleep(max(0.0, slot / 1000 - time.time()))
    fresh = deps.incidents.get(request.incident_id)
    reason = moot(fresh, request)
    if reason is not None:  # answered while the call waited for its slot
        limits.give_back(request.number, request.key)
        return {"result": "not_needed", "reason": reason}
    ssml = call_script(request.incident_id, str(item.get("description", "")), open_incidents=1 + len(open_items))
    try:
        message_id = sender.call(request.number, ssml, incident_id=request.incident_id, ttl_seconds=CALL_TTL_SECONDS)
    except SmsThrottled:
        raise  # retried by Lambda; the budget entry and the storm claim are this call's
    except (SmsFailed, SmsAccountFault) as error:
        limits.give_back(request.number, request.key)
        return not_made(deps, request, "the call could not be placed", str(error)[:500])
    at = utc_now()
    deps.message_log.record(message_id, incident_id=request.incident_id, contact=request.number, level=request.level,
                            kind="call", at=at, execution=request.execution)  # fmt: skip
    entry = timeline_entry(Event.CALLED, at, level=request.level, phone=request.number, message_id=message_id,
                           open_incidents=1 + len(open_items))  # fmt: skip
    deps.incidents.append(request.incident_id, entry)
    logger.info("call placed", extra={"incident_id": request.incident_id, "level": request.level, "message_id": message_id})
    return {"result": "called", "message_id": message_id, "open_incidents": 1 + len(open_items)}


def place_call(deps: Dependencies, request: CallRequest, sender: VoiceSender) -> dict[str, Any]:
    """Place the call the schedule stands for, if it is still wanted (see the module's docstring)."""
    time.sleep(min(MAX_EARLY_SECONDS, max(0.0, request.due - time.time())))  # fired in the minute before the due second
    item = deps.incidents.get(request.incident_id)
    reason = moot(item, request)
    if reason is not None or item is None:
        logger.info("call not needed", extra={"incident_id": request.incident_id, "reason": reason})
        return {"result": "not_needed", "reason": reason}
    result: dict[str, Any] = {"result": "duplicate"}
    deps.once.once(request.key, lambda: result.update(_call(deps, request, item, sender)))
    return result
