"""Workflow task: record why the current level ended, before the next contact is paged."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.observability import logger, metrics
from escalation.repository import utc_now
from escalation.status import Event
from escalation.timeline import level_outcome, timeline_entry
from escalation.wiring import dependencies


def escalate(event: dict[str, Any]) -> dict[str, Any]:
    """Move past the current level (the workflow pages the next contact)."""
    deps = dependencies()
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    contacts: list[str] = event["contacts"]
    at = utc_now()
    entries = [*level_outcome(event, at), timeline_entry(Event.ESCALATED, at, level=level + 1, phone=contacts[level + 1])]
    if not deps.incidents.escalate(incident_id, at=at, entries=entries):
        logger.info("incident closed before escalation", extra={"incident_id": incident_id})
        return {"escalated": False}
    # The contact of this level is told by page_contact, after the next contact's page: paging comes first.
    return {"escalated": True}


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Escalate" task."""
    return escalate(event)
