"""Storm digests: in a storm, a person's notices wait in one digest and go out as one text (escalation.paging.storms).

The first notice to open a person's digest hands it to the storm digest function (lambdas/send_digest.py, invoked
asynchronously), which waits until it closes, takes it and sends one text naming the ids by kind. A digest whose
function failed for good is sent by the next notice for that person, which finds it due.

A digest and a page batch closing within MERGE_SECONDS of each other go to the person as one text: the batch takes
the digest along (take_along), and the digest's function, finding a batch about to close, waits for it. The batch
holds the digest under a lease: it marks it sent, or gives it back when its text could not go (give_back), or, if
it died, the digest's function takes it back when the lease ends (reclaim). Either way the notices go out.

Items of the messages table (keyed ``message_id``, with its TTL):
- ``digest#<number>``: ``flush_at`` (epoch ms), ``opener``, ``members`` (kind, incident id, key), ``taken_by``,
  ``lease_until`` while a page batch holds it, ``sent``;
- ``digested#<key>``: the digest a notice joined (its ``flush_at``), so a retried notice joins once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from escalation.paging.storms import Storms, now_ms
from escalation.store.incident_table import is_conditional_failure, update_if

MERGE_SECONDS = 10  # a page batch takes along the person's digest closing this close to it: one text, not two
MERGE_LEASE_SECONDS = 30  # a batch sends the digest it took along within this, or the digest's function takes it back
_ATTEMPTS = 5


class Digests:
    """Per-person notice digests in the messages table, each open for the window its storm gives it."""

    def __init__(self, storms: Storms) -> None:
        self._storms = storms
        self._table = storms.table

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
            Item={"message_id": f"digested#{key}", "flush_at": flush_at, "opener": opener, "expires_at": self._storms.expires()}
        )
        return flush_at, opener

    def _add(self, number: str, members: list[dict[str, Any]], key: str, *, at_ms: int | None = None) -> tuple[int, bool]:
        """Append members to number's open digest, or open one with key as its opener; (flush_at, opened)."""
        digest = {"message_id": f"digest#{number}"}
        for _ in range(_ATTEMPTS):
            now = at_ms if at_ms is not None else now_ms()
            joined = self._claim(
                number,
                "SET members = list_append(members, :members)",
                "attribute_exists(message_id) AND attribute_not_exists(taken_by) AND flush_at > :now",
                {":members": members, ":now": now},
            )
            if joined is not None:
                return int(joined["flush_at"]), False
            flush_at = now + self._storms.digest_window_ms(number, at=now / 1000)
            try:
                self._table.put_item(
                    Item={
                        **digest,
                        "flush_at": flush_at,
                        "opener": key,
                        "members": members,
                        "expires_at": self._storms.expires(),
                    },
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
        claimed = self._claim(
            number,
            "SET opener = :taker, members = list_append(members, :members)",
            "attribute_exists(message_id) AND attribute_not_exists(taken_by) AND flush_at <= :now",
            {":taker": key, ":members": members, ":now": now},
        )
        return int(claimed["flush_at"]) if claimed is not None else None

    def take(self, number: str, flush_at: int, *, taker: str) -> list[dict[str, Any]] | None:
        """Claim the digest closing at flush_at for its opener; its members, each once; None when it is not ours."""
        claimed = self._claim(
            number,
            "SET taken_by = :taker",
            "flush_at = :flush_at AND opener = :taker AND attribute_not_exists(sent) "
            "AND (attribute_not_exists(taken_by) OR taken_by = :taker)",
            {":taker": taker, ":flush_at": flush_at},
        )
        return _once_each(claimed) if claimed is not None else None

    def take_along(self, number: str, taker: str) -> tuple[int, list[dict[str, Any]]] | None:
        """For a page batch about to go to number: claim the digest that is due or closes within MERGE_SECONDS.

        (its flush_at, its members), or None when there is none to take. The digest and the batch then go as one
        text. The batch holds it for MERGE_LEASE_SECONDS: it sends it (sent) or gives it back (give_back) by then,
        or the digest's own function takes it back (reclaim) and sends it alone.
        """
        now = now_ms()
        claimed = self._claim(
            number,
            "SET taken_by = :taker, opener = :taker, lease_until = :lease",
            "attribute_exists(message_id) AND attribute_not_exists(taken_by) AND flush_at <= :horizon",
            {":taker": taker, ":lease": now + MERGE_LEASE_SECONDS * 1000, ":horizon": now + MERGE_SECONDS * 1000},
        )
        return (int(claimed["flush_at"]), _once_each(claimed)) if claimed is not None else None

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
        claimed = self._claim(
            number,
            "SET taken_by = :taker, opener = :taker REMOVE lease_until",
            "flush_at = :flush_at AND attribute_not_exists(sent) AND lease_until < :now",
            {":taker": taker, ":flush_at": flush_at, ":now": now_ms()},
        )
        return _once_each(claimed) if claimed is not None else None

    def _claim(self, number: str, update: str, condition: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """Apply update to number's digest if condition holds; the digest after it, or None when it did not hold."""
        return update_if(
            self._table,
            Key={"message_id": f"digest#{number}"},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )

    def give_back(self, number: str, flush_at: int, members: list[dict[str, Any]], *, taker: str) -> int | None:
        """A batch that took the digest along could not send it: hand it back; when it closes, or None.

        The digest is then the taker's to send (the caller hands it to the storm digest function with flush_at and
        taker). If a newer digest replaced it meanwhile, its members join that one (or open the next, then ours to
        send too). None when its own function took it back already: that function sends it.
        """
        given = self._claim(
            number,
            "REMOVE taken_by, lease_until",
            "flush_at = :flush_at AND taken_by = :taker AND attribute_not_exists(sent)",
            {":flush_at": flush_at, ":taker": taker},
        )
        if given is not None:
            return flush_at
        item = self._table.get_item(Key={"message_id": f"digest#{number}"}, ConsistentRead=True).get("Item") or {}
        if item.get("flush_at") == flush_at:
            return None  # reclaimed by its own function, which sends it
        opened_at, opened = self._add(number, members, taker)
        return opened_at if opened else None  # joined an open digest: its opener sends them

    def sent(self, number: str, flush_at: int) -> None:
        """The digest closing at flush_at went out: a retried take finds it sent; the next one stays open twice as long."""
        self._claim(number, "SET sent = :true", "flush_at = :flush_at", {":true": True, ":flush_at": flush_at})  # or replaced
        self._storms.digest_sent(number)


def _once_each(digest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A digest's members, each once (a notice retried before the digest closed joined once more)."""
    members: dict[str, dict[str, Any]] = {}
    for member in digest.get("members", []):
        members.setdefault(str(member["key"]), member)
    return list(members.values())
