"""Delivery receipts: End User Messaging's text events, classified, matched to the text we logged, recorded once.

Every send names the stack's configuration set, whose event destination publishes each text event to an SNS topic
(stacks/receipts.py); the receipts function (lambdas/delivery_receipts.py) hands each one to `apply`.

Classification: one table, EVENT_OUTCOMES, says what each event type means for the text: delivered (the handset
confirmed it), accepted (the recipient's carrier took it: where handsets send no receipt, the last word there
is), pending (on its way: nothing is recorded), failed on the contact's side, failed on ours, or unknown.

Matching: a receipt names the message id SendTextMessage returned; the message log row of that id says which
incident, which pass of it (`execution`), which number and level, and what kind of text it was. A receipt is
recorded only on the incarnation that sent the text: the item's execution_arn, or one of its past_executions,
must be the row's execution, so a new incident written over the same id never gets the old one's receipts. A
batch text (several pages in one text, lambdas/page_contact.py) has a row per incident it listed, all with the
same `batch`: its receipt reaches every one of them. A row without an execution (a storm digest, a handoff
notice) is about no single pass: its receipt is logged and its cost counted, and no incident records it.

Once, in any order: delivery is at least once, so each event (message id and event type) is applied under a
once-only key. The row of each (text, incident) keeps how far the text got (`delivery_rank`), and an event is
recorded only when it moves that on, in one transaction with the incident's update: a pending event after a
delivered one, or a second final event, changes nothing. Late events (carriers' final events may come up to
72 hours after the send, after which the service reports TEXT_UNKNOWN) are recorded like any other, on a closed
incident too, as long as the message log still has the row (messageTtlDays).

Cost: totalMessagePrice + totalCarrierFee of a text's final receipt are added to the `cost` of the incident whose
row holds the real message id (a batch text is paid by the incident that sent it, so the sum over incidents is
what was spent), in one transaction with a `priced` mark on that row: each text is paid once. SmsCost is
published then, whether or not an incident took the cost.

A timeline keeps at most RECEIPTS_KEPT receipt entries (the item must stay far below DynamoDB's item limit however
long an escalation runs); the rest are counted in `receipts_not_kept`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry
from escalation.platform.observability import RECEIPTS_UNMATCHED, SMS_COST, SMS_DELIVERED, SMS_UNDELIVERED, count, logger, metrics
from escalation.sms.phone_numbers import mask
from escalation.store.incident_table import is_conditional_failure
from escalation.store.message_log import MessageLog
from escalation.store.once import OnceOnly


class Outcome(StrEnum):
    """What an event says about its text."""

    DELIVERED = "delivered"  # the recipient's handset got it
    ACCEPTED = "accepted"  # the recipient's carrier accepted it (where handsets send no receipt)
    PENDING = "pending"  # on its way; a later event says how it ended
    FAILED_CONTACT = "failed_contact"  # the contact's number, handset or network cannot get it
    FAILED_OURS = "failed_ours"  # our text, setup or reputation: never the contact's doing
    UNKNOWN = "unknown"  # nobody knows what became of it


# Every text event type End User Messaging SMS publishes (its EventType enum, TEXT_*), and what it means here.
EVENT_OUTCOMES: Mapping[str, Outcome] = MappingProxyType(
    {
        "TEXT_DELIVERED": Outcome.DELIVERED,  # delivered to the handset
        "TEXT_SUCCESSFUL": Outcome.ACCEPTED,  # accepted by the recipient's carrier
        "TEXT_QUEUED": Outcome.PENDING,  # queued for delivery
        "TEXT_PENDING": Outcome.PENDING,  # being delivered
        "TEXT_SENT": Outcome.PENDING,  # handed on (no event destination can ask for it; listed so it is never unknown)
        "TEXT_INVALID": Outcome.FAILED_CONTACT,  # the destination number is not valid
        "TEXT_UNREACHABLE": Outcome.FAILED_CONTACT,  # the handset is off or out of coverage
        "TEXT_CARRIER_UNREACHABLE": Outcome.FAILED_CONTACT,  # a (temporary) error on the recipient's carrier network
        "TEXT_BLOCKED": Outcome.FAILED_CONTACT,  # the recipient's handset or carrier blocks texts to them
        "TEXT_TTL_EXPIRED": Outcome.FAILED_CONTACT,  # not deliverable within its TimeToLive (the handset stayed away)
        "TEXT_INVALID_MESSAGE": Outcome.FAILED_OURS,  # the body cannot be sent
        "TEXT_CARRIER_BLOCKED": Outcome.FAILED_OURS,  # the carrier took our text for malicious or abusive
        "TEXT_SPAM": Outcome.FAILED_OURS,  # the carrier took our text for unsolicited commercial content
        "TEXT_PROTECT_BLOCKED": Outcome.FAILED_OURS,  # our protect configuration (allowedCountries) blocked it
        "TEXT_UNKNOWN": Outcome.UNKNOWN,  # undeliverable for another reason, or no final event within 72 hours
    }
)
FAILED = frozenset({Outcome.FAILED_CONTACT, Outcome.FAILED_OURS, Outcome.UNKNOWN})
_CAUSE = {Outcome.FAILED_CONTACT: "contact", Outcome.FAILED_OURS: "ours", Outcome.UNKNOWN: "unknown"}
# How far a text got: an event is recorded only when it takes its text further (every final outcome is as far as it goes).
_RANK = {Outcome.PENDING: 1, Outcome.ACCEPTED: 2, Outcome.DELIVERED: 3, Outcome.FAILED_CONTACT: 3, Outcome.FAILED_OURS: 3,
         Outcome.UNKNOWN: 3}  # fmt: skip
PAGE_KINDS = frozenset({"page", "reminder"})
RECEIPTS_KEPT = 50  # receipt entries one timeline keeps (a realistic incident sends far fewer texts)
MAX_DESCRIPTION = 100  # characters of the service's status description kept on an entry


def classify(event_type: str) -> Outcome | None:
    """What an event type means for its text; None for a type this table does not list (logged, not recorded)."""
    return EVENT_OUTCOMES.get(event_type)


class InvalidReceipt(ValueError):
    """The SNS message is not a text event; retrying cannot fix it."""


@dataclass(frozen=True)
class Receipt:
    """The fields of one text event that matter here (the event's JSON names in the comments)."""

    event_type: str  # eventType
    message_id: str  # messageId
    event_ms: int  # eventTimestamp: when the event was reported, Unix milliseconds
    is_final: bool  # isFinal
    status: str = ""  # messageStatus
    description: str = ""  # messageStatusDescription
    requested_ms: int | None = None  # messageRequestTimestamp: when the service took the send request
    parts: int | None = None  # totalMessageParts
    price: Decimal | None = None  # totalMessagePrice + totalCarrierFee, US dollars; None when the event has neither

    @property
    def outcome(self) -> Outcome | None:
        """What the event says about the text."""
        return classify(self.event_type)

    @property
    def at(self) -> str:
        """The event's time as the timeline writes times."""
        when = datetime.fromtimestamp(self.event_ms / 1000, UTC)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(data: Mapping[str, Any], key: str) -> Decimal | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidReceipt(f"{key}: must be a number, got {value!r}")
    return Decimal(value)


def parse_receipt(message: Any) -> Receipt:
    """The event carried by an SNS notification's Message; raises InvalidReceipt naming the field at fault."""
    if not isinstance(message, str):
        raise InvalidReceipt("the SNS message is not a string")
    try:
        data = json.loads(message, parse_float=Decimal)  # prices exactly as sent, never binary floats
    except ValueError as error:
        raise InvalidReceipt(f"the SNS message is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise InvalidReceipt("the event is not a JSON object")
    for key in ("eventType", "messageId"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise InvalidReceipt(f"{key}: must be a non-empty string")
    timestamp = _number(data, "eventTimestamp")
    if timestamp is None:
        raise InvalidReceipt("eventTimestamp: is required")
    requested = _number(data, "messageRequestTimestamp")
    parts = _number(data, "totalMessageParts")
    prices = [price for price in (_number(data, "totalMessagePrice"), _number(data, "totalCarrierFee")) if price is not None]
    is_final = data.get("isFinal")
    if not isinstance(is_final, bool):
        outcome = classify(data["eventType"])
        is_final = outcome is not None and outcome is not Outcome.PENDING  # a field the event should always carry
    return Receipt(
        event_type=data["eventType"],
        message_id=data["messageId"],
        event_ms=int(timestamp),
        is_final=is_final,
        status=str(data.get("messageStatus") or ""),
        description=str(data.get("messageStatusDescription") or ""),
        requested_ms=int(requested) if requested is not None else None,
        parts=int(parts) if parts is not None else None,
        price=sum(prices, Decimal(0)) if prices else None,
    )


@dataclass(frozen=True)
class Target:
    """One incident a text was about, through the message log row that gates its receipts."""

    row_id: str  # the row's message_id: the real id for the text's own row, batch#... for a batch's listing rows
    incident_id: str
    execution: str  # the pass that sent it; "" when the text is about no single pass
    level: int
    contact: str
    kind: str
    sent_at: str


def _target(row: Mapping[str, Any]) -> Target:
    return Target(
        row_id=str(row["message_id"]),
        incident_id=str(row.get("incident_id", "")),
        execution=str(row.get("execution") or ""),
        level=int(row.get("level", 0)),
        contact=str(row.get("contact", "")),
        kind=str(row.get("kind", "")),
        sent_at=str(row.get("sent_at", "")),
    )


def targets_of(log: MessageLog, row: Mapping[str, Any]) -> list[Target]:
    """The incidents a text was about: its own row's, and for a batch text every incident it listed (once each).

    The text's own row comes first: it is the one whose incident pays for the text.
    """
    rows: list[Mapping[str, Any]] = [row]
    if row.get("batch"):
        rows += [other for other in log.rows_of_batch(row) if other["message_id"] != row["message_id"]]
    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for found in rows:
        target = _target(found)
        if (target.incident_id, target.execution) not in seen:
            seen.add((target.incident_id, target.execution))
            targets.append(target)
    return targets


# An item is the incarnation that sent a text when that text's pass is its current or one of its earlier passes.
_SAME_INCARNATION = "attribute_exists(incident_id) AND (execution_arn = :execution OR contains(past_executions, :execution))"


def same_incarnation(item: Mapping[str, Any] | None, execution: str) -> bool:
    """The Python twin of _SAME_INCARNATION."""
    if item is None or not execution:
        return False
    return execution in (item.get("execution_arn"), *(item.get("past_executions") or []))


def _cancellation(error: ClientError) -> list[str]:
    """The reason code of each action of a cancelled transaction; raises anything else (retried by the caller)."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise error
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]


class ReceiptBook:
    """Writes receipts: each message log row (how far its text got, whether it is paid) together with its incident."""

    def __init__(self, incidents_table: Any, messages_table: Any) -> None:
        self._incidents = incidents_table
        self._messages = messages_table
        self._client = incidents_table.meta.client  # a resource's client: plain Python values, converted

    def record(self, target: Target, *, rank: int, event_type: str, entry: Mapping[str, Any]) -> str:
        """Put entry on the target's timeline if the event takes its text further; what happened.

        "recorded", "not_kept" (counted only: the timeline holds RECEIPTS_KEPT already), "not_newer" (an event as
        far or further was recorded before) or "other_incarnation" (the item is not the one that sent the text).
        """
        gate = {
            "TableName": self._messages.name,
            "Key": {"message_id": target.row_id},
            "UpdateExpression": "SET delivery_rank = :rank, delivery_event = :event",
            "ConditionExpression": "attribute_exists(message_id)"
            " AND (attribute_not_exists(delivery_rank) OR delivery_rank < :rank)",
            "ExpressionAttributeValues": {":rank": rank, ":event": event_type},
        }
        for _ in range(3):  # the item changed between the read and the write (its cap reached, or it was replaced)
            item = self._incidents.get_item(Key={"incident_id": target.incident_id}, ConsistentRead=True).get("Item")
            if not same_incarnation(item, target.execution):
                return "other_incarnation"
            assert item is not None
            kept = int(item.get("receipt_entries", 0)) < RECEIPTS_KEPT
            update: dict[str, Any] = {
                "TableName": self._incidents.name,
                "Key": {"incident_id": target.incident_id},
                "ExpressionAttributeValues": {":execution": target.execution, ":one": 1},
            }
            if kept:
                update["UpdateExpression"] = "SET #t = list_append(if_not_exists(#t, :empty), :entries) ADD receipt_entries :one"
                update["ConditionExpression"] = (
                    f"{_SAME_INCARNATION} AND (attribute_not_exists(receipt_entries) OR receipt_entries < :cap)"
                )
                update["ExpressionAttributeNames"] = {"#t": "timeline"}
                update["ExpressionAttributeValues"].update({":empty": [], ":entries": [dict(entry)], ":cap": RECEIPTS_KEPT})
            else:
                update["UpdateExpression"] = "ADD receipts_not_kept :one"
                update["ConditionExpression"] = _SAME_INCARNATION
            try:
                self._client.transact_write_items(TransactItems=[{"Update": gate}, {"Update": update}])
            except ClientError as error:
                reasons = _cancellation(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return "not_newer"
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    continue
                raise  # a conflicting transaction: the event is retried
            return "recorded" if kept else "not_kept"
        raise RuntimeError(f"incident {target.incident_id} kept changing while its receipt was recorded")

    def charge(self, row_id: str, payer: Target | None, cost: Decimal) -> str:
        """Mark the text's row paid and add cost to its incident, together; "charged", "charged_no_incident" or "already"."""
        mark = {
            "TableName": self._messages.name,
            "Key": {"message_id": row_id},
            "UpdateExpression": "SET priced = :cost",
            "ConditionExpression": "attribute_exists(message_id) AND attribute_not_exists(priced)",
            "ExpressionAttributeValues": {":cost": cost},
        }
        if payer is not None and payer.execution:
            add = {
                "TableName": self._incidents.name,
                "Key": {"incident_id": payer.incident_id},
                "UpdateExpression": "ADD #cost :cost",
                "ConditionExpression": _SAME_INCARNATION,
                "ExpressionAttributeNames": {"#cost": "cost"},
                "ExpressionAttributeValues": {":cost": cost, ":execution": payer.execution},
            }
            try:
                self._client.transact_write_items(TransactItems=[{"Update": mark}, {"Update": add}])
            except ClientError as error:
                reasons = _cancellation(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return "already"
                if reasons[1:2] != ["ConditionalCheckFailed"]:
                    raise
            else:
                return "charged"
        try:  # no incident takes it (another incarnation now, or a text about none): the row still says it is paid
            self._messages.update_item(**{key: value for key, value in mark.items() if key != "TableName"})
        except ClientError as error:
            if is_conditional_failure(error):
                return "already"
            raise
        return "charged_no_incident"


def _delay_seconds(receipt: Receipt, target: Target) -> Decimal | None:
    """Seconds from the send to the event: from the service's own request time, else from when we logged the send."""
    start = receipt.requested_ms
    if start is None and target.sent_at:
        start = int(datetime.fromisoformat(target.sent_at.replace("Z", "+00:00")).timestamp() * 1000)
    if start is None:
        return None
    return (Decimal(max(0, receipt.event_ms - start)) / 1000).quantize(Decimal("0.001"))


def receipt_entry(receipt: Receipt, outcome: Outcome, target: Target) -> dict[str, Any]:
    """The timeline entry of a delivered (or carrier-accepted) or undelivered text."""
    common: dict[str, Any] = {"level": target.level, "phone": target.contact, "message_id": receipt.message_id,
                              "kind": target.kind}  # fmt: skip
    if outcome in (Outcome.DELIVERED, Outcome.ACCEPTED):
        return timeline_entry(
            Event.DELIVERED, receipt.at, **common, confirmed_by="handset" if outcome is Outcome.DELIVERED else "carrier",
            delay_seconds=_delay_seconds(receipt, target),
        )  # fmt: skip
    return timeline_entry(
        Event.UNDELIVERED, receipt.at, **common, status=receipt.status or receipt.event_type.removeprefix("TEXT_"),
        description=receipt.description[:MAX_DESCRIPTION] or None, cause=_CAUSE[outcome],
    )  # fmt: skip


def on_undelivered(target: Target, receipt: Receipt, outcome: Outcome) -> None:
    """The hook for moving an escalation on at once when its page will not arrive (not done yet: the page's window runs).

    Called once per (text, incident) when an undelivered receipt was recorded on the incarnation that sent it.
    """
    if target.kind not in PAGE_KINDS:
        return
    logger.warning(
        "a page will not arrive; the escalation moves on when its acknowledgement window ends",
        extra={"incident_id": target.incident_id, "level": target.level, "to": mask(target.contact),
               "event_type": receipt.event_type, "cause": _CAUSE[outcome]},
    )  # fmt: skip


def _record(book: ReceiptBook, receipt: Receipt, outcome: Outcome, targets: list[Target]) -> list[str]:
    """Record the event on each incident the text was about; what happened for each."""
    results = []
    for target in targets:
        if not target.execution:
            logger.info(
                "receipt of a text about no single pass of an incident (a digest, a handoff notice): on no timeline",
                extra={"message_id": receipt.message_id, "kind": target.kind, "event_type": receipt.event_type},
            )
            results.append("no_incident")
            continue
        entry = receipt_entry(receipt, outcome, target)
        result = book.record(target, rank=_RANK[outcome], event_type=receipt.event_type, entry=entry)
        if result == "other_incarnation":
            logger.info(
                "receipt of a text of an earlier incident with this id: not recorded on the new one",
                extra={"incident_id": target.incident_id, "message_id": receipt.message_id},
            )
        if result in ("recorded", "not_kept") and outcome in FAILED:
            on_undelivered(target, receipt, outcome)
        results.append(result)
    if outcome in (Outcome.DELIVERED, Outcome.ACCEPTED):
        count(SMS_DELIVERED)
    elif outcome in FAILED:
        count(SMS_UNDELIVERED)
    return results


def apply(receipt: Receipt, *, log: MessageLog, book: ReceiptBook, once: OnceOnly) -> dict[str, Any]:
    """Record one event on the incidents its text was about, once, and charge a final one's price; a summary."""
    outcome = receipt.outcome
    summary: dict[str, Any] = {"message_id": receipt.message_id, "event_type": receipt.event_type}
    if outcome is None:
        logger.warning("receipt of an event type not classified: not recorded", extra=summary)
        return {**summary, "result": "unclassified"}
    row = log.get(receipt.message_id)
    if row is None:
        logger.warning("receipt for a message id the message log does not know: dropped", extra=summary)
        count(RECEIPTS_UNMATCHED)
        return {**summary, "result": "unknown_message"}
    targets = targets_of(log, row)
    results: list[str] = []
    if outcome is not Outcome.PENDING:  # nothing to record while it is on its way
        key = f"receipt#{receipt.message_id}#{receipt.event_type}"
        if not once.once(key, lambda: results.extend(_record(book, receipt, outcome, targets))):
            results.append("duplicate")
    charged = None
    if receipt.is_final and receipt.price is not None:
        price = receipt.price

        def charge() -> None:
            nonlocal charged
            charged = book.charge(str(row["message_id"]), targets[0], price)
            if charged != "already":
                metrics.add_metric(name=SMS_COST, unit=MetricUnit.NoUnit, value=float(price))

        once.once(f"receipt_cost#{receipt.message_id}", charge)
    logger.info("delivery receipt", extra={**summary, "outcome": outcome.value, "results": results, "charged": charged})
    return {**summary, "outcome": outcome.value, "results": results, "charged": charged}
