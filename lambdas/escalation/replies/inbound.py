"""The two-way SMS payload End User Messaging SMS publishes to the inbound SNS topic."""

import json
from dataclasses import dataclass

from escalation.sms.phone_numbers import is_e164


class InvalidInbound(ValueError):
    """The payload is not a two-way SMS message we can act on; the message says why."""


@dataclass(frozen=True)
class InboundSms:
    """One inbound SMS (fields of AWS's documented payload)."""

    origination_number: str
    destination_number: str
    message_body: str
    inbound_message_id: str
    previous_published_message_id: str | None


def _text(payload: dict[str, object], field: str, *, required: bool) -> str | None:
    value = payload.get(field)
    if value is None or value == "":
        if required:
            raise InvalidInbound(f"{field}: is required")
        return None
    if not isinstance(value, str):
        raise InvalidInbound(f"{field}: must be a string, got {type(value).__name__}")
    return value


def parse_inbound(message: str) -> InboundSms:
    """Parse the SNS Message string of an inbound SMS."""
    try:
        payload = json.loads(message)
    except (TypeError, json.JSONDecodeError) as error:
        raise InvalidInbound(f"Message: not JSON ({error})") from error
    if not isinstance(payload, dict):
        raise InvalidInbound("Message: must be a JSON object")
    sender = _text(payload, "originationNumber", required=True)
    if not is_e164(sender):
        raise InvalidInbound(f"originationNumber: {sender!r} is not an E.164 phone number")
    body = payload.get("messageBody")
    if not isinstance(body, str):
        raise InvalidInbound("messageBody: must be a string")
    return InboundSms(
        origination_number=str(sender),
        destination_number=_text(payload, "destinationNumber", required=False) or "",
        message_body=body,
        inbound_message_id=str(_text(payload, "inboundMessageId", required=True)),
        previous_published_message_id=_text(payload, "previousPublishedMessageId", required=False),
    )
