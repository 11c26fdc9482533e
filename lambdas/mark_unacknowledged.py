"""Workflow task: the chain is exhausted; mark the incident and tell everyone paged and ops."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation import aws_clients, messages
from escalation.observability import INCIDENTS_UNACKNOWLEDGED, count, logger, metrics
from escalation.repository import paged_contacts, utc_now
from escalation.status import Event
from escalation.timeline import level_outcome, timeline_entry
from escalation.wiring import dependencies


def mark_unacknowledged(event: dict[str, Any]) -> dict[str, Any]:
    """Close the incident as unacknowledged, unless a YES arrived first."""
    deps = dependencies()
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    at = utc_now()
    item = deps.incidents.exhaust(
        incident_id,
        execution=event["execution"],
        at=at,
        entries=[*level_outcome(event, at), timeline_entry(Event.EXHAUSTED, at, level=level)],
    )
    if item is None:
        logger.info("incident closed before the chain was exhausted", extra={"incident_id": incident_id})
        return {"outcome": "closed"}
    paged = paged_contacts(item)
    notice = messages.exhausted_notice(incident_id)
    for index, contact in enumerate(paged):
        deps.notifier.send_best_effort(contact, notice, incident_id=incident_id, level=index, kind="exhausted_notice")
    if deps.settings.ops_topic_arn:
        subject, body = messages.ops_notification(incident_id, str(item.get("description", "")), len(paged))
        aws_clients.sns().publish(TopicArn=deps.settings.ops_topic_arn, Subject=subject, Message=body)
    count(INCIDENTS_UNACKNOWLEDGED)
    logger.warning("incident unacknowledged", extra={"incident_id": incident_id, "contacts_paged": len(paged)})
    return {"outcome": "unacknowledged"}


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Mark unacknowledged" task."""
    return mark_unacknowledged(event)
