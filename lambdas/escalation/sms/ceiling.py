"""Ceilings on texts per incident and per hour: a runaway loop stops and alarms instead of spending.

The per-incident count belongs to one incarnation (the execution that escalates it): an id written again
later, or a short id reused, starts from zero. Handoff notices belong to no incident: each person has a
daily ceiling of their own, so a busy rotation never runs into a shared counter.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from escalation.sms.client import SmsAccountFault
from escalation.store.incident_table import is_conditional_failure

HANDOFF_NOTICE = "handoff_notice"  # the kind of text a handoff notice is (handoff_notices.py)
HANDOFF_NOTICES_PER_PERSON_PER_DAY = 12  # a shift change every two hours, all day, still fits


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

    def take(self, incident_id: str, *, execution: str | None = None, to: str | None = None, kind: str = "") -> None:
        """Count one text; raises SmsCeilingReached when a ceiling is reached.

        execution: the incarnation the text is about (its ARN or name); a handoff notice (kind) counts for
        its recipient `to` per UTC day instead of for an incident.
        """
        if kind == HANDOFF_NOTICE:
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            if not self._count(f"ceiling#handoff#{to}#{day}", HANDOFF_NOTICES_PER_PERSON_PER_DAY, timedelta(days=2)):
                raise SmsCeilingReached(
                    f"SmsCeilingReached: {HANDOFF_NOTICES_PER_PERSON_PER_DAY} handoff notices today for this person"
                )
        else:
            incarnation = f"{incident_id}#{execution.rsplit(':', 1)[-1]}" if execution else incident_id
            if not self._count(f"ceiling#incident#{incarnation}", self._per_incident, timedelta(days=30)):
                raise SmsCeilingReached(f"SmsCeilingReached: {self._per_incident} texts for this incident (maxSmsPerIncident)")
        hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
        if not self._count(f"ceiling#hour#{hour}", self._per_hour, timedelta(days=2)):
            raise SmsCeilingReached(f"SmsCeilingReached: {self._per_hour} texts this hour (maxSmsPerHour)")
