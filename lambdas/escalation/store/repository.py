"""Data access: the incidents table (also the audit log) and the outbound message log."""

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents.levels import numbers_up_to
from escalation.incidents.status import OPEN_STATUSES, RESOLVABLE_STATUSES, Event, Status
from escalation.incidents.timeline import timeline_entry


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, taken when the event happens."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_conditional_failure(error: ClientError) -> bool:
    """True when DynamoDB refused a write because its condition did not hold."""
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


_OPEN = {":open0": Status.NOT_ACKNOWLEDGED.value, ":open1": Status.ESCALATION.value}
_IS_OPEN = "incident_stat IN (:open0, :open1)"
# A workflow acts only on the incident it was started for: the item may have been replaced since.
_IS_OPEN_AND_MINE = _IS_OPEN + " AND execution_arn = :execution"
_STARTED = "attribute_exists(execution_arn)"
# Not started, and not taken or resolved before its start: the item a user (or an alert) just wrote.
_FRESH = (
    "attribute_exists(incident_id) AND attribute_not_exists(execution_arn)"
    " AND (attribute_not_exists(incident_stat) OR incident_stat = :fresh)"
)
_FRESH_VALUES = {":fresh": Status.NOT_ACKNOWLEDGED.value}
# Closed before it started (an alert acknowledged or resolved before the stream started its escalation):
# not fresh, so the stream never starts it, and the app may write to it like a started one.
_SETTLED = "(attribute_exists(execution_arn) OR incident_stat IN (:settled0, :settled1))"
_SETTLED_VALUES = {":settled0": Status.ACKNOWLEDGED.value, ":settled1": Status.RESOLVED.value}


class IncidentRepository:
    """Reads and conditionally updates incident items; every change appends to `timeline`."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, incident_id: str) -> dict[str, Any] | None:
        """The incident item, read consistently, or None."""
        item: dict[str, Any] | None = self._table.get_item(Key={"incident_id": incident_id}, ConsistentRead=True).get("Item")
        return item

    def get_many(self, incident_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The items of these ids that exist, read consistently, 100 per request (BatchGetItem's limit)."""
        table = self._table.name
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(incident_ids), 100):
            keys = [{"incident_id": incident_id} for incident_id in incident_ids[start : start + 100]]
            request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(8):
                response = self._table.meta.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(table, []):  # a resource's client converts types
                    found[str(item["incident_id"])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled: back off, as the SDKs advise for unprocessed keys
            for key in (request.get(table) or {}).get("Keys", []):  # still unprocessed: one by one
                item_or_none = self.get(str(key["incident_id"]))
                if item_or_none is not None:
                    found[str(item_or_none["incident_id"])] = item_or_none
        return found

    def _update(
        self,
        incident_id: str,
        *,
        sets: Mapping[str, Any],
        entries: list[dict[str, Any]],
        condition: str | None = None,
        condition_values: Mapping[str, Any] | None = None,
        removes: tuple[str, ...] = (),
        extra_names: Mapping[str, str] | None = None,
        return_old: bool = False,
        started_only: bool = True,
    ) -> dict[str, Any] | None:
        """Apply one conditional update; None when the condition failed, else the old or new item.

        started_only: the item must carry an execution. A user's PutItem over an id leaves a fresh item
        without one until its new escalation starts; a late write of the old incident's workflow or
        replies must not touch it (the stream would take the write for a new incident and page again).
        """
        if started_only:
            condition = _STARTED + (f" AND ({condition})" if condition else "")
        names = {f"#s{index}": name for index, name in enumerate(sets)} | dict(extra_names or {})
        values: dict[str, Any] = {f":s{index}": value for index, value in enumerate(sets.values())}
        assignments = [f"#s{index} = :s{index}" for index in range(len(sets))]
        if entries:
            names["#timeline"] = "timeline"
            values[":entries"] = entries
            values[":empty"] = []
            assignments.append("#timeline = list_append(if_not_exists(#timeline, :empty), :entries)")
        expression = "SET " + ", ".join(assignments)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        kwargs: dict[str, Any] = {
            "Key": {"incident_id": incident_id},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**values, **(condition_values or {})},
            "ReturnValues": "ALL_OLD" if return_old else "ALL_NEW",
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            attributes: dict[str, Any] = self._table.update_item(**kwargs).get("Attributes", {})
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return attributes

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
            "pass_started": int(time.time()),  # when this pass over the chain began (alert_incidents: re-escalation)
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
            removes=("#error",),  # an item fixed after being marked invalid
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
        """Count a repeated alert on a started (or taken before its start), not yet resolved incident; False if there is none.

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
            started=_SETTLED,
        ):
            return True
        return self._conditional(
            Key={"incident_id": incident_id},
            UpdateExpression="ADD alert_count :one",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            started=_SETTLED,
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

    def _conditional(self, *, started: str = _STARTED, **kwargs: Any) -> bool:
        """One raw conditional UpdateItem on a started incident (see _update); False when its condition did not hold."""
        condition = kwargs.get("ConditionExpression")
        kwargs["ConditionExpression"] = started + (f" AND ({condition})" if condition else "")
        try:
            self._table.update_item(**kwargs)
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True


class MessageLog:
    """Outbound SMS by MessageId, so a reply can be matched to its incident, contact and level."""

    def __init__(self, table: Any, ttl_days: int) -> None:
        self._table = table
        self._ttl = timedelta(days=ttl_days)

    def _expires_at(self) -> int:
        return int((datetime.now(UTC) + self._ttl).timestamp())

    def record(
        self,
        message_id: str,
        *,
        incident_id: str,
        contact: str,
        level: int,
        kind: str,
        at: str,
        execution: str | None = None,
        batch: str | None = None,
    ) -> None:
        """Remember an outbound message until its TTL.

        execution: the pass of the incident it is about; batch: the batch text it was part of (the same value
        on the row of every incident that text listed).
        """
        item: dict[str, Any] = {
            "message_id": message_id,
            "incident_id": incident_id,
            "contact": contact,
            "level": level,
            "kind": kind,
            "sent_at": at,
            "expires_at": self._expires_at(),
        }
        if execution:
            item["execution"] = execution
        if batch:
            item["batch"] = batch
        self._table.put_item(Item=item)

    def pages_to(self, contact: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The pages and reminders sent to contact (still remembered), newest first; courtesy texts excluded.

        Every one of them (reading page after page) unless limit says otherwise: YES ALL must reach them all.
        """
        query: dict[str, Any] = {
            "IndexName": "by_contact",
            "KeyConditionExpression": "contact = :contact",
            "FilterExpression": "#kind IN (:page, :reminder)",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":contact": contact, ":page": "page", ":reminder": "reminder"},
            "ScanIndexForward": False,
        }
        items: list[dict[str, Any]] = []
        while limit is None or len(items) < limit:
            response = self._table.query(**query)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items if limit is None else items[:limit]

    def get(self, message_id: str) -> dict[str, Any] | None:
        """The row of an outbound message, read consistently; None when it is unknown (or its TTL removed it)."""
        item: dict[str, Any] | None = self._table.get_item(Key={"message_id": message_id}, ConsistentRead=True).get("Item")
        return item if item is not None and "kind" in item else None  # once-only keys share the table

    def rows_of_batch(self, row: Mapping[str, Any], *, window: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
        """Every row with row's `batch`: one per incident the batch text listed, and the sent message's own row.

        They were all written for one text to one number, the listing rows just before it went out, so they are
        read from the by_contact index between `window` before row's sent_at and a minute after it.
        """
        sent = datetime.fromisoformat(str(row["sent_at"]).replace("Z", "+00:00"))
        query: dict[str, Any] = {
            "IndexName": "by_contact",
            "KeyConditionExpression": "contact = :contact AND sent_at BETWEEN :since AND :until",
            "FilterExpression": "#batch = :batch",
            "ExpressionAttributeNames": {"#batch": "batch"},
            "ExpressionAttributeValues": {
                ":contact": row["contact"],
                ":since": (sent - window).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                ":until": (sent + timedelta(minutes=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                ":batch": row["batch"],
            },
        }
        rows: list[dict[str, Any]] = []
        while True:
            response = self._table.query(**query)
            rows.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return rows
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def is_open(item: Mapping[str, Any]) -> bool:
    """True while the incident is still being escalated."""
    return item.get("incident_stat") in OPEN_STATUSES


def paged_contacts(item: Mapping[str, Any]) -> list[str]:
    """Everyone paged so far, once each, except numbers a page could not reach."""
    unreachable = set(item.get("unreachable", []))
    return [number for number in numbers_up_to(item, int(item.get("escalation_level", 0))) if number not in unreachable]
