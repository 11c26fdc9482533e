"""Data access: the incidents table's answers (acknowledged, resolved, repeats, replies, new passes)."""

import time
from collections.abc import Mapping
from typing import Any

from escalation.incidents.status import RESOLVABLE_STATUSES, Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.store.escalation_writes import EscalationWrites
from escalation.store.incident_table import _FRESH, _FRESH_VALUES, _IS_OPEN, _OPEN, _SETTLED, _SETTLED_VALUES

# Started or settled, or held by a maintenance window (escalation.store.maintenance_windows): the stream start of a held
# incident finds it held still and writes nothing, so a repeat may write to it.
_SETTLED_OR_HELD = f"({_SETTLED} OR attribute_exists(maintenance_window))"


class IncidentRepository(EscalationWrites):
    """Reads and conditionally updates incident items; every change appends to `timeline`."""

    def acknowledge_by_reply(
        self, incident_id: str, *, by: str, at: str, via: str, entries: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Acknowledge an open, exhausted or failed incident for the reply `via` (its inbound message id).

        The task token stays until the task is completed (forget_token), so a retry of the same reply
        can still complete it; returns the item as it was, None if the incident was not acknowledgeable.
        """
        return self._update(
            incident_id,
            sets={
                "incident_stat": Status.ACKNOWLEDGED.value,
                "acknowledged_by": by,
                "acknowledged_at": at,
                "acknowledged_via": via,
                "stat_date": at,
            },
            entries=entries,
            condition="incident_stat IN (:open0, :open1, :exhausted, :failed)",
            condition_values={**_OPEN, ":exhausted": Status.UNACKNOWLEDGED.value, ":failed": Status.FAILED.value},
            return_old=True,
        )

    def resolve(self, incident_id: str, *, by: str, at: str, via: str, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Mark a started incident resolved (open, acknowledged, exhausted or failed); the old item, None if not resolvable.

        The task token stays until the resolve has completed it (forget_token), like an acknowledgement's.
        """
        resolvable = {f":r{index}": status.value for index, status in enumerate(RESOLVABLE_STATUSES)}
        return self._update(
            incident_id,
            sets={
                "incident_stat": Status.RESOLVED.value,
                "resolved_by": by,
                "resolved_at": at,
                "resolved_via": via,
                "stat_date": at,
            },
            entries=entries,
            condition=f"incident_stat IN ({', '.join(resolvable)})",
            condition_values=resolvable,
            return_old=True,
        )

    def close_before_start(
        self, incident_id: str, *, status: Status, by: str, at: str, via: str, entries: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Acknowledge or resolve an incident whose escalation has not started; the old item, None if it was not fresh.

        The stream then never starts it (record_started needs a fresh item), so nobody is paged. Resolving
        also takes an incident acknowledged before its start.
        """
        prefix = "acknowledged" if status == Status.ACKNOWLEDGED else "resolved"
        condition, values = _FRESH, dict(_FRESH_VALUES)
        if status == Status.RESOLVED:
            condition = condition.replace("incident_stat = :fresh", "incident_stat IN (:fresh, :acked)")
            values[":acked"] = Status.ACKNOWLEDGED.value
        return self._update(
            incident_id,
            sets={
                "incident_stat": status.value,
                f"{prefix}_by": by,
                f"{prefix}_at": at,
                f"{prefix}_via": via,
                "stat_date": at,
            },
            entries=entries,
            condition=condition,
            condition_values=values,
            return_old=True,
            started_only=False,
        )

    def start_new_pass(
        self, item: Mapping[str, Any], *, execution: str, not_before: int, at: str, entries: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Escalate an exhausted or failed incident again under a new execution (the stream starts it); None if not now.

        Conditional on the pass it replaces (its execution and status) and on that pass having begun at
        or before `not_before` (epoch seconds), so concurrent triggers start one pass and a flapping alert
        at most one per repeatAfterSeconds.
        """
        sets: dict[str, Any] = {
            "execution_arn": execution,
            "incident_stat": Status.NOT_ACKNOWLEDGED.value,
            "escalation_level": 0,
            "double_escalation": "no",
            "pass_started": int(time.time()),
            "passes": int(item.get("passes", 1)) + 1,
            "past_executions": [*item.get("past_executions", []), item["execution_arn"]],  # replies to them still count
            "stat_date": at,
        }
        if "level_contacts" in item:
            sets["level_contacts"] = {}  # who is on call now is paged, not who was
        result = self._update(
            str(item["incident_id"]),
            sets=sets,
            entries=entries,
            condition="execution_arn = :previous AND incident_stat IN (:exhausted, :failed) "
            "AND (attribute_not_exists(pass_started) OR pass_started <= :not_before)",
            condition_values={
                ":previous": item["execution_arn"],
                ":exhausted": Status.UNACKNOWLEDGED.value,
                ":failed": Status.FAILED.value,
                ":not_before": not_before,
            },
            removes=("escalated_to", "task_token", "current_contact", "current_contacts", "#error", "fault"),
            extra_names={"#error": "error"},
        )
        return result

    def record_repeat(self, incident_id: str, *, dedup_key: str, entry: dict[str, Any], cap: int) -> bool:
        """Count a repeated alert on an open or settled incident; False if there is none.

        Open or settled: started, taken before its start, or held by a maintenance window, and not resolved.

        Only the first `cap` repeats go on the timeline (a flapping alert must not fill the item); all are counted.
        """
        resolvable = {f":r{index}": status.value for index, status in enumerate(RESOLVABLE_STATUSES)}
        condition = f"dedup_key = :dedup AND incident_stat IN ({', '.join(resolvable)})"
        values = {":dedup": dedup_key, ":one": 1, **resolvable, **_SETTLED_VALUES}
        if self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="SET #t = list_append(if_not_exists(#t, :empty), :entries) ADD alert_count :one",
            ConditionExpression=f"{condition} AND (attribute_not_exists(alert_count) OR alert_count < :cap)",
            ExpressionAttributeNames={"#t": "timeline"},
            ExpressionAttributeValues={**values, ":empty": [], ":entries": [entry], ":cap": cap},
            started=_SETTLED_OR_HELD,
        ):
            return True
        return self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="ADD alert_count :one",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            started=_SETTLED_OR_HELD,
        )

    def raise_urgency(self, incident_id: str, *, severity: str, at: str) -> bool:
        """Make a low-urgency incident high (a repeat raised its severity); False when it was not low.

        A level waiting for working hours pages at its next look (escalation.paging.urgency).
        """
        entry = timeline_entry(Event.URGENCY_RAISED, at, severity=severity)
        return self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="SET urgency = :high, severity = :severity, #t = list_append(if_not_exists(#t, :empty), :entries)",
            ConditionExpression="urgency = :low",
            ExpressionAttributeNames={"#t": "timeline"},
            ExpressionAttributeValues={
                ":high": "high",
                ":low": "low",
                ":severity": severity,
                ":empty": [],
                ":entries": [entry],
                **_SETTLED_VALUES,
            },
            started=_SETTLED_OR_HELD,
        )

    def forget_token(self, incident_id: str, token: str) -> None:
        """Remove a task token that has been completed (unless a newer one replaced it)."""
        self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="REMOVE task_token",
            ConditionExpression="task_token = :token",
            ExpressionAttributeValues={":token": token},
        )

    def record_reply(self, incident_id: str, entry: dict[str, Any], *, closed_cap: int) -> bool:
        """Append a reply to the timeline; after the incident closed, only the first closed_cap are kept.

        Every reply after the close is counted in `replies_after_close`; returns whether it was recorded.
        """
        if self._update(incident_id, sets={}, entries=[entry], condition=_IS_OPEN, condition_values=_OPEN) is not None:
            return True
        names = {"#after": "replies_after_close", "#t": "timeline"}
        if self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="SET #t = list_append(if_not_exists(#t, :empty), :entries) ADD #after :one",
            ConditionExpression="attribute_exists(incident_id) AND (attribute_not_exists(#after) OR #after < :cap)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":empty": [], ":entries": [entry], ":one": 1, ":cap": closed_cap},
        ):
            return True
        self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="ADD #after :one",
            ConditionExpression="attribute_exists(incident_id)",
            ExpressionAttributeNames={"#after": "replies_after_close"},
            ExpressionAttributeValues={":one": 1},
        )
        return False
