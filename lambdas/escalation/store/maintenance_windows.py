"""Where maintenance windows and the incidents they hold are kept (the rules: escalation.incidents.maintenance).

Windows live in the on-call table beside the overrides (``pk = "maintenance"``, ``sk`` = the window id): the start
function reads them there for each new incident that names an integration or a policy, with one Query. An incident
held by a window carries ``maintenance_window`` (its id) and ``maintenance_until``, and its id is added to the
window's ``held`` set first, so the window's end finds what it holds without a Scan. Releasing one removes both
attributes: the item is then a fresh, never-started incident again, and the stream's MODIFY record starts its
escalation (escalation.incidents.start), as it starts any new incident.

A hold racing the window's end: the holder reads the window again after its write, and releases the incident
itself when the window ended meanwhile; a release is conditional on the window still holding it, so an incident
is released once whichever side gets there first.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents.maintenance import Window, iso, window_from_item
from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.store.incident_table import is_conditional_failure

PARTITION = "maintenance"
KEEP_SECONDS = 30 * 86_400  # an ended window stays listed a month (DynamoDB's TTL then deletes it)


class MaintenanceWindows:
    """Windows in the on-call table."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def all(self) -> list[Window]:
        """Every stored window, planned, active or ended (one Query, every page)."""
        windows: list[Window] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": PARTITION}}
        while True:
            page = self.table.query(ConsistentRead=True, **kwargs)
            windows.extend(window_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(windows, key=lambda window: (window.start, window.id))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, window_id: str) -> Window | None:
        """One window, read consistently; None when there is no such window."""
        item = self.table.get_item(Key={"pk": PARTITION, "sk": window_id}, ConsistentRead=True).get("Item")
        return None if item is None else window_from_item(item)

    def put(self, window: Window, *, request_id: str) -> Window:
        """Store a new window once per request id (a retried request gets the window it made)."""
        item = {
            "pk": PARTITION, "sk": window.id, "scope": window.scope, "target": window.target, "start": window.start,
            "end": window.end, "reason": window.reason, "by": window.by, "request_id": request_id,
            "expires_at": window.end + KEEP_SECONDS,
        }  # fmt: skip
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            existing = self.get(window.id)
            assert existing is not None
            return existing
        return window

    def end(self, window_id: str, at: int) -> Window | None:
        """End a window early (at most once; a later end keeps the first); None when there is no such window."""
        try:
            item = self.table.update_item(
                Key={"pk": PARTITION, "sk": window_id},
                UpdateExpression="SET ended_at = :at",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(ended_at)",
                ExpressionAttributeValues={":at": at},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            return self.get(window_id)
        return window_from_item(item)


def hold(windows: MaintenanceWindows, incidents: Any, incident_id: str, window: Window) -> bool:
    """Hold a fresh, never-started incident in window; False when it started, closed, or is held by it already.

    When the window has ended by the time the hold is written, the incident is released at once (it pages).
    """
    windows.table.update_item(
        Key={"pk": PARTITION, "sk": window.id},
        UpdateExpression="ADD held :id",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":id": {incident_id}},
    )
    entry = timeline_entry(Event.MAINTENANCE, utc_now(), window=window.id, until=iso(window.until), reason=window.reason)
    try:
        incidents.update_item(
            Key={"incident_id": incident_id},
            UpdateExpression="SET maintenance_window = :window, maintenance_until = :until,"
            " #timeline = list_append(if_not_exists(#timeline, :empty), :entries)",
            ConditionExpression="attribute_exists(incident_id) AND attribute_not_exists(execution_arn)"
            " AND (attribute_not_exists(incident_stat) OR incident_stat = :fresh)"
            " AND (attribute_not_exists(maintenance_window) OR maintenance_window <> :window)",
            ExpressionAttributeNames={"#timeline": "timeline"},
            ExpressionAttributeValues={
                ":window": window.id,
                ":until": iso(window.until),
                ":entries": [entry],
                ":empty": [],
                ":fresh": Status.NOT_ACKNOWLEDGED.value,
            },
        )
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    now = windows.get(window.id)
    if now is None or not now.active(time.time()):
        release(incidents, incident_id, window.id)
    return True


def held_by(windows: MaintenanceWindows, window_id: str) -> list[str]:
    """The ids of the incidents the window was noted to hold (some may have been released or closed since)."""
    item = windows.table.get_item(Key={"pk": PARTITION, "sk": window_id}, ConsistentRead=True).get("Item") or {}
    return sorted(str(incident_id) for incident_id in item.get("held", set()))


def release(incidents: Any, incident_id: str, window_id: str) -> bool:
    """Let go of one incident window holds (its escalation then starts from the stream); False if it holds it no more."""
    entry = timeline_entry(Event.MAINTENANCE_ENDED, utc_now(), window=window_id)
    try:
        incidents.update_item(
            Key={"incident_id": incident_id},
            UpdateExpression="SET #timeline = list_append(if_not_exists(#timeline, :empty), :entries), released_at = :now"
            " REMOVE maintenance_window, maintenance_until",
            ConditionExpression="maintenance_window = :window",
            ExpressionAttributeNames={"#timeline": "timeline"},
            ExpressionAttributeValues={":window": window_id, ":entries": [entry], ":empty": [], ":now": int(time.time())},
        )
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    return True
