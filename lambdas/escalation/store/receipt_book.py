"""Where receipts are written: the incident's timeline and cost, and each text's row, in one transaction each.

A receipt is recorded only on the incarnation that sent the text (same_incarnation), and only when it moves the
row's `delivery_rank` on; a text's price is added once, with a `priced` mark on its row (sms/receipts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from escalation.store.incident_table import is_conditional_failure
from escalation.store.message_log import MessageLog

RECEIPTS_KEPT = 50  # receipt entries one timeline keeps (a realistic incident sends far fewer texts)


@dataclass(frozen=True)
class Target:
    """One incident a text was about, through the message log row that gates its receipts."""

    row_id: str  # the row's message_id: the real id for the text's own row, batch#... for a batch's listing rows
    incident_id: str
    execution: str  # the pass that sent it; "" when the text is about no single pass
    level: int
    contact: str
    kind: str
    sent_at: str


def _target(row: Mapping[str, Any]) -> Target:
    return Target(
        row_id=str(row["message_id"]),
        incident_id=str(row.get("incident_id", "")),
        execution=str(row.get("execution") or ""),
        level=int(row.get("level", 0)),
        contact=str(row.get("contact", "")),
        kind=str(row.get("kind", "")),
        sent_at=str(row.get("sent_at", "")),
    )


def targets_of(log: MessageLog, row: Mapping[str, Any]) -> list[Target]:
    """The incidents a text was about: its own row's, and for a batch text every incident it listed (once each).

    The text's own row comes first: it is the one whose incident pays for the text.
    """
    rows: list[Mapping[str, Any]] = [row]
    if row.get("batch"):
        rows += [other for other in log.rows_of_batch(row) if other["message_id"] != row["message_id"]]
    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for found in rows:
        target = _target(found)
        if (target.incident_id, target.execution) not in seen:
            seen.add((target.incident_id, target.execution))
            targets.append(target)
    return targets


# An item is the incarnation that sent a text when that text's pass is its current or one of its earlier passes.
_SAME_INCARNATION = "attribute_exists(incident_id) AND (execution_arn = :execution OR contains(past_executions, :execution))"


def same_incarnation(item: Mapping[str, Any] | None, execution: str) -> bool:
    """The Python twin of _SAME_INCARNATION."""
    if item is None or not execution:
        return False
    return execution in (item.get("execution_arn"), *(item.get("past_executions") or []))


def _cancellation(error: ClientError) -> list[str]:
    """The reason code of each action of a cancelled transaction; raises anything else (retried by the caller)."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise error
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]


class ReceiptBook:
    """Writes receipts: each message log row (how far its text got, whether it is paid) together with its incident."""

    def __init__(self, incidents_table: Any, messages_table: Any) -> None:
        self._incidents = incidents_table
        self._messages = messages_table
        self._client = incidents_table.meta.client  # a resource's client: plain Python values, converted

    @property
    def messages_table(self) -> Any:
        """The messages table (test pages keep their item there)."""
        return self._messages

    def record(self, target: Target, *, rank: int, event_type: str, entry: Mapping[str, Any]) -> str:
        """Put entry on the target's timeline if the event takes its text further; what happened.

        "recorded", "not_kept" (counted only: the timeline holds RECEIPTS_KEPT already), "not_newer" (an event as
        far or further was recorded before) or "other_incarnation" (the item is not the one that sent the text).
        """
        gate = {
            "TableName": self._messages.name,
            "Key": {"message_id": target.row_id},
            "UpdateExpression": "SET delivery_rank = :rank, delivery_event = :event",
            "ConditionExpression": "attribute_exists(message_id)"
            " AND (attribute_not_exists(delivery_rank) OR delivery_rank < :rank)",
            "ExpressionAttributeValues": {":rank": rank, ":event": event_type},
        }
        for _ in range(3):  # the item changed between the read and the write (its cap reached, or it was replaced)
            item = self._incidents.get_item(Key={"incident_id": target.incident_id}, ConsistentRead=True).get("Item")
            if not same_incarnation(item, target.execution):
                return "other_incarnation"
            assert item is not None
            kept = int(item.get("receipt_entries", 0)) < RECEIPTS_KEPT
            update: dict[str, Any] = {
                "TableName": self._incidents.name,
                "Key": {"incident_id": target.incident_id},
                "ExpressionAttributeValues": {":execution": target.execution, ":one": 1},
            }
            if kept:
                update["UpdateExpression"] = "SET #t = list_append(if_not_exists(#t, :empty), :entries) ADD receipt_entries :one"
                update["ConditionExpression"] = (
                    f"{_SAME_INCARNATION} AND (attribute_not_exists(receipt_entries) OR receipt_entries < :cap)"
                )
                update["ExpressionAttributeNames"] = {"#t": "timeline"}
                update["ExpressionAttributeValues"].update({":empty": [], ":entries": [dict(entry)], ":cap": RECEIPTS_KEPT})
            else:
                update["UpdateExpression"] = "ADD receipts_not_kept :one"
                update["ConditionExpression"] = _SAME_INCARNATION
            try:
                self._client.transact_write_items(TransactItems=[{"Update": gate}, {"Update": update}])
            except ClientError as error:
                reasons = _cancellation(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return "not_newer"
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    continue
                raise  # a conflicting transaction: the event is retried
            return "recorded" if kept else "not_kept"
        raise RuntimeError(f"incident {target.incident_id} kept changing while its receipt was recorded")

    def charge(self, row_id: str, payer: Target | None, cost: Decimal) -> str:
        """Mark the text's row paid and add cost to its incident, together; "charged", "charged_no_incident" or "already"."""
        mark = {
            "TableName": self._messages.name,
            "Key": {"message_id": row_id},
            "UpdateExpression": "SET priced = :cost",
            "ConditionExpression": "attribute_exists(message_id) AND attribute_not_exists(priced)",
            "ExpressionAttributeValues": {":cost": cost},
        }
        if payer is not None and payer.execution:
            add = {
                "TableName": self._incidents.name,
                "Key": {"incident_id": payer.incident_id},
                "UpdateExpression": "ADD #cost :cost",
                "ConditionExpression": _SAME_INCARNATION,
                "ExpressionAttributeNames": {"#cost": "cost"},
                "ExpressionAttributeValues": {":cost": cost, ":execution": payer.execution},
            }
            try:
                self._client.transact_write_items(TransactItems=[{"Update": mark}, {"Update": add}])
            except ClientError as error:
                reasons = _cancellation(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return "already"
                if reasons[1:2] != ["ConditionalCheckFailed"]:
                    raise
            else:
                return "charged"
        try:  # no incident takes it (another incarnation now, or a text about none): the row still says it is paid
            self._messages.update_item(**{key: value for key, value in mark.items() if key != "TableName"})
        except ClientError as error:
            if is_conditional_failure(error):
                return "already"
            raise
        return "charged_no_incident"
