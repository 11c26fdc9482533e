"""Workflow task (waitForTaskToken): page the contact of the current level, or remind them.

A new level's page also records why the previous level ended and, once the page is out, tells that
level's contact: no Lambda stands between a NO and the next page.

Faults are classified once (escalation.sms): only a fault of the contact's number (opted out, invalid
or blocked destination) ends the level. Throttling and faults of our own (quota, spend limit, access,
identity, a crash) raise, so the state machine retries them with backoff, and are shown on the incident
and told to ops at once; they never walk the chain.

Send rate: a page whose send slot is more than a moment away is not sent now. The task completes with
`queued` and the slot's wait, the state machine waits, and the page is sent by a fresh task whose
acknowledgement window starts when the text goes out.
"""

import json
import math
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation import aws_clients, messages
from escalation.matching import other_open_incident
from escalation.observability import SMS_ACCOUNT_FAULT, SMS_FAILED, SMS_THROTTLED, count, logger, metrics
from escalation.repository import utc_now
from escalation.sms import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.status import Event, WorkflowError
from escalation.timeline import level_outcome, timeline_entry
from escalation.wiring import Dependencies, dependencies

MAX_INLINE_WAIT_SECONDS = 1.0  # a slot this close is waited for in the function; further ones in the state machine


def _slot_key(execution: str, level: int, attempt: int) -> str:
    return f"slot#{execution}#{level}#{attempt}"


def _queue_for_slot(deps: Dependencies, sms: messages.Sms, *, execution: str, level: int, attempt: int) -> float:
    """Seconds this page must wait for its send slot (reserved once per execution, level and attempt)."""
    key = _slot_key(execution, level, attempt)
    if deps.once.done(key):
        return 0.0  # the slot was reserved by the queued call before this one, and its wait is over
    wait = deps.notifier.seconds_to_slot(sms)
    if wait > MAX_INLINE_WAIT_SECONDS:
        deps.once.once(key, lambda: None)
        return wait
    time.sleep(wait)
    return 0.0


def _show_fault(deps: Dependencies, event: dict[str, Any], contact: str, error: Exception, *, tell_ops: bool) -> None:
    """Show a fault of ours on the incident, once per kind, level and attempt; the caller re-raises it.

    An account fault is also told to ops at once; throttling alarms through its metric instead of one
    ops message per page.
    """
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    execution: str = event["execution"]
    fault = str(error)[:500]
    count(SMS_ACCOUNT_FAULT if tell_ops else SMS_THROTTLED)
    log = logger.error if tell_ops else logger.warning
    log(
        "page not sent: a fault on our side; the state machine retries it",
        extra={"incident_id": incident_id, "level": level, "error": fault},
    )

    def show() -> None:
        entry = timeline_entry(Event.SMS_FAULT, utc_now(), level=level, phone=contact, error=fault)
        deps.incidents.record_fault(incident_id, execution=execution, fault=fault, entries=[entry])
        if tell_ops and deps.settings.ops_topic_arn:
            subject, body = messages.ops_fault_notification(incident_id, fault)
            aws_clients.sns().publish(TopicArn=deps.settings.ops_topic_arn, Subject=subject, Message=body)

    kind = "fault" if tell_ops else "throttled"
    deps.once.once(f"{kind}#{execution}#{level}#{int(event.get('attempt', 0))}", show)


def _finish_closed(deps: Dependencies, incident_id: str, *, execution: str, token: str) -> dict[str, Any]:
    """The incident closed meanwhile (a late YES between two levels), or a new incident replaced it: end this wait."""
    closed = deps.incidents.get(incident_id) or {}
    status = str(closed.get("incident_stat", "missing"))
    if closed.get("execution_arn") != execution:
        status = "superseded"  # the new incident with this id has its own execution
    logger.info("incident no longer open; not paging", extra={"incident_id": incident_id, "status": status})
    aws_clients.stepfunctions().send_task_success(taskToken=token, output=json.dumps({"outcome": status}))
    return {"outcome": status}


def page_contact(event: dict[str, Any]) -> dict[str, Any]:
    """Park the task token on the incident, then send the page; the reply handler completes the task."""
    deps = dependencies()
    token: str = event["token"]
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    attempt = int(event.get("attempt", 0))
    contact: str = event["contacts"][level]
    sfn = aws_clients.stepfunctions()
    at = utc_now()
    execution: str = event["execution"]
    item = deps.incidents.park_token(incident_id, execution=execution, level=level, contact=contact, token=token, at=at)
    if item is None:
        return _finish_closed(deps, incident_id, execution=execution, token=token)
    if attempt == 0 and level > 0:  # a new level: record why the last one ended (once, even if this page is retried)
        previous = {"level": level - 1, "contacts": event["contacts"], "error": event.get("error")}
        entries = [*level_outcome(previous, at), timeline_entry(Event.ESCALATED, at, level=level, phone=contact)]
        deps.incidents.record_escalation(incident_id, level=level, entries=entries)
    description = str(item.get("description", ""))
    max_segments = deps.settings.max_sms_segments
    # With another incident open for this person, the page asks for `YES <id>`: a bare YES is ambiguous to a reader.
    other_open = other_open_incident(deps.incidents, deps.message_log, contact, incident_id)
    if attempt == 0:
        sms = messages.page(
            incident_id, description, item.get("url"), level=level, max_segments=max_segments, other_open=other_open
        )
        kind, event_kind = "page", Event.PAGED
    else:
        sms = messages.reminder(incident_id, description, max_segments=max_segments, other_open=other_open)
        kind, event_kind = "reminder", Event.REMINDED
    wait = _queue_for_slot(deps, sms, execution=execution, level=level, attempt=attempt)
    if wait > 0:
        seconds = math.ceil(wait)
        deps.incidents.append(incident_id, timeline_entry(Event.QUEUED, at, level=level, phone=contact, wait_seconds=seconds))
        sfn.send_task_success(taskToken=token, output=json.dumps({"outcome": "queued", "wait_seconds": seconds}))
        logger.info("page queued for a send slot", extra={"incident_id": incident_id, "level": level, "wait_seconds": seconds})
        return {"outcome": "queued", "wait_seconds": seconds}
    try:
        message_id = deps.notifier.send(
            contact, sms, incident_id=incident_id, level=level, kind=kind, ttl_seconds=deps.settings.ack_timeout_seconds,
            slot_reserved=True,
        )  # fmt: skip
    except SmsFailed as error:
        deps.incidents.mark_unreachable(
            incident_id, contact, timeline_entry(Event.SMS_FAILED, utc_now(), level=level, phone=contact, error=str(error)[:500])
        )
        count(SMS_FAILED)
        sfn.send_task_failure(taskToken=token, error=WorkflowError.SMS_FAILED.value, cause=str(error)[:32000])
        logger.warning("page not delivered; escalating", extra={"incident_id": incident_id, "level": level, "error": str(error)})
        return {"outcome": "sms_failed"}
    except SmsAccountFault as error:
        _show_fault(deps, event, contact, error, tell_ops=True)
        raise
    except SmsThrottled as error:
        _show_fault(deps, event, contact, error, tell_ops=False)
        raise
    deps.incidents.record_sent(
        incident_id,
        timeline_entry(event_kind, utc_now(), level=level, phone=contact, message_id=message_id, segments=sms.segments),
    )
    if attempt == 0 and level > 0:
        _tell_previous_contact(deps, item, event["contacts"][level - 1], level - 1)
    return {"outcome": kind, "message_id": message_id}


def _tell_previous_contact(deps: Dependencies, item: dict[str, Any], previous: str, level: int) -> None:
    """Tell the contact of the level just left that the next one is paged (after that page: it comes first)."""
    incident_id = str(item["incident_id"])
    if previous == item.get("current_contact") or previous in item.get("unreachable", []):
        return  # the same person again (repeat with one contact), or a number that cannot be reached
    deps.once.once(
        f"escalated_notice#{item.get('execution_arn', '')}#{level}",
        lambda: deps.notifier.send_best_effort(
            previous, messages.escalated_notice(incident_id), incident_id=incident_id, level=level, kind="escalated_notice"
        ),
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Page contact" task."""
    return page_contact(event)
