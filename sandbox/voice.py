"""Voice calls in the sandbox: the gateway answers SendVoiceMessage, phones get calls, and voice events follow.

``SendVoiceMessage`` is checked against the service model like every request (``sandbox.sms_gateway``), recorded
(``SentCall``), announced to the call listeners (a scripted phone may answer a call and then text: the phone
action ``{"on_call": 1, "reply": "YES 123"}``), and followed by the voice events its phone's delivery script
says (scenario key ``delivery``, field ``voice``): ``answered`` (the default: VOICE_ANSWERED, then
VOICE_COMPLETED with its price), ``no_answer``, ``busy``, ``failed``, ``ttl_expired`` or ``none``. Events go to
the configuration set's destinations, as text events do. A list of scripts scripts a phone's calls in order,
counted apart from its texts.

Scheduler: moto stores one-time schedules but never fires them, and its CloudFormation has no schedule groups;
``VoiceDriver`` creates the calls' group from the stack's output and fires due schedules (one poller per run).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3

from .event_sources.schedules import OneTimeSchedules

CALLS_PER_DAY = 5  # End User Messaging's calls to one recipient in 24 hours (escalation.voice.limits)
VOICE_OUTCOMES = ("answered", "no_answer", "busy", "failed", "ttl_expired", "none")
PRICE_PER_MINUTE = Decimal("0.013")  # what the sandbox charges an answered call (a minute at most: the message is short)
DESCRIPTIONS = {
    "VOICE_ANSWERED": "The call was answered",
    "VOICE_COMPLETED": "The call was answered and the message played",
    "VOICE_NO_ANSWER": "Nobody answered the call",
    "VOICE_BUSY": "The line was busy",
    "VOICE_FAILED": "The call failed",
    "VOICE_TTL_EXPIRED": "The call could not be placed within its time to live",
}


@dataclass(frozen=True)
class SentCall:
    """One call accepted by the fake service."""

    message_id: str
    at: dt.datetime
    to: str
    origination_identity: str
    body: str
    request: Mapping[str, Any] = field(repr=False)


def voice_events(outcome: str) -> list[tuple[str, float]]:
    """The events of a call whose phone does `outcome`: (event type, seconds after the first of them)."""
    if outcome == "none":
        return []
    if outcome == "answered":
        return [("VOICE_ANSWERED", 0.0), ("VOICE_COMPLETED", 0.3)]
    return [(f"VOICE_{outcome.upper()}", 0.0)]


def voice_event(call: SentCall, event_type: str, *, at: dt.datetime, origination_number: str) -> str:
    """The event's JSON, laid out as text events are, with the call's duration and price when it completed."""
    final = event_type != "VOICE_ANSWERED"
    event: dict[str, Any] = {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": int(at.timestamp() * 1000),
        "isFinal": final,
        "originationPhoneNumber": origination_number,
        "destinationPhoneNumber": call.to,
        "messageId": call.message_id,
        "messageRequestTimestamp": int(call.at.timestamp() * 1000),
        "messageStatus": event_type.removeprefix("VOICE_"),
        "messageStatusDescription": DESCRIPTIONS.get(event_type, event_type),
        "context": dict(call.request.get("Context") or {}),
    }
    if event_type == "VOICE_COMPLETED":
        event["totalDurationSeconds"] = 30
        event["totalMessagePrice"] = float(PRICE_PER_MINUTE)
    return json.dumps(event)


def send_voice(phones: Any, request: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """Answer one SendVoiceMessage (already checked against the model): record it, ring the phone, schedule its events.

    phones: the gateway's state (sandbox.sms_phones.SmsPhones, which imports this module: typed loosely here).
    """
    call = SentCall(
        message_id=str(uuid.uuid4()),
        at=dt.datetime.now(dt.UTC),
        to=request["DestinationPhoneNumber"],
        origination_identity=request["OriginationIdentity"],
        body=request["MessageBody"],
        request=dict(request),
    )
    with phones._lock:
        phones.calls.append(call)
        index = sum(1 for earlier in phones.calls if earlier.to == call.to) - 1
        listeners = list(phones._call_listeners)
        scripts = phones.delivery_scripts.get(call.to)
        name = str(request.get("ConfigurationSetName") or "").rsplit("configuration-set/", 1)[-1]
        topics = list(phones.event_destinations.get(name, []))
    for listener in listeners:
        listener(call)
    script = scripts[min(index, len(scripts) - 1)] if scripts else None
    outcome = str(script.voice) if script is not None else "answered"
    after = float(script.after_seconds) if script is not None else 0.5
    origination = phones.origination_numbers.get(call.origination_identity, call.origination_identity)

    def publish() -> None:
        start = dt.datetime.now(dt.UTC)
        for event_type, offset in voice_events(outcome):
            if phones._closing.wait(max(0.0, after + offset - (dt.datetime.now(dt.UTC) - start).total_seconds())):
                return  # the run is over: nothing may reach the real AWS endpoint
            body = voice_event(call, event_type, at=dt.datetime.now(dt.UTC), origination_number=origination)
            for topic in topics:
                boto3.client("sns", region_name=topic.split(":")[3]).publish(TopicArn=topic, Message=body)

    if topics and outcome != "none":
        thread = threading.Thread(target=publish, name=f"sandbox-voice-events-{call.to}", daemon=True)
        with phones._lock:
            phones._timers.append(thread)
        thread.start()
    return 200, {"MessageId": call.message_id}


def call_records(calls: list[SentCall], start_wall: float) -> list[dict[str, Any]]:
    """The run result's `calls`: when (seconds from the start), to whom, what was said, the message id."""
    return [
        {"t": round(call.at.timestamp() - start_wall, 3), "to": call.to, "body": call.body, "message_id": call.message_id}
        for call in calls
    ]


class VoiceDriver:
    """Creates the calls' schedule group and fires due schedules, when the deployed stack places calls."""

    def __init__(self, outputs: Mapping[str, str], region: str, *, poller_running: bool) -> None:
        self.group = outputs.get("VoiceScheduleGroup")
        self._poller: OneTimeSchedules | None = None
        if self.group is None:
            return
        boto3.client("scheduler", region_name=region).create_schedule_group(Name=self.group)
        if not poller_running:  # one poller fires every group's schedules
            self._poller = OneTimeSchedules(region).start()

    def stop(self, errors: list[str]) -> None:
        """Fire no more calls; the poller's own faults become the run's errors."""
        if self._poller is not None:
            self._poller.stop()
            errors.extend(self._poller.errors)


def parse_earlier_calls(raw: Any) -> dict[str, int]:
    """Scenario key `calls_earlier_today`: {number: how many calls it got in the last 24 hours, 1-5}."""
    if not isinstance(raw, dict):
        raise ValueError("calls_earlier_today: must be an object of number -> calls (1-5)")
    for number, count in raw.items():
        if not (isinstance(number, str) and number.startswith("+")):
            raise ValueError(f"calls_earlier_today: {number!r} is not an E.164 number")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= CALLS_PER_DAY:
            raise ValueError(f"calls_earlier_today.{number}: must be a whole number of calls from 1 to {CALLS_PER_DAY}")
    return dict(raw)


def seed_earlier_calls(deployed: Any, earlier: Mapping[str, int], region: str) -> None:
    """Record calls placed an hour ago to each number, as the call function keeps them (escalation.voice.limits).

    The daily budget of a number that was already called today, without hours of real calls.
    """
    if not earlier:
        return
    table_name = next(
        str(function.environment["MESSAGES_TABLE"])
        for function in deployed.functions.values()
        if "MESSAGES_TABLE" in function.environment
    )
    table = boto3.resource("dynamodb", region_name=region).Table(table_name)
    an_hour_ago = int(dt.datetime.now(dt.UTC).timestamp()) - 3600
    for number, count in earlier.items():
        calls = {f"earlier#{index}": an_hour_ago for index in range(count)}
        table.put_item(Item={"message_id": f"voice-budget#{number}", "calls": calls, "version": 1,
                             "expires_at": an_hour_ago + 2 * 86_400})  # fmt: skip
