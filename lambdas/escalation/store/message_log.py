"""The outbound message log: every text we send, by MessageId, so replies and receipts find their incident.

Replies find a number's pages through the by_contact index, which DynamoDB updates a moment after the write
(eventually consistent). So that a YES sent the instant a page arrives is never read against an older list,
each page or reminder also writes ``last_page#<number>`` (the newest page's id and time, read consistently):
a reader that does not find that page in the index yet waits for it (latest_pages_to).
"""

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from escalation.store.incident_table import is_conditional_failure

PAGE_KINDS = frozenset({"page", "reminder"})
INDEX_WAIT_SECONDS = 5.0  # how long a reply waits for the index to show the newest page (usually under a second)


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
        if kind in PAGE_KINDS:
            self._note_last_page(contact, message_id, at)

    def _note_last_page(self, contact: str, message_id: str, at: str) -> None:
        """Remember the newest page to contact (a later one wins, whatever order the writes land in)."""
        try:
            self._table.put_item(
                Item={"message_id": f"last_page#{contact}", "page": message_id, "sent_at": at, "expires_at": self._expires_at()},
                ConditionExpression="attribute_not_exists(sent_at) OR sent_at <= :at",
                ExpressionAttributeValues={":at": at},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # else a newer page is already remembered

    def latest_pages_to(self, contact: str) -> list[dict[str, Any]]:
        """pages_to, once the index shows the newest page sent to contact (waits up to INDEX_WAIT_SECONDS for it)."""
        newest = self._table.get_item(Key={"message_id": f"last_page#{contact}"}, ConsistentRead=True).get("Item")
        rows = self.pages_to(contact)
        deadline = time.monotonic() + INDEX_WAIT_SECONDS
        delay = 0.1
        while newest is not None and not any(row["message_id"] == newest["page"] for row in rows):
            if time.monotonic() >= deadline:
                break  # the row's TTL removed it, or the index is very late: what it shows is all there is
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            rows = self.pages_to(contact)
        return rows

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
