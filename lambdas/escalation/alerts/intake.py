"""An Events API v2 event, checked and let in: its routing key's integration and rate, then trigger, acknowledge or resolve."""

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.closing import acknowledge
from escalation.alerts.events import AlertEvent, InvalidEvent
from escalation.alerts.incidents import incident_for, trigger
from escalation.alerts.integrations import Integration, key_hash, lookup
from escalation.incidents.resolve import resolve
from escalation.incidents.timeline import utc_now
from escalation.platform.observability import count, logger
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import is_conditional_failure


class Throttled(Exception):
    """The routing key sent its limit of events in the current minute (the sender retries: 429)."""


def accept(
    dependencies: Callable[[], Dependencies], table: Any, event: AlertEvent, *, via: str, per_minute: int, repeat_after: int
) -> dict[str, str]:
    """Let one checked event in and act on it; {outcome, dedup_key, incident_id?}.

    InvalidEvent for a routing key unknown or revoked, Throttled past the key's `per_minute` events, AlertsBusy when
    it cannot be completed now. dependencies: how to build them, so an event refused here builds none.
    """
    integration = lookup(table, event.routing_key)
    if integration is None:
        raise InvalidEvent(["routing_key: unknown or revoked"])
    if not within_rate(table, event.routing_key, per_minute):
        logger.warning("events arriving too fast", extra={"integration": integration.name})
        raise Throttled(integration.name)
    result = process(dependencies(), table, integration, event, via=via, repeat_after=repeat_after)
    count(f"Alert{event.action.capitalize()}")
    logger.info("event processed", extra={"integration": integration.name, **result})
    return result


def within_rate(table: Any, routing_key: str, limit: int, now: float | None = None) -> bool:
    """Count one event on the key's fixed one-minute window; False once the window holds `limit` events."""
    now = time.time() if now is None else now
    window = int(now // 60)
    try:
        table.update_item(
            Key={"pk": f"rate#{key_hash(routing_key)}#{window}"},
            UpdateExpression="ADD events :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(events) OR events < :limit",
            ExpressionAttributeValues={":one": 1, ":limit": limit, ":expires": (window + 2) * 60},
        )
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    return True


def process(
    deps: Dependencies, table: Any, integration: Integration, event: AlertEvent, *, via: str, repeat_after: int
) -> dict[str, str]:
    """Act on one checked event; {outcome, dedup_key, incident_id?}."""
    at = utc_now()
    if event.action == "trigger":
        return trigger(deps, table, integration, event, via=via, at=at, repeat_after=repeat_after)
    assert event.dedup_key is not None  # parse_event requires it to acknowledge or resolve
    item = incident_for(deps, table, integration, event.dedup_key)
    if item is None:
        return {"outcome": "no_incident", "dedup_key": event.dedup_key}
    incident_id = str(item["incident_id"])
    if event.action == "acknowledge":
        outcome = acknowledge(deps, incident_id, by=integration.name, via=via, at=at)
    else:
        outcome = str(resolve(deps, incident_id, by=integration.name, via=via, at=at))
    return {"outcome": outcome, "dedup_key": event.dedup_key, "incident_id": incident_id}
