"""Workflow task (waitForTaskToken): page the contact of the current level, or remind them.

A new level's page also records why the previous level ended and, once the page is out, tells that
level's contact: no Lambda stands between a NO and the next page.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation import aws_clients, messages
from escalation.observability import SMS_FAILED, count, logger, metrics
from escalation.repository import utc_now
from escalation.sms import SmsFailed
from escalation.status import Event, WorkflowError
from escalation.timeline import level_outcome, timeline_entry
from escalation.wiring import Dependencies, dependencies


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
        # Closed meanwhile (a late YES landed between two levels), or the item was replaced by a new
        # incident with the same id, which has its own execution: finish this wait at once.
        closed = deps.incidents.get(incident_id) or {}
        status = str(closed.get("incident_stat", "missing"))
        if closed.get("execution_arn") != execution:
            status = "superseded"
        logger.info("incident no longer open; not paging", extra={"incident_id": incident_id, "status": status})
        sfn.send_task_success(taskToken=token, output=json.dumps({"outcome": status}))
        return {"outcome": status}
    if attempt == 0 and level > 0:  # a new level: record why the last one ended (once, even if this page is retried)
        previous = {"level": level - 1, "contacts": event["contacts"], "error": event.get("error")}
        entries = [*level_outcome(previous, at), timeline_entry(Event.ESCALATED, at, level=level, phone=contact)]
        deps.incidents.record_escalation(incident_id, level=level, entries=entries)
    description = str(item.get("description", ""))
    max_segments = deps.settings.max_sms_segments
    if attempt == 0:
        sms = messages.page(incident_id, description, item.get("url"), level=level, max_segments=max_segments)
        kind, event_kind = "page", Event.PAGED
    else:
        sms = messages.reminder(incident_id, description, max_segments=max_segments)
        kind, event_kind = "reminder", Event.REMINDED
    try:
        message_id = deps.notifier.send(contact, sms, incident_id=incident_id, level=level, kind=kind)
    except SmsFailed as error:
        deps.incidents.mark_unreachable(
            incident_id, contact, timeline_entry(Event.SMS_FAILED, utc_now(), level=level, phone=contact, error=str(error))
        )
        count(SMS_FAILED)
        sfn.send_task_failure(taskToken=token, error=WorkflowError.SMS_FAILED.value, cause=str(error)[:32000])
        logger.warning("page not delivered; escalating", extra={"incident_id": incident_id, "level": level, "error": str(error)})
        return {"outcome": "sms_failed"}
    deps.incidents.append(
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
    deps.notifier.send_best_effort(
        previous, messages.escalated_notice(incident_id), incident_id=incident_id, level=level, kind="escalated_notice"
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Page contact" task."""
    return page_contact(event)
