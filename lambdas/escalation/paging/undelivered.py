"""A page the carrier says will not arrive: the level's wait ends at once, not when its window runs out.

Called by the receipts function (escalation.sms.receipts) once per (text, incident) when a final failure was
recorded on the incarnation that sent the page. What happens depends on whose failure it is:

- The contact's (TEXT_INVALID, TEXT_UNREACHABLE, TEXT_CARRIER_UNREACHABLE: the number; TEXT_BLOCKED,
  TEXT_TTL_EXPIRED: nobody's fault): if the escalation still waits on that level, the parked task fails with
  SmsFailed, and the state machine moves to the next level as for a page the API refused. The number is marked
  unreachable (courtesy texts skip it) for the first three, as a refused send marks it. A level that paged
  several people moves on only when every one of them is unreachable: one failed text is no reason to skip the
  others.
- Ours (TEXT_SPAM, TEXT_CARRIER_BLOCKED, TEXT_PROTECT_BLOCKED, TEXT_INVALID_MESSAGE: registration, content or our
  own rules): the next person's page would fail the same way, so the chain never walks faster than its windows
  and the contact is never marked. The incident shows the fault and ops are told at once, once per level.
- Unknown (TEXT_UNKNOWN): only recorded; the window decides.

A receipt for a level the escalation already left (answered, escalated, closed, or another incarnation) is only
recorded. Receipts race replies: a YES that completed the task first makes SendTaskFailure fail with
TaskTimedOut or InvalidToken, which means the wait was already over.
"""

from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents import ops_notices
from escalation.incidents.levels import numbers_at
from escalation.incidents.status import Event, WorkflowError, is_open
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.sms.phone_numbers import mask
from escalation.sms.receipt_events import Outcome, Receipt
from escalation.store.receipt_book import Target

PAGE_KINDS = frozenset({"page", "reminder"})
THE_NUMBER = frozenset({"TEXT_INVALID", "TEXT_UNREACHABLE", "TEXT_CARRIER_UNREACHABLE"})  # marked unreachable
WAIT_ALREADY_OVER = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


def page_undelivered(deps: Dependencies, target: Target, receipt: Receipt, outcome: Outcome) -> str:
    """Act on a page that will not arrive (see the module docstring); what was done, for the log and the tests."""
    if target.kind not in PAGE_KINDS or not target.execution:
        return "not_a_page"
    item = deps.incidents.get(target.incident_id) or {}
    waiting = (
        is_open(item) and item.get("execution_arn") == target.execution and int(item.get("escalation_level", -1)) == target.level
    )
    if not waiting:
        return "level_left"  # answered, escalated or closed since: the receipt is on the timeline, nothing more
    if outcome is Outcome.FAILED_OURS:
        return _fault_of_ours(deps, target, receipt, item)
    if outcome is not Outcome.FAILED_CONTACT:
        return "recorded_only"
    unreachable = set(item.get("unreachable", []))
    if receipt.event_type in THE_NUMBER and target.contact not in unreachable:
        entry = timeline_entry(Event.SMS_FAILED, utc_now(), level=target.level, phone=target.contact,
                               error=f"{receipt.event_type}: {receipt.description}"[:500])  # fmt: skip
        deps.incidents.mark_unreachable(target.incident_id, target.contact, entry)
        unreachable.add(target.contact)
    others = [number for number in numbers_at(item, target.level) if number not in unreachable | {target.contact}]
    if others:
        return "others_still_paged"
    token = item.get("task_token")
    if not token:
        return "level_left"
    cause = f"{target.contact and mask(target.contact)}: {receipt.event_type} {receipt.description}".strip()[:32000]
    try:
        deps.stepfunctions().send_task_failure(taskToken=str(token), error=WorkflowError.SMS_FAILED.value, cause=cause)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in WAIT_ALREADY_OVER:
            return "level_left"
        raise
    logger.warning(
        "a page will not arrive: the escalation moves on now",
        extra={"incident_id": target.incident_id, "level": target.level, "event_type": receipt.event_type},
    )
    return "moved_on"


def _fault_of_ours(deps: Dependencies, target: Target, receipt: Receipt, item: dict[str, Any]) -> str:
    """Show the fault on the incident and tell ops, once per level; the window still decides when the chain moves."""
    fault = f"{receipt.event_type}: {receipt.description}"[:500]

    def show() -> None:
        entry = timeline_entry(Event.SMS_FAULT, utc_now(), level=target.level, phone=target.contact, error=fault)
        deps.incidents.record_fault(target.incident_id, execution=target.execution, fault=fault, entries=[entry])
        if deps.settings.ops_topic_arn:
            subject, body = ops_notices.ops_fault_notification(target.incident_id, fault)
            deps.sns().publish(TopicArn=deps.settings.ops_topic_arn, Subject=subject, Message=body)

    deps.once.once(f"receipt_fault#{target.execution}#{target.level}", show)
    logger.error(
        "a page was refused for a fault of ours: ops told; the contact is not blamed",
        extra={"incident_id": target.incident_id, "level": target.level, "event_type": receipt.event_type},
    )
    return "fault_of_ours"
