"""Storms: when texts to one person come fast, pages go out as batches and notices as digests.

A person is in a storm once texts (pages and notices, counted when they are about to go) about STORM_TEXTS
different incidents reach them within STORM_BUCKETS buckets of STORM_BUCKET_SECONDS (the current one and the two
before it: 60 to 90 s; escalations of a storm reach the next contact a window apart, in waves), and stays in it until
STORM_LINGER_SECONDS after the last text held for them. Outside a storm every text goes at once: an isolated
second page is not held (escalation.paging.batching decides with in_storm). In a storm, notices ("moved to the
next contact", "UNACKNOWLEDGED", "acknowledged by", "resolved") join the person's digest; the first notice to open
it hands it to the storm digest function (lambdas/send_digest.py, invoked asynchronously), which waits until it
closes and sends one text naming the ids by kind. Direct answers to a person's own reply (confirmations, help)
are never held. A digest whose function failed for good is sent by the next notice for that person, which finds
it due.

The longer a storm lasts, the longer a person's digests stay open: the first closes stormBatchSeconds (at most
MAX_HOLD_SECONDS) after its first notice, each next one in the same storm twice as long as the last, up to
MAX_DIGEST_SECONDS. Sixty incidents walking a chain over several minutes are then a handful of digests to each
person, not one every window; every notice still arrives, at most MAX_DIGEST_SECONDS late. Page batches grow the
same way, from stormBatchSeconds up to MAX_PAGE_BATCH_SECONDS: a page is actionable, so it waits less.

Items of the messages table (keyed ``message_id``, with its TTL):
- ``texts#<number>#<bucket>``: ``incidents``, the ids texts to the number in that bucket were about;
- ``storm#<number>``: ``until`` (epoch seconds) while the number is in a storm, ``digests`` and ``batches`` sent in it;
- digests: escalation.paging.digests.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from escalation.store.incident_table import is_conditional_failure

STORM_TEXTS = 3  # incidents texted within STORM_BUCKETS buckets that make a storm: a second page alone is not one
STORM_BUCKET_SECONDS = 30
STORM_BUCKETS = 3  # the current bucket and the two before it
STORM_LINGER_SECONDS = 300  # a storm lasts this long after the last text held in it (alerts come in waves)
MAX_HOLD_SECONDS = 20  # the first digest of a storm opens for at most this long
MAX_DIGEST_SECONDS = 300  # a later one doubles its window each time, up to this (the digest function waits for it)
MAX_PAGE_BATCH_SECONDS = 120  # a storm's later page batches double too, up to this (or stormBatchSeconds if longer)
_KEEP_SECONDS = 86_400


def now_ms() -> int:
    """Wall-clock milliseconds, shared by every function."""
    return int(time.time() * 1000)


class Storms:
    """Per-person storm state in the messages table (the digests themselves: escalation.paging.digests)."""

    def __init__(self, table: Any, *, window_seconds: int) -> None:
        self.table = table
        self.window_ms = min(window_seconds, MAX_HOLD_SECONDS) * 1000

    def _sent_in_storm(self, number: str, what: str, now: float) -> int:
        item = self.table.get_item(Key={"message_id": f"storm#{number}"}, ConsistentRead=True).get("Item") or {}
        return min(int(item.get(what, 0)), 16) if float(item.get("until", 0)) > now else 0

    def digest_window_ms(self, number: str, *, at: float | None = None) -> int:
        """How long a digest opened now for number stays open: doubled for each digest already sent in this storm."""
        now = time.time() if at is None else at
        return int(min(self.window_ms * 2 ** self._sent_in_storm(number, "digests", now), MAX_DIGEST_SECONDS * 1000))

    def batch_window_ms(self, number: str, base_ms: int, *, at: float | None = None) -> int:
        """How long a page batch opened now for number stays open: base_ms, doubled for each batch sent in this storm."""
        now = time.time() if at is None else at
        longest = max(base_ms, MAX_PAGE_BATCH_SECONDS * 1000)
        return int(min(base_ms * 2 ** self._sent_in_storm(number, "batches", now), longest))

    def digest_sent(self, number: str) -> None:
        """One more digest sent to number in this storm: the next one stays open twice as long."""
        self.table.update_item(
            Key={"message_id": f"storm#{number}"},
            UpdateExpression="ADD digests :one SET expires_at = :expires",
            ExpressionAttributeValues={":one": 1, ":expires": self.expires()},
        )

    def batch_sent(self, number: str) -> None:
        """One more page batch sent to number in this storm: the next one stays open twice as long."""
        self.table.update_item(
            Key={"message_id": f"storm#{number}"},
            UpdateExpression="ADD batches :one SET expires_at = :expires",
            ExpressionAttributeValues={":one": 1, ":expires": self.expires()},
        )

    def expires(self) -> int:
        """The TTL of an item written now (a day)."""
        return int(time.time()) + _KEEP_SECONDS

    def note(self, number: str, incident_id: str, *, at: float | None = None) -> bool:
        """Count a text about incident_id about to go to number; True when number is in a storm (this text included).

        What counts is how many incidents texts are about, not how many texts: one incident's page and its
        notices, minutes apart in a short window, are no storm.
        """
        now = time.time() if at is None else at
        bucket = int(now // STORM_BUCKET_SECONDS)
        current = self.table.update_item(
            Key={"message_id": f"texts#{number}#{bucket}"},
            UpdateExpression="ADD incidents :incident SET expires_at = :expires",
            ExpressionAttributeValues={":incident": {incident_id}, ":expires": self.expires()},
            ReturnValues="ALL_NEW",
        )["Attributes"]["incidents"]
        texted = set(current)
        for earlier in range(bucket - STORM_BUCKETS + 1, bucket):
            item = self.table.get_item(Key={"message_id": f"texts#{number}#{earlier}"}, ConsistentRead=True).get("Item")
            texted |= set((item or {}).get("incidents", set()))
        if len(texted) >= STORM_TEXTS:
            self.extend(number, at=now)
            return True
        return self.in_storm(number, at=now)

    def in_storm(self, number: str, *, at: float | None = None) -> bool:
        """True while number is in a storm (see the module docstring)."""
        now = time.time() if at is None else at
        item = self.table.get_item(Key={"message_id": f"storm#{number}"}, ConsistentRead=True).get("Item") or {}
        return float(item.get("until", 0)) > now

    def extend(self, number: str, *, at: float | None = None, beyond: float | None = None) -> None:
        """Keep number in a storm until STORM_LINGER_SECONDS from now (a new storm, after one ended, counts afresh).

        beyond: epoch seconds a held text is still waiting for (a digest or a batch closing then): the storm lasts
        until STORM_LINGER_SECONDS after it, so it never ends while something is held for the person.
        """
        now = time.time() if at is None else at
        until = int(max(now, beyond or 0) + STORM_LINGER_SECONDS)
        try:  # no storm, or it ended: this one starts with no digest sent
            self.table.update_item(
                Key={"message_id": f"storm#{number}"},
                UpdateExpression="SET #until = :until, digests = :zero, batches = :zero, expires_at = :expires",
                ConditionExpression="attribute_not_exists(#until) OR #until <= :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={
                    ":until": until,
                    ":zero": 0,
                    ":now": int(now),
                    ":expires": self.expires(),
                },
            )
            return
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        try:
            self.table.update_item(
                Key={"message_id": f"storm#{number}"},
                UpdateExpression="SET #until = :until, expires_at = :expires",
                ConditionExpression="attribute_not_exists(#until) OR #until < :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":until": until, ":expires": self.expires()},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # else it already lasts longer
