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
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.incidents import ops_notices
from escalation.incidents.levels import label, numbers_at, parse_policy_level, phone_of
from escalation.incidents.status import Event, WorkflowError, is_open
from escalation.incidents.timeline import level_outcome, level_who, timeline_entry, utc_now
from escalation.paging.batching import Batches
from escalation.paging.batching import now_ms as batching_now_ms
from escalation.platform import aws_clients
from escalation.platform.observability import (
    NOBODY_ON_CALL,
    PAGES_BATCHED,
    SMS_ACCOUNT_FAULT,
    SMS_FAILED,
    SMS_THROTTLED,
    count,
    logger,
    metrics,
)
from escalation.platform.wiring import Dependencies, dependencies
from escalation.replies.matching import other_open_incident
from escalation.sms import messages
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.store.once import SideEffectInProgress

MAX_INLINE_WAIT_SECONDS = 1.0  # a slot this close is waited for in the function; further ones in the state machine


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


def _resolve_policy_level(deps: Dependencies, event: dict[str, Any], entry: str, at: str) -> list[str] | None:
    """Who a policy level pages: resolved now the first time (on call now, overrides first), then kept on the item.

    Returns the numbers (empty when nobody is on call), or None when the incident is closed or not this execution's.
    """
    from escalation.oncall.schedule import resolve_level  # noqa: PLC0415 (pydantic only when paging by policy)
    from escalation.oncall.store import NoDefinitions, OncallStore  # noqa: PLC0415

    incident_id: str = event["incident_id"]
    level = int(event["level"])
    kept = ((deps.incidents.get(incident_id) or {}).get("level_contacts") or {}).get(str(level))
    if kept is not None:
        return [str(number) for number in kept]  # a reminder or a retry pages whoever the level first resolved to
    policy, index = parse_policy_level(entry) or ("", 0)
    reason = ""
    people = []
    if deps.oncall_table is None:
        reason = "this deployment has no on-call table"
    else:
        try:
            store = OncallStore(deps.oncall_table)
            definitions = store.definitions()
            if policy not in definitions.policies or index >= len(definitions.policies[policy].levels):
                reason = f"policy {policy!r} has no level {index + 1} in the deployed definitions"
            else:
                now = datetime.fromisoformat(at.replace("Z", "+00:00"))
                people = resolve_level(definitions, store.overrides(), policy, index, now)
                if not people:
                    reason = "every rotation of the level has a gap at this time"
        except NoDefinitions as error:
            reason = str(error)
    if people:
        on_call = timeline_entry(Event.ON_CALL, at, level=level, target=label(entry), people=[person.id for person in people])
    else:
        on_call = timeline_entry(Event.NOBODY_ON_CALL, at, level=level, target=label(entry), error=reason)
    return deps.incidents.resolve_level(
        incident_id, execution=event["execution"], level=level, numbers=[person.phone for person in people], entries=[on_call]
    )


def _nobody_on_call(deps: Dependencies, event: dict[str, Any], item: dict[str, Any], entry: str) -> dict[str, Any]:
    """A policy level with nobody on call: tell ops (once), then end the level so the chain moves on."""
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    reason = next(
        (str(e.get("error", "")) for e in reversed(item.get("timeline", [])) if e.get("event") == Event.NOBODY_ON_CALL),
        "nobody is on call",
    )
    count(NOBODY_ON_CALL)
    logger.error("nobody on call for a policy level; moving on", extra={"incident_id": incident_id, "level": level})
    if deps.settings.ops_topic_arn:
        subject, body = ops_notices.ops_nobody_on_call_notification(
            incident_id, str(item.get("description", "")), label(entry), reason
        )
        deps.once.once(
            f"ops#nobody#{event['execution']}#{level}",
            lambda: aws_clients.sns().publish(TopicArn=deps.settings.ops_topic_arn, Subject=subject, Message=body),
        )
    aws_clients.stepfunctions().send_task_failure(
        taskToken=event["token"], error=WorkflowError.NOBODY_ON_CALL.value, cause=f"{label(entry)}: {reason}"[:32000]
    )
    return {"outcome": "nobody_on_call"}


def _in_storm(deps: Dependencies, number: str, incident_id: str, *, busy: bool) -> bool:
    """Count this page as a text to number; True when it should join a batch (a storm, and another incident open)."""
    storms = deps.notifier.storms
    in_storm = storms.note(number, incident_id) if storms is not None else True
    return busy and in_storm


def _batch(deps: Dependencies, event: dict[str, Any], item: dict[str, Any], number: str, *, ttl: int, busy: bool) -> float:
    """Storm batching (escalation.batching): seconds this page waits for its batch; 0 when it needs no batch now.

    Only a first page (not a reminder) to a number in a storm (escalation.storms: texts coming fast) that has
    another incident open (busy) joins a batch: an isolated second page goes at once. A page
    that joined one goes with it even if the other incident closed meanwhile (the person acknowledged their first
    page within the window: the rest still arrive as one text). 0 also when the batch was sent (this page with
    it) or could not be: the page then goes out on its own.
    """
    incident_id: str = event["incident_id"]
    level, attempt = int(event["level"]), int(event.get("attempt", 0))
    page_key = f"{incident_id}#{event['execution']}#{level}#{attempt}#{number}"
    window = deps.settings.storm_batch_seconds
    if window <= 0 or attempt > 0 or deps.once.done(f"sent#{page_key}"):
        return 0.0
    batches = Batches(deps.once.table, window_seconds=window)
    if batches.joined(page_key) is None and not _in_storm(deps, number, incident_id, busy=busy):
        return 0.0
    member: dict[str, Any] = {
        "page_key": page_key,
        "incident_id": incident_id,
        "execution": event["execution"],
        "level": level,
        "description": str(item.get("description", ""))[:80],
    }
    flush_at = batches.join(number, page_key, member)
    wait = (flush_at - batching_now_ms()) / 1000
    if wait > MAX_INLINE_WAIT_SECONDS:
        return wait
    time.sleep(max(wait, 0.0))
    members = batches.take(number, flush_at)
    if members is None:  # another page of the batch took it: wait until it has held the pages, this one included
        batches.wait_held(number, flush_at)
        return 0.0  # the send below then finds this page's key held (and waits for the text) or sent, or free
    if len(members) == 1:
        batches.mark_held(number, flush_at)
        return 0.0  # a batch of one: the ordinary page
    # Hold each page's once-only key while the text goes: a page of the batch running now waits for it instead of
    # going out alone; one already going out alone (its key held elsewhere) is left out of the text.
    held: list[dict[str, Any]] = []
    for joined in members:
        try:
            if not deps.once.hold(f"sent#{joined['page_key']}"):
                continue
        except SideEffectInProgress:
            continue
        if joined["incident_id"] == incident_id or is_open(deps.incidents.get(str(joined["incident_id"])) or {}):
            held.append(joined)
        else:  # closed during the window (resolved, replaced): not listed; its own task ends without paging
            deps.once.release(f"sent#{joined['page_key']}")
    batches.mark_held(number, flush_at)
    if len(held) <= 1:
        for joined in held:
            deps.once.release(f"sent#{joined['page_key']}")
        return 0.0
    text = messages.batch_page(
        [(str(joined["incident_id"]), str(joined["description"])) for joined in held],
        max_segments=deps.settings.max_sms_segments,
    )
    # Every incident of the batch is on record as paged to this number before the text goes: a YES ALL sent the
    # instant it arrives must find them all (a record without the send is harmless: the pages then go out alone).
    # Each row names the batch, so a bare YES after the batch text acts on none of them (escalation.matching).
    at, batch = utc_now(), f"{number}#{flush_at}"
    for index, joined in enumerate(held):
        deps.message_log.record(
            f"batch#{number}#{flush_at}#{index}", incident_id=str(joined["incident_id"]), contact=number,
            level=int(joined["level"]), kind="page", at=at, execution=joined.get("execution"), batch=batch,
        )  # fmt: skip
    try:
        message_id = deps.notifier.send(
            number, text, incident_id=incident_id, level=level, kind="page", ttl_seconds=ttl, execution=event["execution"],
            batch=batch,
        )  # fmt: skip
    except (SmsFailed, SmsThrottled, SmsAccountFault) as error:
        for joined in held:
            deps.once.release(f"sent#{joined['page_key']}")
        logger.warning("batched page not sent; each page goes out alone", extra={"incident_id": incident_id, "error": str(error)})
        return 0.0
    count(PAGES_BATCHED, len(held))
    sent_at = utc_now()
    for joined in held:
        entry = timeline_entry(
            Event.PAGED, sent_at, level=int(joined["level"]), phone=number, message_id=message_id, segments=text.segments,
            batched=len(held),
        )  # fmt: skip
        deps.incidents.record_sent(str(joined["incident_id"]), entry)
        deps.once.mark_done(f"sent#{joined['page_key']}")
    return 0.0


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
    numbers = [phone] if phone is not None else _resolve_policy_level(deps, event, entry, at)
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
        return _nobody_on_call(deps, event, item, entry)
    texts, busy = _texts(deps, item, numbers, level=level, attempt=attempt)
    key = f"{incident_id}#{execution}#{level}#{attempt}"
    ttl = int(event.get("timeout") or deps.settings.ack_timeout_seconds)  # a page is moot after its window
    wait = max(_batch(deps, event, item, number, ttl=ttl, busy=number in busy) for number in numbers)
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


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Page contact" task."""
    return page_contact(event)
