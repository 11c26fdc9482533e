"""CloudWatch alarms open and resolve incidents: ALARM triggers, OK resolves, INSUFFICIENT_DATA changes nothing.

Routing. An alarm pages the integration named by its tag `incident-escalation:integration`
(cloudwatch:ListTagsForResource); an untagged alarm pages the deployment's default (`alarmIntegration`),
and with no default it is not ours and is ignored. A tag naming no integration is an error (the event is
retried, then kept in the dead-letter queue): someone meant that alarm to page.

Delivery is at least once and not ordered. Each alarm has an `alarm#<sha256 of its ARN>` item in the
integrations table holding the latest state change applied (`latest_at`, the state's own timestamp, and
`latest_state`). A change older than it is stale and ignored, so a late ALARM after its OK never reopens
the incident and a late OK never resolves a newer ALARM's incident. The same change delivered again is
applied again: a repeated ALARM counts as a repeat on the open incident (as a resent Events API trigger
does), a repeated OK finds the incident resolved. A repeated ALARM whose incident was resolved meanwhile
(by a person) does not reopen it either: the item remembers which change opened it (`opened_for`).
An OK that overtakes its ALARM while the ALARM is being applied is caught by the ALARM, which looks at
the item again once its incident is open and resolves it.
"""

import dataclasses
import hashlib
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.alarms import INTEGRATION_TAG, URGENCY_TAG, AlarmChange, as_trigger
from escalation.alerts.incidents import OPEN_FOR_DEDUP, incident_for, trigger
from escalation.alerts.integrations import Integration, by_name
from escalation.incidents.resolve import resolve
from escalation.incidents.timeline import utc_now
from escalation.incidents.urgency import URGENCIES
from escalation.platform import aws_clients
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import update_if


class AlarmNotRouted(ValueError):
    """The alarm's tag names no integration; the message names the tag."""


def alarm_key(alarm_arn: str) -> dict[str, str]:
    """The alarm's item in the integrations table."""
    return {"pk": f"alarm#{hashlib.sha256(alarm_arn.encode()).hexdigest()}"}


def record_change(table: Any, change: AlarmChange) -> dict[str, Any] | None:
    """Record change as the alarm's latest; the item after, or None when a newer change was applied already."""
    return update_if(
        table,
        Key=alarm_key(change.alarm_arn),
        UpdateExpression="SET latest_at = :at, latest_state = :state, alarm_arn = :arn",
        ConditionExpression="attribute_not_exists(latest_at) OR latest_at < :at OR (latest_at = :at AND latest_state = :state)",
        ExpressionAttributeValues={":at": change.changed_at, ":state": change.state, ":arn": change.alarm_arn},
    )


def alarm_tags(alarm_arn: str) -> dict[str, str]:
    """The alarm's tags with a value (none when the alarm is gone)."""
    try:
        tags = aws_clients.cloudwatch().list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return {}
        raise
    return {str(tag["Key"]): str(tag.get("Value", "")).strip() for tag in tags if str(tag.get("Value", "")).strip()}


def route(table: Any, alarm_arn: str, default: str) -> Integration | None:
    """The integration an alarm pages (with the urgency its tag says, if any); None with no tag and no default."""
    tags = alarm_tags(alarm_arn)
    tagged = tags.get(INTEGRATION_TAG)
    name = tagged or default
    if not name:
        return None
    integration = by_name(table, name)
    if integration is None:
        where = f"tag {INTEGRATION_TAG}" if tagged else "alarmIntegration (the default integration)"
        raise AlarmNotRouted(f"{where}: no integration named {name!r} (create it, or fix the name)")
    urgency = tags.get(URGENCY_TAG, "").lower()
    return dataclasses.replace(integration, urgency=urgency) if urgency in URGENCIES else integration


def _resolve_started(deps: Dependencies, table: Any, integration: str, alarm_arn: str, *, via: str) -> dict[str, str]:
    """Resolve the incident the alarm opened, once its escalation has started; {outcome, incident_id?}."""
    item = incident_for(deps, table, Integration(name=integration, contacts=()), alarm_arn)
    if item is None:
        return {"outcome": "no_incident"}
    incident_id = str(item["incident_id"])
    outcome = resolve(deps, incident_id, by=integration, via=via, at=utc_now())
    return {"outcome": str(outcome), "incident_id": incident_id}


def apply_change(
    deps: Dependencies, table: Any, change: AlarmChange, *, default_integration: str, repeat_after: int = 0
) -> dict[str, str]:
    """Act on one alarm state change: {outcome, alarm, incident_id?}."""
    base = {"alarm": change.alarm_name, "state": change.state, "changed_at": change.changed_at}
    if change.state == "INSUFFICIENT_DATA":
        return {**base, "outcome": "ignored"}  # missing data says nothing either way: the incident stays as it is
    via = f"alarm-{change.event_id or change.changed_at}"
    if change.state == "OK":
        record = record_change(table, change)
        if record is None:
            return {**base, "outcome": "stale"}
        integration = record.get("integration")
        if not integration:
            return {**base, "outcome": "no_incident"}  # never opened one (not ours, or its ALARM is still on its way)
        return {**base, **_resolve_started(deps, table, str(integration), change.alarm_arn, via=via)}
    integration = route(table, change.alarm_arn, default_integration)
    if integration is None:
        return {**base, "outcome": "not_routed"}
    record = record_change(table, change)
    if record is None:
        return {**base, "outcome": "stale"}
    if record.get("opened_for") == change.changed_at and record.get("integration") == integration.name:
        current = incident_for(deps, table, integration, change.alarm_arn)
        if current is not None and current.get("incident_stat") not in OPEN_FOR_DEDUP:
            return {**base, "outcome": "already_closed", "incident_id": str(current["incident_id"])}
    result = trigger(deps, table, integration, as_trigger(change), via=via, at=utc_now(), repeat_after=repeat_after)
    names = {"#i": "integration"}
    values: dict[str, Any] = {":name": integration.name}
    expression = "SET #i = :name"
    if result["outcome"] == "opened":
        expression += ", opened_for = :at"
        values[":at"] = change.changed_at
    latest = table.update_item(
        Key=alarm_key(change.alarm_arn),
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )["Attributes"]
    if latest.get("latest_state") == "OK" and str(latest.get("latest_at")) > change.changed_at:
        logger.info("the alarm cleared while its ALARM was applied", extra={"alarm": change.alarm_name})
        resolved = _resolve_started(deps, table, integration.name, change.alarm_arn, via=f"{via}-cleared")
        return {**base, "outcome": f"{result['outcome']}_then_{resolved['outcome']}", "incident_id": result["incident_id"]}
    return {**base, "outcome": result["outcome"], "incident_id": result["incident_id"]}
