"""Ceilings on texts per incident and per hour: a runaway loop stops and alarms instead of spending."""

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from .repository import is_conditional_failure
from .sms import SmsAccountFault


class SmsCeilingReached(SmsAccountFault):
    """A ceiling on texts was reached; nothing is sent (our limit, never the contact's fault)."""


class SmsCeiling:
    """Counts texts in the messages table; `take` refuses once a ceiling is reached (0 means none)."""

    def __init__(self, table: Any, *, per_incident: int, per_hour: int) -> None:
        self._table = table
        self._per_incident = per_incident
        self._per_hour = per_hour

    def _count(self, key: str, ceiling: int, keep: timedelta) -> bool:
        if ceiling <= 0:
            return True
        try:
            self._table.update_item(
                Key={"message_id": key},
                UpdateExpression="ADD sent :one SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(sent) OR sent < :ceiling",
                ExpressionAttributeValues={
                    ":one": 1,
                    ":ceiling": ceiling,
                    ":expires": int((datetime.now(UTC) + keep).timestamp()),
                },
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def take(self, incident_id: str) -> None:
        """Count one text for incident_id; raises SmsCeilingReached when a ceiling is reached."""
        if not self._count(f"ceiling#incident#{incident_id}", self._per_incident, timedelta(days=30)):
            raise SmsCeilingReached(f"SmsCeilingReached: {self._per_incident} texts for this incident (maxSmsPerIncident)")
        hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
        if not self._count(f"ceiling#hour#{hour}", self._per_hour, timedelta(days=2)):
            raise SmsCeilingReached(f"SmsCeilingReached: {self._per_hour} texts this hour (maxSmsPerHour)")
