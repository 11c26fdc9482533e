"""Handing a storm digest to the storm digest function, which waits for it to close and sends it.

The notice that opens a person's digest (escalation.paging.storms) does not wait for it: its function (a page, a
reply) has better things to do than sleep through a window of up to five minutes. It invokes the storm digest
function asynchronously instead (lambdas/send_digest.py), with the digest's number, closing time and opener key;
that function sleeps until the digest closes, takes it and sends it once (Lambda retries a failed async invoke,
the once-only key keeps a retry from sending it twice).
"""

import json
from typing import Any


class DigestFlusher:
    """Invokes the storm digest function for one digest."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def flush_later(self, number: str, flush_at: int, taker: str) -> None:
        """Ask the storm digest function to send number's digest when it closes (flush_at, epoch ms)."""
        payload = {"number": number, "flush_at": flush_at, "taker": taker}
        self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=json.dumps(payload).encode())


def parse_flush_event(event: Any) -> tuple[str, int, str]:
    """(number, flush_at, taker) from the storm digest function's event; ValueError naming the field that is wrong."""
    if not isinstance(event, dict):
        raise ValueError("event: must be an object with number, flush_at and taker")
    number, flush_at, taker = event.get("number"), event.get("flush_at"), event.get("taker")
    if not isinstance(number, str) or not number.startswith("+"):
        raise ValueError(f"number: must be an E.164 number, got {number!r}")
    if not isinstance(flush_at, int) or isinstance(flush_at, bool) or flush_at <= 0:
        raise ValueError(f"flush_at: must be epoch milliseconds, got {flush_at!r}")
    if not isinstance(taker, str) or not taker:
        raise ValueError(f"taker: must be the key of the notice that opened the digest, got {taker!r}")
    return number, flush_at, taker
