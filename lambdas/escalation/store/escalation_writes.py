"""The writes of an escalation's own workflow: started, paged, parked, escalated, exhausted, failed, faults."""

import time
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.store.incident_table import (
    _FRESH,
    _FRESH_VALUES,
    _IS_OPEN_AND_MINE,
    _OPEN,
    _SETTLED_VALUES,
    _STARTED,
    IncidentTable,
    is_conditional_failure,
)


class EscalationWrites(IncidentTable):
    """What the start, page and unacknowledged functions record as the escalation walks its chain."""

    def mark_invalid(self, incident_id: str, error: str, at: str) -> bool:
        """Mark an item that cannot be paged, with the reason; never touches a started incident."""
        result = self._update(
            incident_id,
            sets={"incident_stat": Status.INVALID.value, "error": error, "stat_date": at},
            entries=[timeline_entry(Event.INVALID, at, error=error)],
            # any unstarted item (its status may be the broken field) but one closed before its start
            condition="attribute_exists(incident_id) AND attribute_not_exists(execution_arn)"
            " AND NOT (incident_stat IN (:settled0, :settled1))",
            condition_values=_SETTLED_VALUES,
            started_only=False,
        )
        return result is not None

    def record_started(
        self, incident_id: str, contacts: list[str], execution_arn: str, at: str, *, policy: str | None = None
    ) -> bool:
        """Record the escalation chain and execution before it starts; False if already recorded.

        A policy's levels are resolved when paged, into ``level_contacts`` (see escalation.levels).
        """
        sets: dict[str, Any] = {
            "incident_stat": Status.NOT_ACKNOWLEDGED.value,  # optional on a new item; page_contact needs it open
            "escalation_chain": contacts,
            "escalation_level": 0,
            "execution_arn": execution_arn,
            "stat_date": at,
            "double_escalation": "no",
            "pass_started": int(time.time()),  # when this pass over the chain began (escalation.alerts.incidents: re-escalation)
        }
        if policy is not None:
            sets["level_contacts"] = {}
        result = self._update(
            incident_id,
            sets=sets,
            entries=[timeline_entry(Event.CREATED, at, contacts=len(contacts), policy=policy)],
            condition=_FRESH,  # an alert acknowledged or resolved before its start is never paged
            condition_values=_FRESH_VALUES,
            started_only=False,
            removes=("#error", "maintenance_window", "maintenance_until"),  # fixed after invalid; no longer held
            extra_names={"#error": "error"},
        )
        return result is not None

    def record_pass(self, incident_id: str, contacts: list[str], *, execution: str) -> bool:
        """Record the chain of a new pass before it starts; False when the incident moved on (taken, resolved)."""
        result = self._update(
            incident_id,
            sets={"escalation_chain": contacts},
            entries=[],
            condition=_IS_OPEN_AND_MINE,
            condition_values={**_OPEN, ":execution": execution},
        )
        return result is not None

    def park_token(
        self, incident_id: str, *, execution: str, level: int, contacts: list[str], token: str, at: str
    ) -> dict[str, Any] | None:
        """Store the task token of the page in flight; returns the item, None when closed or not this execution's.

        contacts: the numbers this level pages (one for a contact chain, any number for a policy level;
        none when nobody is on call).
        """
        status = Status.NOT_ACKNOWLEDGED if level == 0 else Status.ESCALATION
        return self._update(
            incident_id,
            sets={
                "task_token": token,
                "escalation_level": level,
                "current_contact": contacts[0] if contacts else "",
                "current_contacts": contacts,
                "incident_stat": status.value,
                "stat_date": at,
            },
            entries=[],
            condition=_IS_OPEN_AND_MINE,
            condition_values={**_OPEN, ":execution": execution},
        )

    def resolve_level(
        self, incident_id: str, *, execution: str, level: int, numbers: list[str], entries: list[dict[str, Any]]
    ) -> list[str] | None:
        """Keep who a policy level pages, the first time it is resolved; returns the kept numbers.

        A retried or concurrent page of the same level gets the numbers resolved first, so a handoff
        between two tries never splits one level between two people. None when closed or not mine.
        """
        try:
            response = self._table.update_item(
                Key={"incident_id": incident_id},
                UpdateExpression="SET level_contacts.#level = if_not_exists(level_contacts.#level, :numbers)",
                ConditionExpression=f"{_STARTED} AND {_IS_OPEN_AND_MINE} AND attribute_not_exists(level_contacts.#level)",
                ExpressionAttributeNames={"#level": str(level)},
                ExpressionAttributeValues={":numbers": numbers, **_OPEN, ":execution": execution},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            item = self.get(incident_id) or {}
            kept = (item.get("level_contacts") or {}).get(str(level))
            if kept is None or item.get("execution_arn") != execution:
                return None
            return [str(number) for number in kept]
        if entries:
            self.append(incident_id, *entries)
        return [str(number) for number in response["Attributes"]["level_contacts"][str(level)]]

    def record_escalation(self, incident_id: str, *, level: int, entries: list[dict[str, Any]]) -> bool:
        """Record the move to level once, however often its page is retried; False if already recorded."""
        result = self._update(
            incident_id,
            sets={"escalated_to": level},
            entries=entries,
            condition="attribute_not_exists(escalated_to) OR escalated_to < :level",
            condition_values={":level": level},
        )
        return result is not None

    def record_sent(self, incident_id: str, entry: dict[str, Any]) -> None:
        """Record a page or reminder that went out; a fault shown while it was retried is over."""
        self._update(incident_id, sets={}, entries=[entry], removes=("fault",))

    def append(self, incident_id: str, *entries: dict[str, Any]) -> None:
        """Append entries to the timeline without changing anything else."""
        self._update(incident_id, sets={}, entries=list(entries))

    def exhaust(self, incident_id: str, *, execution: str, at: str, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Mark the chain exhausted; returns the new item, None when closed or not this execution's."""
        return self._update(
            incident_id,
            sets={"incident_stat": Status.UNACKNOWLEDGED.value, "stat_date": at},
            entries=entries,
            condition=_IS_OPEN_AND_MINE,
            condition_values={**_OPEN, ":execution": execution},
            removes=("task_token", "current_contact", "current_contacts"),
        )

    def fail(
        self, incident_id: str, *, execution: str, error: str, at: str, entries: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Stop paging after a fault of ours outlasted its retries; None when closed or not this execution's."""
        return self._update(
            incident_id,
            sets={"incident_stat": Status.FAILED.value, "error": error, "stat_date": at},
            entries=entries,
            condition=_IS_OPEN_AND_MINE,
            condition_values={**_OPEN, ":execution": execution},
            removes=("task_token",),
        )

    def record_fault(self, incident_id: str, *, execution: str, fault: str, entries: list[dict[str, Any]]) -> None:
        """Show a fault of ours on an open incident (`fault`) while its page is retried."""
        self._update(
            incident_id,
            sets={"fault": fault},
            entries=entries,
            condition=_IS_OPEN_AND_MINE,
            condition_values={**_OPEN, ":execution": execution},
        )

    def mark_unreachable(self, incident_id: str, contact: str, entry: dict[str, Any]) -> None:
        """Remember a number the page could not reach, so courtesy texts skip it."""
        self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="SET #u = list_append(if_not_exists(#u, :empty), :contact), "
            "#t = list_append(if_not_exists(#t, :empty), :entries)",
            ExpressionAttributeNames={"#u": "unreachable", "#t": "timeline"},
            ExpressionAttributeValues={":empty": [], ":contact": [contact], ":entries": [entry]},
        )

    def mark_double_escalation(self, incident_id: str, *, entries: list[dict[str, Any]]) -> None:
        """Record a NO from a contact the escalation has already moved past."""
        self._update(incident_id, sets={"double_escalation": "yes"}, entries=entries)
