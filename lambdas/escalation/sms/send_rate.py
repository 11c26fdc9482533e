"""The origination identity's send rate, shared by every function through one item in the messages table.

End User Messaging throttles each origination identity (US 10DLC: 1 message part per second, toll-free
3, most long codes about 10, short codes 100). The item `send-rate#next` holds `next_at`, the instant
(epoch ms) the last reserved slot ends; a send reserves the next `parts / parts_per_second` seconds.

Slots are honest: a slot is reserved only for a text that goes out at its start, so `next_at` never runs
ahead of what was actually sent, and a page waits only for what the number's rate requires.

* A page reserves its slot however far away it is (`reserve`) and goes out when it starts: in the
  function when that is a moment away, otherwise from a fresh task after the state machine has waited
  (page_contact). A burst of pages queues instead of provoking throttling.
* A courtesy text (`take`) reserves a slot only if it starts within the short wait the text is allowed,
  and waits for it. When the next free slot is later (pages queued, or a burst of texts), nothing is
  reserved and the text goes out at once without pushing the queue back: pages keep their slots, a
  notice never delays a page by more than its own parts, and a burst of notices is throttled by the
  service, not queued by us.
"""

import math
import time
from typing import Any

from botocore.exceptions import ClientError

from escalation.store.incident_table import is_conditional_failure

SLOT_KEY = "send-rate#next"
_KEEP_SECONDS = 86_400  # the slot item outlives any queue (messages table TTL attribute)
MAX_INLINE_WAIT_SECONDS = 1.0  # a slot this close is waited for in the function; further ones in the state machine


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


def sleep_until(at_ms: int) -> None:
    """Sleep until the instant at_ms (epoch ms); return at once when it has passed."""
    time.sleep(max(0.0, (at_ms - now_ms()) / 1000))


class SendRate:
    """Reserves send slots: two conditional writes at most, whatever the number of concurrent senders."""

    def __init__(self, table: Any, parts_per_second: float, *, key: str = SLOT_KEY) -> None:
        """key: the item holding the queue (voice calls keep their own, escalation.voice.limits)."""
        self._table = table
        self._ms_per_part = 1000.0 / parts_per_second
        self._key = key

    def reserve(self, parts: int, *, at_ms: int | None = None) -> int:
        """Reserve the next free slot for `parts` message parts, however far; when it starts (epoch ms, never before now).

        The caller must send at that instant (a page: in the function, or after the state machine's wait).
        """
        start = self._reserve(parts, now_ms() if at_ms is None else at_ms, latest=None)
        assert start is not None  # without a latest start the queueing write has no condition
        return start

    def reserve_within(self, parts: int, within_ms: int, *, at_ms: int | None = None) -> int | None:
        """Reserve the next free slot only if it starts within within_ms of now; its start, or None (nothing reserved)."""
        now = now_ms() if at_ms is None else at_ms
        return self._reserve(parts, now, latest=now + max(0, within_ms))

    def take(self, parts: int, *, max_wait_seconds: float) -> bool:
        """Wait for a slot of `parts` parts that starts within max_wait_seconds, reserved for the send that follows.

        False, without waiting or reserving, when the next free slot is later: the caller sends at once (it
        may be throttled) and the queue stays where it is.
        """
        start = self.reserve_within(parts, math.floor(max_wait_seconds * 1000))
        if start is None:
            return False
        sleep_until(start)
        return True

    def _reserve(self, parts: int, now: int, *, latest: int | None) -> int | None:
        """Reserve a slot from now; with latest, only one starting no later than latest (else None)."""
        cost = max(1, math.ceil(parts * self._ms_per_part))
        expires = now // 1000 + _KEEP_SECONDS
        try:  # idle: the next slot is free now
            self._table.update_item(
                Key={"message_id": self._key},
                UpdateExpression="SET next_at = :end, expires_at = :expires",
                ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
                ExpressionAttributeValues={":end": now + cost, ":now": now, ":expires": expires},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        else:
            return now
        # busy: queue behind the last reservation (if its end is soon enough, when there is a latest start)
        request: dict[str, Any] = {
            "Key": {"message_id": self._key},
            "UpdateExpression": "SET next_at = next_at + :cost, expires_at = :expires",
            "ExpressionAttributeValues": {":cost": cost, ":expires": expires},
            "ReturnValues": "UPDATED_NEW",
        }
        if latest is not None:
            request["ConditionExpression"] = "next_at <= :latest"
            request["ExpressionAttributeValues"][":latest"] = latest
        try:
            response = self._table.update_item(**request)
        except ClientError as error:
            if latest is None or not is_conditional_failure(error):
                raise
            return None
        return max(now, int(response["Attributes"]["next_at"]) - cost)
