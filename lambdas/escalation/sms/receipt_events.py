"""Delivery receipts as End User Messaging sends them: each text event type classified, and an event parsed.

Classification: one table, EVENT_OUTCOMES, says what each event type means for the text: delivered (the handset
confirmed it), accepted (the recipient's carrier took it: where handsets send no receipt, the last word there
is), pending (on its way: nothing is recorded), failed on the contact's side, failed on ours, or unknown.
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
# Every voice event type (EventType, VOICE_*): a call is "delivered" when answered; busy, no answer, expired and failed
# say it did not reach the person. A call never ends a level (escalation.voice.calls): these only go on the timeline.
VOICE_OUTCOMES: Mapping[str, Outcome] = MappingProxyType(
    {
        "VOICE_INITIATED": Outcome.PENDING,  # the call is being placed
        "VOICE_RINGING": Outcome.PENDING,
        "VOICE_ANSWERED": Outcome.DELIVERED,
        "VOICE_COMPLETED": Outcome.DELIVERED,  # answered, and the message was played to its end
        "VOICE_BUSY": Outcome.FAILED_CONTACT,
        "VOICE_NO_ANSWER": Outcome.FAILED_CONTACT,
        "VOICE_TTL_EXPIRED": Outcome.FAILED_CONTACT,  # not placed within its TimeToLive
        "VOICE_FAILED": Outcome.UNKNOWN,  # the call failed; the event does not say whose side
    }
)
FAILED = frozenset({Outcome.FAILED_CONTACT, Outcome.FAILED_OURS, Outcome.UNKNOWN})
CAUSE = {Outcome.FAILED_CONTACT: "contact", Outcome.FAILED_OURS: "ours", Outcome.UNKNOWN: "unknown"}
# How far a text got: an event is recorded only when it takes its text further (every final outcome is as far as it goes).
RANK = {Outcome.PENDING: 1, Outcome.ACCEPTED: 2, Outcome.DELIVERED: 3, Outcome.FAILED_CONTACT: 3, Outcome.FAILED_OURS: 3,
         Outcome.UNKNOWN: 3}  # fmt: skip


def classify(event_type: str) -> Outcome | None:
    """What an event type means for its text or call; None for a type the tables do not list (logged, not recorded)."""
    return EVENT_OUTCOMES.get(event_type) or VOICE_OUTCOMES.get(event_type)


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
