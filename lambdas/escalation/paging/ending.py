"""An escalation's end without an acknowledgement: the incident closed unacknowledged (or failed), people told.

The handler (lambdas/mark_unacknowledged.py) says which endings share the task; each message has its own once-only
key, so a retried task sends only what it did not send yet.
"""

import json
from typing import Any

from escalation.incidents import ops_notices
from escalation.incidents.levels import paged_contacts
from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import level_outcome, level_who, timeline_entry, utc_now
from escalation.platform import aws_clients
from escalation.platform.observability import INCIDENTS_FAILED, INCIDENTS_UNACKNOWLEDGED, count, logger
from escalation.platform.wiring import Dependencies, dependencies
from escalation.sms import messages
from escalation.sms.client import SmsAccountFault, SmsThrottled
from escalation.store.once import SideEffectInProgress


def _tell_ops(deps: Dependencies, key: str, subject_and_body: tuple[str, str]) -> None:
    if not deps.settings.ops_topic_arn:
        return
    subject, body = subject_and_body
    deps.once.once(key, lambda: aws_clients.sns().publish(TopicArn=deps.settings.ops_topic_arn, Subject=subject, Message=body))


def _notify(deps: Dependencies, contact: str, sms: messages.Sms, *, incident_id: str, level: int, execution: str) -> None:
    """Send a closing notice; a number that cannot get texts is skipped, anything else is retried with the task."""
    deps.notifier.send_courtesy(contact, sms, incident_id=incident_id, kind="exhausted_notice", level=level, execution=execution)


def _fault_text(error: dict[str, Any] | None) -> str:
    """`Error: message` from a Step Functions error; a Lambda error's Cause is a JSON document with a stack trace."""
    error = error or {}
    cause = str(error.get("Cause") or "")
    try:
        document = json.loads(cause)
    except ValueError:
        document = None
    if isinstance(document, dict) and "errorMessage" in document:
        cause = str(document["errorMessage"])
    return f"{error.get('Error', 'Unknown')}: {cause[:500]}"


def _closed_by_this_task(
    deps: Dependencies, written: dict[str, Any] | None, incident_id: str, *, execution: str, status: Status, metric: str
) -> dict[str, Any] | None:
    """The item this task closed with status: just now (counted), or by an earlier try of it; None if a YES came first."""
    if written is not None:
        count(metric)
        return written
    item = deps.incidents.get(incident_id) or {}
    if item.get("incident_stat") == status and item.get("execution_arn") == execution:
        return item  # this task was retried after its write: send what is still owed
    logger.info("incident closed before this task could close it", extra={"incident_id": incident_id, "status": str(status)})
    return None


def _fail(deps: Dependencies, event: dict[str, Any]) -> dict[str, Any]:
    """Paging stopped by a fault of ours: mark the incident failed with the error, tell ops."""
    incident_id: str = event["incident_id"]
    execution: str = event["execution"]
    level = int(event["level"])
    at = utc_now()
    error = _fault_text(event.get("error"))
    item = deps.incidents.fail(
        incident_id,
        execution=execution,
        error=error,
        at=at,
        entries=[timeline_entry(Event.FAILED, at, level=level, **level_who(event["contacts"][level]), error=error)],
    )
    item = _closed_by_this_task(deps, item, incident_id, execution=execution, status=Status.FAILED, metric=INCIDENTS_FAILED)
    if item is None:
        return {"outcome": "closed"}
    _tell_ops(
        deps,
        f"ops#failed#{execution}",
        ops_notices.ops_failed_notification(incident_id, str(item.get("description", "")), str(item.get("error", error))),
    )
    logger.error("paging stopped by a fault on our side", extra={"incident_id": incident_id, "error": error})
    return {"outcome": "failed"}


def mark_unacknowledged(event: dict[str, Any]) -> dict[str, Any]:
    """Close the incident as unacknowledged (or failed), unless a YES arrived first."""
    deps = dependencies()
    if event.get("outcome") == "failed":
        return _fail(deps, event)
    incident_id: str = event["incident_id"]
    execution: str = event["execution"]
    level = int(event["level"])
    at = utc_now()
    item = deps.incidents.exhaust(
        incident_id,
        execution=execution,
        at=at,
        entries=[*level_outcome(event, at), timeline_entry(Event.EXHAUSTED, at, level=level)],
    )
    item = _closed_by_this_task(
        deps, item, incident_id, execution=execution, status=Status.UNACKNOWLEDGED, metric=INCIDENTS_UNACKNOWLEDGED
    )
    if item is None:
        return {"outcome": "closed"}
    paged = paged_contacts(item)
    _tell_ops(
        deps,
        f"ops#exhausted#{execution}",
        ops_notices.ops_notification(incident_id, str(item.get("description", "")), len(paged)),
    )
    notice = messages.exhausted_notice(incident_id)
    failures: list[Exception] = []
    for index, contact in enumerate(paged):
        try:
            deps.once.once(
                f"exhausted_notice#{execution}#{contact}",
                lambda contact=contact, index=index: _notify(  # type: ignore[misc]
                    deps, contact, notice, incident_id=incident_id, level=index, execution=execution
                ),
            )
        except (SmsThrottled, SmsAccountFault, SideEffectInProgress) as error:
            failures.append(error)  # the others are still told; the retried task sends only what is missing
    if failures:
        raise failures[0]
    logger.warning("incident unacknowledged", extra={"incident_id": incident_id, "contacts_paged": len(paged)})
    return {"outcome": "unacknowledged"}
