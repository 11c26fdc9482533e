"""Storm batching: pages that reach a person who already has an unanswered page go out together, in one text.

A storm (200 alerts over 20 dedup keys) must not become 20 texts to one person, one per second on a
10DLC number. The first page to a person goes at once. A page to someone who already has another
incident open is not sent on its own: it joins that person's open batch (or opens one that closes
``stormBatchSeconds`` later) and its task completes as `queued` until the batch closes, like a page
waiting for a send slot. When the wait is over, the first of the batch's pages to run again takes the
batch (one conditional write) and sends one text listing them all ("3 new incidents: 4821 db-cpu,
4822 api-5xx, 4823 +1 more. Reply YES ALL or YES <id>."); every page of the batch is then marked sent
under its own once-only key, so the others run again, find their page sent and wait for the reply,
each with a fresh acknowledgement window. A batch of one is sent as the ordinary page.

Items in the messages table (keyed ``message_id`` like everything else there, with its TTL):
- ``batch#<number>``: ``flush_at`` (epoch ms), ``members`` (one map per page), ``taken`` once sent.
- ``batched#<page key>``: the batch a page joined (its ``flush_at``), so a retried page never joins twice.

If the batch text cannot be sent (the number is dead, throttling, a fault of ours), nothing is marked:
each page of the batch then goes out on its own and meets the fault the ordinary way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from escalation.store.incident_table import is_conditional_failure

_ATTEMPTS = 5  # conditional-write retries when two pages open a batch at the same instant
HELD_WAIT_SECONDS = 30.0  # how long a page of a taken batch waits for its taker to hold the pages (a crashed taker)
_POLL_SECONDS = 0.1


def now_ms() -> int:
    """Wall-clock milliseconds (the batch deadline is shared by every function)."""
    return int(time.time() * 1000)


class Batches:
    """Per-person page batches in the messages table."""

    def __init__(self, table: Any, *, window_seconds: int, ttl_days: int = 1) -> None:
        self._table = table
        self.window_ms = window_seconds * 1000
        self._ttl = timedelta(days=ttl_days)

    def _expires_at(self) -> int:
        return int((datetime.now(UTC) + self._ttl).timestamp())

    def joined(self, page_key: str) -> int | None:
        """When the batch this page joined closes (epoch ms); None when it joined none."""
        mine = self._table.get_item(Key={"message_id": f"batched#{page_key}"}, ConsistentRead=True).get("Item")
        return int(mine["flush_at"]) if mine else None

    def join(
        self, number: str, page_key: str, member: Mapping[str, Any], *, at_ms: int | None = None, window_ms: int | None = None
    ) -> int:
        """Add a page to the number's open batch, or open one; returns when the batch closes (epoch ms).

        Idempotent per page_key: a retried page gets the batch it joined the first time. window_ms: how long a batch
        opened now stays open (longer for the later batches of a storm); the configured window by default.
        """
        earlier = self.joined(page_key)
        if earlier is not None:
            return earlier
        key = {"message_id": f"batch#{number}"}
        for _ in range(_ATTEMPTS):
            now = at_ms if at_ms is not None else now_ms()
            try:
                response = self._table.update_item(
                    Key=key,
                    UpdateExpression="SET members = list_append(members, :member)",
                    ConditionExpression="attribute_exists(message_id) AND attribute_not_exists(taken) AND flush_at > :now",
                    ExpressionAttributeValues={":member": [dict(member)], ":now": now},
                    ReturnValues="ALL_NEW",
                )
                flush_at = int(response["Attributes"]["flush_at"])
                break
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise
            flush_at = now + (self.window_ms if window_ms is None else window_ms)
            try:
                self._table.put_item(
                    Item={**key, "flush_at": flush_at, "members": [dict(member)], "expires_at": self._expires_at()},
                    ConditionExpression="attribute_not_exists(message_id) OR attribute_exists(taken) OR flush_at <= :now",
                    ExpressionAttributeValues={":now": now},
                )
                break
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise  # else someone opened a batch this instant: join it
        else:
            raise RuntimeError(f"could not join a page batch for {page_key} after {_ATTEMPTS} attempts")
        self._table.put_item(Item={"message_id": f"batched#{page_key}", "flush_at": flush_at, "expires_at": self._expires_at()})
        return flush_at

    def closes_at(self, number: str) -> int | None:
        """When number's latest page batch closes, or closed (epoch ms); None when it has none."""
        item = self._table.get_item(Key={"message_id": f"batch#{number}"}, ConsistentRead=True).get("Item")
        return int(item["flush_at"]) if item else None

    def mark_held(self, number: str, flush_at: int) -> None:
        """The taker of the batch closing at flush_at has held (or left out) every page: the others may look now."""
        try:
            self._table.update_item(
                Key={"message_id": f"batch#{number}"},
                UpdateExpression="SET held = :true",
                ConditionExpression="flush_at = :flush_at",
                ExpressionAttributeValues={":true": True, ":flush_at": flush_at},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # else a newer batch replaced it: nobody waits for this one any more

    def wait_held(self, number: str, flush_at: int, *, timeout_s: float = HELD_WAIT_SECONDS) -> bool:
        """Wait until the taker of the batch closing at flush_at has held its pages; False if it never did in time.

        A page of the batch that wakes as another takes it must not go out alone while the taker is still holding
        the pages' once-only keys: it waits for that, then finds its key held (and waits for the text) or free.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            item = self._table.get_item(Key={"message_id": f"batch#{number}"}, ConsistentRead=True).get("Item") or {}
            if item.get("flush_at") != flush_at or item.get("held"):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)

    def take(self, number: str, flush_at: int) -> list[dict[str, Any]] | None:
        """Claim the closed batch that closes at flush_at; its pages, each once; None when someone else took it."""
        try:
            response = self._table.update_item(
                Key={"message_id": f"batch#{number}"},
                UpdateExpression="SET taken = :true",
                ConditionExpression="flush_at = :flush_at AND attribute_not_exists(taken)",
                ExpressionAttributeValues={":true": True, ":flush_at": flush_at},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        members: dict[str, dict[str, Any]] = {}
        for member in response["Attributes"].get("members", []):
            members.setdefault(str(member["page_key"]), member)  # a page retried before the batch closed joins once
        return list(members.values())
