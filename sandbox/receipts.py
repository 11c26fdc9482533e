"""Delivery receipts in the sandbox: which configuration sets publish text events where, what each phone's texts do.

End User Messaging publishes a text event to each SNS event destination of the configuration set a send names. moto
has no End User Messaging, so the stack's ``AWS::SMSVOICE::ConfigurationSet`` is not created; the gateway
(``sandbox.sms_gateway``) learns its destinations from the deployed template instead (``configuration_set_destinations``)
or from a CreateEventDestination call (a configuration set managed elsewhere), and publishes the events to the
destination topic in moto, where the stack's subscription hands them to the receipts function.

By default every text gets TEXT_DELIVERED 0.2 s after it was accepted, priced DEFAULT_PRICE_PER_PART per part. The
scenario key ``delivery`` changes that per phone::

    "delivery": {"+447700900001": {"sms": "blocked", "after_seconds": 0.5}}

``sms`` is the event (``delivered``, ``successful``, ``blocked``, ``carrier_unreachable``..., an event type without
TEXT_ in lower case, or the type itself; ``none`` sends no event), ``after_seconds`` when (after the send),
``price_per_part`` and ``carrier_fee`` what it costs (US dollars), ``voice`` what the phone does with a call
(``answered``, ``no_answer``, ``busy``, ``failed``, ``ttl_expired``, ``none``; sandbox.voice). A list instead of an
object scripts the phone's texts in order (its last entry goes for every later text), and its calls, counted apart.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import botocore.session

from .scenario_items import ScenarioError
from .voice import VOICE_OUTCOMES

if TYPE_CHECKING:
    from .sms_messages import SentSms

DEFAULT_AFTER_SECONDS = 0.2
DEFAULT_PRICE_PER_PART = Decimal("0.00581")
FIELDS = ("sms", "voice", "after_seconds", "price_per_part", "carrier_fee")
PENDING = frozenset({"TEXT_PENDING", "TEXT_QUEUED", "TEXT_SENT"})
DESCRIPTIONS = {
    "TEXT_DELIVERED": "Message has been delivered to the handset",
    "TEXT_SUCCESSFUL": "Message has been accepted by phone carrier",
    "TEXT_PENDING": "Message is being delivered",
    "TEXT_QUEUED": "Message is queued for delivery",
    "TEXT_BLOCKED": "Blocked by the recipient's handset or carrier",
    "TEXT_UNREACHABLE": "The handset is switched off or out of coverage",
    "TEXT_CARRIER_UNREACHABLE": "The recipient's carrier network could not be reached",
    "TEXT_INVALID": "The destination phone number is not valid",
    "TEXT_INVALID_MESSAGE": "The message body is not valid",
    "TEXT_CARRIER_BLOCKED": "Blocked by the recipient's carrier",
    "TEXT_SPAM": "Blocked as spam by the recipient's carrier",
    "TEXT_TTL_EXPIRED": "Not delivered within its time to live",
    "TEXT_PROTECT_BLOCKED": "Blocked by the protect configuration",
    "TEXT_UNKNOWN": "Delivery status unknown",
}


def text_event_types() -> frozenset[str]:
    """Every text event type of the service model (EventType), but the TEXT_ALL filter."""
    shape = botocore.session.get_session().get_service_model("pinpoint-sms-voice-v2").shape_for("EventType")
    names: list[str] = getattr(shape, "enum", [])
    return frozenset(name for name in names if name.startswith("TEXT_")) - {"TEXT_ALL"}


@dataclass(frozen=True)
class DeliveryScript:
    """What happens to one text: its event (None: no event at all), when, and its price."""

    event_type: str | None = "TEXT_DELIVERED"
    after_seconds: float = DEFAULT_AFTER_SECONDS
    price_per_part: Decimal = DEFAULT_PRICE_PER_PART
    carrier_fee: Decimal = Decimal(0)
    voice: str = "answered"  # what the phone does with a call (sandbox.voice VOICE_OUTCOMES)


DEFAULT_DELIVERY = DeliveryScript()


def _script(data: Any, where: str) -> DeliveryScript:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: must be an object {{sms, after_seconds, price_per_part, carrier_fee}}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: not a field of a delivery (use {', '.join(FIELDS)})")
    sms = data.get("sms", "delivered")
    types = text_event_types()
    if not isinstance(sms, str):
        raise ScenarioError(f"{where}.sms: must be a string such as delivered, blocked or none")
    event_type = None if sms == "none" else (sms if sms in types else f"TEXT_{sms.upper()}")
    if event_type is not None and event_type not in types:
        names = ", ".join(sorted(name.removeprefix("TEXT_").lower() for name in types))
        raise ScenarioError(f"{where}.sms: {sms!r} is not a text event; use one of {names} or none")
    voice = data.get("voice", "answered")
    if voice not in VOICE_OUTCOMES:
        raise ScenarioError(
            f"{where}.voice: {voice!r} is not what a phone does with a call; use one of {', '.join(VOICE_OUTCOMES)}"
        )
    numbers: dict[str, Decimal] = {}
    for key, default in (
        ("after_seconds", Decimal(str(DEFAULT_AFTER_SECONDS))),
        ("price_per_part", DEFAULT_PRICE_PER_PART),
        ("carrier_fee", Decimal(0)),
    ):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or value < 0:
            raise ScenarioError(f"{where}.{key}: must be a non-negative number")
        numbers[key] = Decimal(str(value))
    return DeliveryScript(
        event_type, float(numbers["after_seconds"]), numbers["price_per_part"], numbers["carrier_fee"], voice=str(voice)
    )


def parse_delivery(data: Any) -> dict[str, list[DeliveryScript]]:
    """The scenario's ``delivery`` key: phone number -> its texts' scripts, in order (the last one repeats)."""
    if not isinstance(data, dict):
        raise ScenarioError("delivery: must be an object of phone number -> {sms, after_seconds} (or a list of them)")
    scripts: dict[str, list[DeliveryScript]] = {}
    for number, spec in data.items():
        if not isinstance(number, str) or not number.startswith("+") or not number[1:].isdigit():
            raise ScenarioError(f"delivery.{number}: must be a phone number in E.164 (+447700900001)")
        if isinstance(spec, list):
            if not spec:
                raise ScenarioError(f"delivery.{number}: an empty list scripts nothing")
            scripts[number] = [_script(item, f"delivery.{number}[{index}]") for index, item in enumerate(spec)]
        else:
            scripts[number] = [_script(spec, f"delivery.{number}")]
    return scripts


def configuration_set_destinations(template: Mapping[str, Any], physical_ids: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(configuration set name, topic ARN, destination name) of every enabled SNS event destination in the template."""
    found = []
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::SMSVOICE::ConfigurationSet":
            continue
        properties = resource.get("Properties", {})
        name = properties.get("ConfigurationSetName")
        for destination in properties.get("EventDestinations", []):
            topic = (destination.get("SnsDestination") or {}).get("TopicArn")
            if isinstance(topic, dict) and "Ref" in topic:
                topic = physical_ids.get(topic["Ref"])
            if isinstance(name, str) and isinstance(topic, str) and destination.get("Enabled", True):
                found.append((name, topic, str(destination.get("EventDestinationName", ""))))
    return found


def text_event(
    message: SentSms, script: DeliveryScript, *, at: dt.datetime, origination_number: str
) -> tuple[str, Decimal | None]:
    """The event's JSON, as the service's documented example lays it out, and its price (None while pending)."""
    assert script.event_type is not None
    final = script.event_type not in PENDING
    price = script.price_per_part * message.segments if final else None
    event: dict[str, Any] = {
        "eventType": script.event_type,
        "eventVersion": "1.0",
        "eventTimestamp": int(at.timestamp() * 1000),
        "isFinal": final,
        "originationPhoneNumber": origination_number,
        "destinationPhoneNumber": message.to,
        "isInternationalSend": False,
        "messageId": message.message_id,
        "messageRequestTimestamp": int(message.at.timestamp() * 1000),
        "messageEncoding": "GSM" if message.encoding == "GSM-7" else "UNICODE",
        "messageType": message.message_type or "TRANSACTIONAL",
        "messageStatus": script.event_type.removeprefix("TEXT_"),
        "messageStatusDescription": DESCRIPTIONS.get(script.event_type, script.event_type),
        "context": dict(message.context),
        "totalMessageParts": message.segments,
    }
    if price is not None:
        event["totalMessagePrice"] = float(price)  # a JSON number, as the service writes it
        event["totalCarrierFee"] = float(script.carrier_fee)
    return json.dumps(event), (price + script.carrier_fee if price is not None else None)
