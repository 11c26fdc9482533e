"""The origination identity's send rate, shared by every function through one item in the messages table.

End User Messaging throttles each origination identity (US 10DLC: 1 message part per second, toll-free
3, most long codes about 10, short codes 100). A burst of pages must queue for slots rather than
provoke throttling: each send reserves the next free slot of `parts / parts_per_second` seconds.
"""

import math
import time
from typing import Any

from botocore.exceptions import ClientError

from .repository import is_conditional_failure

SLOT_KEY = "send-rate#next"
_KEEP_SECONDS = 86_400  # the slot item outlives any queue (messages table TTL attribute)


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


class SendRate:
    """Reserves send slots: two conditional writes at most, whatever the number of concurrent senders."""

    def __init__(self, table: Any, parts_per_second: float) -> None:
        self._table = table
        self._ms_per_part = 1000.0 / parts_per_second

    def reserve(self, parts: int, *, at_ms: int | None = None) -> int:
        """Reserve a slot for `parts` message parts; returns when it starts (epoch ms, never before now)."""
        now = now_ms() if at_ms is None else at_ms
        cost = max(1, math.ceil(parts * self._ms_per_part))
        expires = now // 1000 + _KEEP_SECONDS
        try:  # idle: the next slot is free now
            self._table.update_item(
                Key={"message_id": SLOT_KEY},
                UpdateExpression="SET next_at = :end, expires_at = :expires",
                ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
                ExpressionAttributeValues={":end": now + cost, ":now": now, ":expires": expires},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        else:
            return now
        # busy: queue behind the last reservation
        response = self._table.update_item(
            Key={"message_id": SLOT_KEY},
            UpdateExpression="SET next_at = next_at + :cost, expires_at = :expires",
            ExpressionAttributeValues={":cost": cost, ":expires": expires},
            ReturnValues="UPDATED_NEW",
        )
        return max(now, int(response["Attributes"]["next_at"]) - cost)
