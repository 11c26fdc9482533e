"""The limits of voice calls, kept in the messages table: the daily budget per number, storms, and the pace.

* Budget: End User Messaging places at most CALLS_PER_DAY calls to one recipient in 24 hours (a hard limit).
  `voice-budget#<number>` keeps the calls of the last 24 hours (call key -> epoch seconds), written with an
  optimistic version check, so concurrent calls never overspend. The last call of the day is kept for the
  highest severity (critical): past the others, a person is texted only, and ops are told.
* Storms: at most one call per person per STORM_SECONDS. `voice-storm#<number>` is claimed by the first call
  (conditional write); the others of that storm are covered by it ("you have 12 open incidents").
* Pace: 1 call per second per origination number and 20 per minute per account: with one origination
  identity, the account's limit is the tighter, so calls take slots of 3 s on their own queue (SendRate).

Each write is keyed by the call (incident, pass, level, number): a retried call finds its own budget entry and
storm claim instead of taking them twice.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from escalation.sms.send_rate import SendRate
from escalation.store.incident_table import is_conditional_failure

CALLS_PER_DAY = 5
DAY_SECONDS = 86_400
STORM_SECONDS = 600
CALLS_PER_SECOND = 20 / 60  # the account's 20 calls a minute; tighter than 1 call a second per number
RATE_KEY = "voice-rate#next"
_ATTEMPTS = 5


class Budget(StrEnum):
    """What the daily budget says about one more call."""

    OK = "ok"
    KEPT_FOR_CRITICAL = "kept_for_critical"  # one call left today, and this incident is not critical
    EXHAUSTED = "exhausted"


class BudgetContended(RuntimeError):
    """Concurrent calls kept changing the budget; the invocation is retried."""


class VoiceLimits:
    """The budget, storm and pace items of voice calls."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def take(self, number: str, call: str, *, critical: bool, now: float | None = None) -> Budget:
        """Count call against number's budget of the last 24 hours, unless the budget says no (then nothing is taken)."""
        at = int(time.time() if now is None else now)
        key = {"message_id": f"voice-budget#{number}"}
        for _ in range(_ATTEMPTS):
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            calls = {name: int(when) for name, when in (item.get("calls") or {}).items() if int(when) > at - DAY_SECONDS}
            if call in calls:
                return Budget.OK  # this call was counted by an earlier attempt of it
            if len(calls) >= CALLS_PER_DAY:
                return Budget.EXHAUSTED
            if len(calls) == CALLS_PER_DAY - 1 and not critical:
                return Budget.KEPT_FOR_CRITICAL
            version = int(item.get("version", 0))
            try:
                self._table.put_item(
                    Item={**key, "calls": {**calls, call: at}, "version": version + 1, "expires_at": at + 2 * DAY_SECONDS},
                    ConditionExpression="attribute_not_exists(message_id) OR version = :version",
                    ExpressionAttributeValues={":version": version},
                )
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise
                continue  # another call changed it: read again
            return Budget.OK
        raise BudgetContended(number)

    def give_back(self, number: str, call: str) -> None:
        """The call was not placed after all: it does not count."""
        try:
            self._table.update_item(
                Key={"message_id": f"voice-budget#{number}"},
                UpdateExpression="REMOVE calls.#call SET version = version + :one",
                ConditionExpression="attribute_exists(calls.#call)",
                ExpressionAttributeNames={"#call": call},
                ExpressionAttributeValues={":one": 1},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def claim_storm(self, number: str, call: str, *, now: float | None = None) -> str | None:
        """Claim number's storm for call; None when it is this call's, else when the call that holds it was claimed."""
        at = time.time() if now is None else now
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        try:
            self._table.put_item(
                Item={"message_id": f"voice-storm#{number}", "call": call, "claimed_at": iso, "until": int(at) + STORM_SECONDS,
                      "expires_at": int(at) + STORM_SECONDS + DAY_SECONDS},
                ConditionExpression="attribute_not_exists(message_id) OR #until < :now OR #call = :call",
                ExpressionAttributeNames={"#until": "until", "#call": "call"},
                ExpressionAttributeValues={":now": int(at), ":call": call},
            )  # fmt: skip
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            held = self._table.get_item(Key={"message_id": f"voice-storm#{number}"}, ConsistentRead=True).get("Item") or {}
            return str(held.get("claimed_at", "")) or "unknown"
        return None

    def pace(self) -> SendRate:
        """The calls' own queue of send slots (one slot a call)."""
        return SendRate(self._table, CALLS_PER_SECOND, key=RATE_KEY)
