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

A digest and a page batch closing within MERGE_SECONDS of each other go to the person as one text: the batch takes
the digest along (take_along), and the digest's function, finding a batch about to close, waits for it. The batch
holds the digest under a lease: it marks it sent, or gives it back when its text could not go (give_back), or, if
it died, the digest's function takes it back when the lease ends (reclaim). Either way the notices go out.

Items of the messages table (keyed ``message_id``, with its TTL):
- ``texts#<number>#<bucket>``: ``incidents``, the ids texts to the number in that bucket were about;
- ``storm#<number>``: ``until`` (epoch seconds) while the number is in a storm, ``digests`` and ``batches`` sent in it;
- ``digest#<number>``: ``flush_at`` (epoch ms), ``opener``, ``members`` (kind, incident id, key), ``taken_by``,
  ``lease_until`` while a page batch holds it, ``sent``;
- ``digested#<key>``: the digest a notice joined (its ``flush_at``), so a retried notice joins once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
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
MERGE_SECONDS = 10  # a page batch takes along the person's digest closing this close to it: one text, not two
MERGE_LEASE_SECONDS = 30  # a batch sends the digest it took along within this, or the digest's function takes it back
_KEEP_SECONDS = 86_400
_ATTEMPTS = 5


def now_ms() -> int:
    """Wall-clock milliseconds, shared by every function."""
    return int(time.time() * 1000)


class Storms:
    """Per-person storm state and notice digests in the messages table."""

    def __init__(self, table: Any, *, window_seconds: int) -> None:
        self._table = table
        self.window_ms = min(window_seconds, MAX_HOLD_SECONDS) * 1000

    def _sent_in_storm(self, number: str, what: str, now: float) -> int:
        item = self._table.get_item(Key={"message_id": f"storm#{number}"}, ConsistentRead=True).get("Item") or {}
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

    def batch_sent(self, number: str) -> None:
        """One more page batch sent to number in this storm: the next one stays open twice as long."""
        self._table.update_item(
            Key={"message_id": f"storm#{number}"},
            UpdateExpression="ADD batches :one SET expires_at = :expires",
            ExpressionAttributeValues={":one": 1, ":expires": self._expires()},
        )

    def _expires(self) -> int:
        return int(time.time()) + _KEEP_SECONDS

    def note(self, number: str, incident_id: str, *, at: float | None = None) -> bool:
        """Count a text about incident_id about to go to number; True when number is in a storm (this text included).

        What counts is how many incidents texts are about, not how many texts: one incident's page and its
        notices, minutes apart in a short window, are no storm.
        """
        now = time.time() if at is None else at
        bucket = int(now // STORM_BUCKET_SECONDS)
        current = self._table.update_item(
            Key={"message_id": f"texts#{number}#{bucket}"},
            UpdateExpression="ADD incidents :incident SET expires_at = :expires",
            ExpressionAttributeValues={":incident": {incident_id}, ":expires": self._expires()},
            ReturnValues="ALL_NEW",
        )["Attributes"]["incidents"]
        texted = set(current)
        for earlier in range(bucket - STORM_BUCKETS + 1, bucket):
            item = self._table.get_item(Key={"message_id": f"texts#{number}#{earlier}"}, ConsistentRead=True).get("Item")
            texted |= set((item or {}).get("incidents", set()))
        if len(texted) >= STORM_TEXTS:
            self.extend(number, at=now)
            return True
        return self.in_storm(number, at=now)

    def in_storm(self, number: str, *, at: float | None = None) -> bool:
        """True while number is in a storm (see the module docstring)."""
        now = time.time() if at is None else at
        item = self._table.get_item(Key={"message_id": f"storm#{number}"}, ConsistentRead=True).get("Item") or {}
        return float(item.get("until", 0)) > now

    def extend(self, number: str, *, at: float | None = None, beyond: float | None = None) -> None:
        """Keep number in a storm until STORM_LINGER_SECONDS from now (a new storm, after one ended, counts afresh).

        beyond: epoch seconds a held text is still waiting for (a digest or a batch closing then): the storm lasts
        until STORM_LINGER_SECONDS after it, so it never ends while something is held for the person.
        """
        now = time.time() if at is None else at
        until = int(max(now, beyond or 0) + STORM_LINGER_SECONDS)
        try:  # no storm, or it ended: this one starts with no digest sent
            self._table.update_item(
                Key={"message_id": f"storm#{number}"},
                UpdateExpression="SET #until = :until, digests = :zero, batches = :zero, expires_at = :expires",
                ConditionExpression="attribute_not_exists(#until) OR #until <= :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={
                    ":until": until,
                    ":zero": 0,
                    ":now": int(now),
                    ":expires": self._expires(),
                },
            )
            return
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        try:
            self._table.update_item(
                Key={"message_id": f"storm#{number}"},
                UpdateExpression="SET #until = :until, expires_at = :expires",
                ConditionExpression="attribute_not_exists(#until) OR #until < :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":until": until, ":expires": self._expires()},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # else it already lasts longer

    def hold(self, number: str, member: Mapping[str, Any], *, at_ms: int | None = None) -> tuple[int, bool]:
        """Add a notice to number's digest, or open one; (when it closes in epoch ms, whether this notice opened it).

        Idempotent per member["key"]: a retried notice gets the digest it joined the first time (and is its opener
        again if it was).
        """
        key = str(member["key"])
        earlier = self._table.get_item(Key={"message_id": f"digested#{key}"}, ConsistentRead=True).get("Item")
        if earlier is not None:
            return int(earlier["flush_at"]), bool(earlier.get("opener"))
        flush_at, opener = self._add(number, [dict(member)], key, at_ms=at_ms)
        self._table.put_item(
            Item={"message_id": f"digested#{key}", "flush_at": flush_at, "opener": opener, "expires_at": self._expires()}
        )
        return flush_at, opener

    def _add(self, number: str, members: list[dict[str, Any]], key: str, *, at_ms: int | None = None) -> tuple[int, bool]:
        """Append members to number's open digest, or open one with key as its opener; (flush_at, opened)."""
        digest = {"message_id": f"digest#{number}"}
        for _ in range(_ATTEMPTS):
            now = at_ms if at_ms is not None else now_ms()
            try:
                response = self._table.update_item(
                    Key=digest,
                    UpdateExpression="SET members = list_append(members, :members)",
                    ConditionExpression="attribute_exists(message_id) AND attribute_not_exists(taken_by) AND flush_at > :now",
                    ExpressionAttributeValues={":members": members, ":now": now},
                    ReturnValues="ALL_NEW",
                )
                return int(response["Attributes"]["flush_at"]), False
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise
            flush_at = now + self.digest_window_ms(number, at=now / 1000)
            try:
                self._table.put_item(
                    Item={**digest, "flush_at": flush_at, "opener": key, "members": members, "expires_at": self._expires()},
                    ConditionExpression="attribute_not_exists(message_id) OR attribute_exists(taken_by)",
                )
                return flush_at, True
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise  # else a digest is open (join it) or one is due and not sent: the caller sends it first
            due = self._join_due(number, members, key, now=now)
            if due is not None:
                return due, True
        raise RuntimeError(f"could not join a notice digest for {key} after {_ATTEMPTS} attempts")

    def _join_due(self, number: str, members: list[dict[str, Any]], key: str, *, now: int) -> int | None:
        """Join a digest that is due and not taken yet, as its opener (its own may have died); its flush_at, or None.

        If the opener is alive it loses the take to this notice, which sends the digest, itself included.
        """
        try:
            response = self._table.update_item(
                Key={"message_id": f"digest#{number}"},
                UpdateExpression="SET opener = :taker, members = list_append(members, :members)",
                ConditionExpression="attribute_exists(message_id) AND attribute_not_exists(taken_by) AND flush_at <= :now",
                ExpressionAttributeValues={":taker": key, ":members": members, ":now": now},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return int(response["Attributes"]["flush_at"])

    def take(self, number: str, flush_at: int, *, taker: str) -> list[dict[str, Any]] | None:
        """Claim the digest closing at flush_at for its opener; its members, each once; None when it is not ours."""
        try:
            response = self._table.update_item(
                Key={"message_id": f"digest#{number}"},
                UpdateExpression="SET taken_by = :taker",
                ConditionExpression="flush_at = :flush_at AND opener = :taker AND attribute_not_exists(sent) "
                "AND (attribute_not_exists(taken_by) OR taken_by = :taker)",
                ExpressionAttributeValues={":taker": taker, ":flush_at": flush_at},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return _once_each(response["Attributes"])

    def take_along(self, number: str, taker: str) -> tuple[int, list[dict[str, Any]]] | None:
        """For a page batch about to go to number: claim the digest that is due or closes within MERGE_SECONDS.

        (its flush_at, its members), or None when there is none to take. The digest and the batch then go as one
        text. The batch holds it for MERGE_LEASE_SECONDS: it sends it (sent) or gives it back (give_back) by then,
        or the digest's own function takes it back (reclaim) and sends it alone.
        """
        now = now_ms()
        try:
            response = self._table.update_item(
                Key={"message_id": f"digest#{number}"},
                UpdateExpression="SET taken_by = :taker, opener = :taker, lease_until = :lease",
                ConditionExpression="attribute_exists(message_id) AND attribute_not_exists(taken_by) AND flush_at <= :horizon",
                ExpressionAttributeValues={
                    ":taker": taker,
                    ":lease": now + MERGE_LEASE_SECONDS * 1000,
                    ":horizon": now + MERGE_SECONDS * 1000,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return int(response["Attributes"]["flush_at"]), _once_each(response["Attributes"])

    def lease_until(self, number: str, flush_at: int) -> int | None:
        """When the batch that took the digest closing at flush_at along must have sent it (epoch ms); None if none did.

        None too once it was sent or given back, or a newer digest replaced it.
        """
        item = self._table.get_item(Key={"message_id": f"digest#{number}"}, ConsistentRead=True).get("Item") or {}
        if item.get("flush_at") != flush_at or item.get("sent") or "lease_until" not in item:
            return None
        return int(item["lease_until"])

    def reclaim(self, number: str, flush_at: int, *, taker: str) -> list[dict[str, Any]] | None:
        """Take back a digest a batch took along and did not send within its lease; its members, or None."""
        try:
            response = self._table.update_item(
                Key={"message_id": f"digest#{number}"},
                UpdateExpression="SET taken_by = :taker, opener = :taker REMOVE lease_until",
                ConditionExpression="flush_at = :flush_at AND attribute_not_exists(sent) AND lease_until < :now",
                ExpressionAttributeValues={":taker": taker, ":flush_at": flush_at, ":now": now_ms()},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return _once_each(response["Attributes"])

    def give_back(self, number: str, flush_at: int, members: list[dict[str, Any]], *, taker: str) -> int | None:
        """A batch that took the digest along could not send it: hand it back; when it closes, or None.

        The digest is then the taker's to send (the caller hands it to the storm digest function with flush_at and
        taker). If a newer digest replaced it meanwhile, its members join that one (or open the next, then ours to
        send too). None when its own function took it back already: that function sends it.
        """
        try:
            self._table.update_item(
                Key={"message_id": f"digest#{number}"},
                UpdateExpression="REMOVE taken_by, lease_until",
                ConditionExpression="flush_at = :flush_at AND taken_by = :taker AND attribute_not_exists(sent)",
                ExpressionAttributeValues={":flush_at": flush_at, ":taker": taker},
            )
            return flush_at
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        item = self._table.get_item(Key={"message_id": f"digest#{number}"}, ConsistentRead=True).get("Item") or {}
        if item.get("flush_at") == flush_at:
            return None  # reclaimed by its own function, which sends it
        opened_at, opened = self._add(number, members, taker)
        return opened_at if opened else None  # joined an open digest: its opener sends them

    def sent(self, number: str, flush_at: int) -> None:
        """The digest closing at flush_at went out: a retried take finds it sent; the next one stays open twice as long."""
        try:
            self._table.update_item(
                Key={"message_id": f"digest#{number}"},
                UpdateExpression="SET sent = :true",
                ConditionExpression="flush_at = :flush_at",
                ExpressionAttributeValues={":true": True, ":flush_at": flush_at},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # else a newer digest replaced it already: nothing to mark
        self._table.update_item(
            Key={"message_id": f"storm#{number}"},
            UpdateExpression="ADD digests :one SET expires_at = :expires",
            ExpressionAttributeValues={":one": 1, ":expires": self._expires()},
        )


def _once_each(digest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A digest's members, each once (a notice retried before the digest closed joined once more)."""
    members: dict[str, dict[str, Any]] = {}
    for member in digest.get("members", []):
        members.setdefault(str(member["key"]), member)
    return list(members.values())
