"""The incidents table (also the audit log): consistent reads and the one conditional update every write uses.

Every change appends to the item's `timeline`. The conditions below say which item a write may touch: a workflow
acts only on the incident it was started for (the item may have been replaced since), and nothing but the stream's
start touches the fresh item a user or an alert just wrote.
"""

import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents.status import Status


def is_conditional_failure(error: ClientError) -> bool:
    """True when DynamoDB refused a write because its condition did not hold."""
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def update_if(table: Any, **request: Any) -> dict[str, Any] | None:
    """table.update_item(**request) under its ConditionExpression; the item after it, or None when that did not hold."""
    try:
        response = table.update_item(**request, ReturnValues="ALL_NEW")
    except ClientError as error:
        if is_conditional_failure(error):
            return None
        raise
    attributes: dict[str, Any] = response["Attributes"]
    return attributes


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


class IncidentTable:
    """Reads incident items and applies conditional updates to them."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @property
    def table(self) -> Any:
        """The incidents table itself (for writes kept beside their own rules, such as maintenance holds)."""
        return self._table

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
