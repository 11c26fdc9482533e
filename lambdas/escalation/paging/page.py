"""Paging a level: park the task token, send each number its page or reminder once, tell the level just left.

The handler (lambdas/page_contact.py) says what the task promises; this module keeps those promises.
"""

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from escalation.incidents import ops_notices
from escalation.incidents.levels import numbers_at, phone_of
from escalation.incidents.status import Event, WorkflowError
from escalation.incidents.timeline import level_outcome, level_who, timeline_entry, utc_now
from escalation.paging.batch_pages import batch
from escalation.paging.policy_levels import nobody_on_call, resolve_policy_level
from escalation.paging.urgency import hold_for_working_hours
from escalation.platform import aws_clients
from escalation.platform.observability import (
    SMS_ACCOUNT_FAULT,
    SMS_FAILED,
    SMS_THROTTLED,
    count,
    logger,
)
from escalation.platform.wiring import Dependencies, dependencies
from escalation.replies.matching import other_open_incident
from escalation.sms import messages
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.sms.send_rate import MAX_INLINE_WAIT_SECONDS
from escalation.voice.scheduling import schedule_calls


def _queue_for_slot(deps: Dependencies, sms: messages.Sms, key: str) -> float:
    """Seconds this page must wait for its send slot (reserved once under key: execution, level, attempt, number)."""
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
            subject, body = ops_notices.ops_fault_notification(incident_id, fault)
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


def _texts(
    deps: Dependencies, item: dict[str, Any], numbers: list[str], *, level: int, attempt: int
) -> tuple[dict[str, messages.Sms], set[str]]:
    """The page (attempt 0) or reminder for each number of the level, and the numbers with another incident open."""
    incident_id = str(item["incident_id"])
    description = str(item.get("description", ""))
    max_segments, unicode_segments = deps.settings.max_sms_segments, deps.settings.max_sms_segments_unicode
    texts: dict[str, messages.Sms] = {}
    busy: set[str] = set()
    for number in numbers:
        # With another incident open for this person, the page asks for `YES <id>`: a bare YES is ambiguous to a reader.
        other_open = other_open_incident(deps.incidents, deps.message_log, number, incident_id)
        if other_open:
            busy.add(number)
        if attempt == 0:
            texts[number] = messages.page(
                incident_id, description, item.get("url"), level=level, max_segments=max_segments, other_open=other_open,
                max_unicode_segments=unicode_segments,
            )  # fmt: skip
        else:
            texts[number] = messages.reminder(
                incident_id, description, max_segments=max_segments, other_open=other_open,
                max_unicode_segments=unicode_segments,
            )  # fmt: skip
    return texts, busy


def _send_all(
    deps: Dependencies, event: dict[str, Any], texts: dict[str, messages.Sms], *, ttl: int
) -> tuple[int, list[str], list[str]]:
    """Send each number its text, once per level and attempt; (delivered, message ids sent now, failures of the numbers).

    A fault of ours (throttling, account) on any number is shown and raised after the others are tried:
    the state machine retries the task, and the retry sends only what is still missing.
    """
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    attempt = int(event.get("attempt", 0))
    key = f"{incident_id}#{event['execution']}#{level}#{attempt}"
    kind, event_kind = ("page", Event.PAGED) if attempt == 0 else ("reminder", Event.REMINDED)

    sent_now: list[str] = []

    def send(number: str) -> None:
        sms = texts[number]
        if kind == "reminder" and deps.notifier.hold_reminder(number, incident_id=incident_id, execution=event["execution"]):
            # In a storm a reminder joins the person's digest ("still waiting for your answer"): no text of its own.
            entry = timeline_entry(event_kind, utc_now(), level=level, phone=number, in_digest=True)
            deps.incidents.record_sent(incident_id, entry)
            return
        message_id = deps.notifier.send(
            number, sms, incident_id=incident_id, level=level, kind=kind, ttl_seconds=ttl, slot_reserved=True,
            execution=event["execution"],
        )  # fmt: skip
        entry = timeline_entry(event_kind, utc_now(), level=level, phone=number, message_id=message_id, segments=sms.segments)
        deps.incidents.record_sent(incident_id, entry)
        sent_now.append(message_id)

    def unreachable(number: str, error: SmsFailed) -> None:
        entry = timeline_entry(Event.SMS_FAILED, utc_now(), level=level, phone=number, error=str(error)[:500])
        deps.incidents.mark_unreachable(incident_id, number, entry)

    delivered, failures = 0, []
    fault: tuple[str, SmsAccountFault | SmsThrottled] | None = None
    for number in texts:
        try:
            deps.once.once(f"sent#{key}#{number}", lambda number=number: send(number))  # type: ignore[misc]
            delivered += 1
        except SmsFailed as error:
            failures.append(str(error))
            deps.once.once(f"unreachable#{key}#{number}", lambda number=number, error=error: unreachable(number, error))  # type: ignore[misc]
            count(SMS_FAILED)
        except (SmsAccountFault, SmsThrottled) as error:
            fault = fault or (number, error)
    if fault is not None:
        number, raised = fault
        _show_fault(deps, event, number, raised, tell_ops=isinstance(raised, SmsAccountFault))
        raise raised
    return delivered, sent_now, failures


def page_contact(event: dict[str, Any]) -> dict[str, Any]:
    """Park the task token on the incident, then send the page to each number of the level; replies complete the task."""
    deps = dependencies()
    token: str = event["token"]
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    attempt = int(event.get("attempt", 0))
    entry: str = event["contacts"][level]
    sfn = aws_clients.stepfunctions()
    at = utc_now()
    execution: str = event["execution"]
    phone = phone_of(entry)
    numbers = [phone] if phone is not None else resolve_policy_level(deps, event, entry, at)
    item = None
    if numbers is not None:
        item = deps.incidents.park_token(incident_id, execution=execution, level=level, contacts=numbers, token=token, at=at)
    if item is None or numbers is None:
        return _finish_closed(deps, incident_id, execution=execution, token=token)
    if attempt == 0 and level > 0:  # a new level: record why the last one ended (once, even if this page is retried)
        previous = {"level": level - 1, "contacts": event["contacts"], "error": event.get("error")}
        entries = [*level_outcome(previous, at), timeline_entry(Event.ESCALATED, at, level=level, **level_who(entry))]
        deps.incidents.record_escalation(incident_id, level=level, entries=entries)
    if not numbers:
        return nobody_on_call(deps, event, item, entry)
    held = hold_for_working_hours(deps, event, item, entry, numbers, now=datetime.now(UTC))  # low urgency, out of hours
    if held is not None:
        return held
    texts, busy = _texts(deps, item, numbers, level=level, attempt=attempt)
    key = f"{incident_id}#{execution}#{level}#{attempt}"
    ttl = int(event.get("timeout") or deps.settings.ack_timeout_seconds)  # a page is moot after its window
    wait = max(batch(deps, event, item, number, ttl=ttl, busy=number in busy) for number in numbers)
    pending = [number for number in numbers if not deps.once.done(f"sent#{key}#{number}")]  # a batch may have sent them
    wait = max([wait, *(_queue_for_slot(deps, texts[number], f"slot#{key}#{number}") for number in pending)])
    if wait > 0:
        seconds = math.ceil(wait)
        queued = timeline_entry(Event.QUEUED, at, level=level, **level_who(entry), wait_seconds=seconds)
        deps.incidents.append(incident_id, queued)
        sfn.send_task_success(taskToken=token, output=json.dumps({"outcome": "queued", "wait_seconds": seconds}))
        logger.info("page queued for a send slot", extra={"incident_id": incident_id, "level": level, "wait_seconds": seconds})
        return {"outcome": "queued", "wait_seconds": seconds}
    delivered, message_ids, failures = _send_all(deps, event, texts, ttl=ttl)
    if not delivered:
        cause = "; ".join(failures)[:32000]
        sfn.send_task_failure(taskToken=token, error=WorkflowError.SMS_FAILED.value, cause=cause)
        logger.warning("page not delivered; escalating", extra={"incident_id": incident_id, "level": level, "error": cause})
        return {"outcome": "sms_failed"}
    if item.get("urgency") != "low":  # low urgency never calls (escalation.incidents.urgency)
        schedule_calls(deps, event, numbers, sent_key=key, window=ttl)  # the person's rules may ask for a call later
    if attempt == 0 and level > 0:
        _tell_previous_level(deps, item, level - 1, numbers)
    return {"outcome": "page" if attempt == 0 else "reminder", "message_ids": message_ids}


def _tell_previous_level(deps: Dependencies, item: dict[str, Any], level: int, paged_now: list[str]) -> None:
    """Tell the numbers of the level just left that the next one is paged (after that page: it comes first)."""
    incident_id = str(item["incident_id"])
    unreachable = set(item.get("unreachable", []))
    for number in numbers_at(item, level):
        if number in paged_now or number in unreachable:
            continue  # the same person again (repeat with one contact), or a number that cannot be reached
        deps.once.once(
            f"escalated_notice#{item.get('execution_arn', '')}#{level}#{number}",
            lambda number=number: deps.notifier.send_best_effort(  # type: ignore[misc]
                number,
                messages.escalated_notice(incident_id),
                incident_id=incident_id,
                level=level,
                kind="escalated_notice",
                execution=str(item.get("execution_arn", "")) or None,
            ),
        )
