"""Once-only side effects: completing a task token, each courtesy text, each ops message.

Every handler runs at least once per event, so a side effect must be keyed: a retry redoes what did
not happen and skips what did. A key is claimed with a lease before the action and marked done after
it; an action that raises gives the key back; a claim whose holder died (Lambda timeout) can be taken
again once its lease has expired. The only duplicate left is an action that succeeded and whose
invocation died before marking it done, which is the right side to err on for a page.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from escalation.store.incident_table import is_conditional_failure

_PENDING, _DONE = "pending", "done"


class SideEffectInProgress(Exception):
    """Another invocation holds this side effect's lease; retrying later is safe."""


class OnceOnly:
    """Once-only keys in the messages table (`message_id` = key), kept until the table's TTL."""

    def __init__(self, table: Any, ttl_days: int, *, lease_seconds: int = 90, wait_seconds: float = 5.0) -> None:
        self._table = table
        self._ttl = timedelta(days=ttl_days)
        self._lease = lease_seconds
        self._wait = wait_seconds  # how long to wait for a concurrent holder to finish before giving up

    def _claim(self, key: str) -> bool:
        """Take the key's lease; False when it is already done; raises while someone else holds it."""
        now = int(time.time())
        try:
            self._table.put_item(
                Item={
                    "message_id": key,
                    "once": _PENDING,
                    "lease_until": now + self._lease,
                    "expires_at": int((datetime.now(UTC) + self._ttl).timestamp()),
                },
                ConditionExpression="attribute_not_exists(message_id) OR (#once = :pending AND lease_until < :now)",
                ExpressionAttributeNames={"#once": "once"},
                ExpressionAttributeValues={":pending": _PENDING, ":now": now},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            current = self._table.get_item(Key={"message_id": key}, ConsistentRead=True).get("Item") or {}
            if current.get("once") == _PENDING:
                raise SideEffectInProgress(key) from error
            return False
        return True

    def _claim_or_wait(self, key: str) -> bool:
        """Claim the key; while a concurrent invocation holds it, wait a little for it to finish (False once done)."""
        deadline = time.monotonic() + self._wait
        while True:
            try:
                return self._claim(key)
            except SideEffectInProgress:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def once(self, key: str, action: Callable[[], object]) -> bool:
        """Run action unless key was done before; True when it ran now."""
        if not self._claim_or_wait(key):
            return False
        try:
            action()
        except BaseException:
            self._table.delete_item(Key={"message_id": key})
            raise
        self._table.update_item(
            Key={"message_id": key},
            UpdateExpression="SET #once = :done REMOVE lease_until",
            ExpressionAttributeNames={"#once": "once"},
            ExpressionAttributeValues={":done": _DONE},
        )
        return True

    @property
    def table(self) -> Any:
        """The messages table the keys live in (storm batches keep their items there too)."""
        return self._table

    def hold(self, key: str) -> bool:
        """Take key's lease for an action done elsewhere (a batched page); False when done already.

        Raises SideEffectInProgress while another invocation holds it. Pair with mark_done or release.
        """
        return self._claim(key)

    def release(self, key: str) -> None:
        """Give back a lease taken with hold: the action did not happen."""
        self._table.delete_item(Key={"message_id": key})

    def mark_done(self, key: str) -> None:
        """Record key as done without running anything: its action was carried out for it (a batched page)."""
        self._table.put_item(
            Item={"message_id": key, "once": _DONE, "expires_at": int((datetime.now(UTC) + self._ttl).timestamp())}
        )

    def done(self, key: str) -> bool:
        """True when the side effect under key has been carried out."""
        item = self._table.get_item(Key={"message_id": key}, ConsistentRead=True).get("Item") or {}
        return item.get("once") == _DONE
