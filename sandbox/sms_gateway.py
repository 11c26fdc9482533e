"""A fake of AWS End User Messaging SMS (``pinpoint-sms-voice-v2``) with scriptable phones.

``SmsGateway.install()`` registers botocore ``before-call`` handlers on boto3's default session
(call it inside ``mock_aws``, which replaces that session, and before handler code creates its
client). botocore validates the parameters against the real service model before these
handlers run, then the handler answers instead of the network:

* ``SendTextMessage``: the message is recorded (``SentSms``) and delivered to the scripted phones;
  answers ``{"MessageId": ...}``. ``fail_next()`` makes the next send fail with a service error.
* ``UpdatePhoneNumber`` (what the stack's AwsCustomResource calls to turn two-way SMS on): the
  two-way channel is remembered, so replies to messages sent from that identity go to that topic.

Replies are published to the inbound SNS topic with the documented inbound payload, through
moto's SNS, so the reply handler receives what it would receive on AWS.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

SERVICE_ID = "pinpoint-sms-voice-v2"
PROJECT_MESSAGES_MODULE = "escalation.messages"
LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
SegmentCounter = Callable[[str], tuple[int, str]]


@dataclass(frozen=True)
class SentSms:
    """One message accepted by the fake service."""

    message_id: str
    at: dt.datetime
    to: str
    origination_identity: str
    body: str
    message_type: str | None
    context: Mapping[str, str]
    segments: int
    encoding: str
    request: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class InboundSms:
    """One reply published to an inbound topic."""

    inbound_message_id: str
    at: dt.datetime
    topic_arn: str
    payload: Mapping[str, str]
    sns_message_id: str


# -- segment accounting: fallback only ----------------------------------------------------------
# TODO(sandbox): replace with lambdas/escalation/messages.py:count_segments once it is always
# importable; this copy exists so the sandbox still works if that module is absent or renamed.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def fallback_count_segments(text: str) -> tuple[int, str]:
    """Segments and encoding of text (GSM-7 160/153, extension chars count 2; else UCS-2 70/67)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text):
        septets = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in text)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


def project_segment_counter() -> SegmentCounter | None:
    """The project's escalation.messages.count_segments, importing it from lambdas/ if needed."""
    try:
        module = importlib.import_module(PROJECT_MESSAGES_MODULE)
    except ImportError:
        if not LAMBDAS_DIR.is_dir():
            return None
        sys.path.insert(0, str(LAMBDAS_DIR))
        try:
            module = importlib.import_module(PROJECT_MESSAGES_MODULE)
        except ImportError:
            return None
        finally:
            sys.path.remove(str(LAMBDAS_DIR))
    counter: SegmentCounter | None = getattr(module, "count_segments", None)
    return counter


def _http_response(status: int) -> AWSResponse:
    """What botocore expects as the HTTP half of a short-circuited call."""
    return AWSResponse(f"https://sms-voice.sandbox.invalid/{status}", status, HTTPHeaders(), None)


def _metadata(status: int = 200) -> dict[str, Any]:
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


class SmsGateway:
    """The fake SMS service: records sends, drives scripted phones, publishes replies."""

    def __init__(
        self,
        *,
        inbound_topic_arn: str | None = None,
        segment_counter: SegmentCounter | None = None,
        keywords: frozenset[str] = frozenset({"STOP", "HELP"}),
        origination_numbers: Mapping[str, str] | None = None,
    ) -> None:
        """Create a gateway; origination_numbers maps identities (ids, ARNs) to E.164 numbers."""
        self.inbound_topic_arn = inbound_topic_arn
        counter = segment_counter or project_segment_counter()
        self.uses_project_segment_counter = counter is not None and segment_counter is None
        self.count_segments: SegmentCounter = counter or fallback_count_segments
        self.keywords = keywords
        self.origination_numbers = dict(origination_numbers or {})
        self.two_way_channels: dict[str, str] = {}
        self.sent: list[SentSms] = []
        self.inbound: list[InboundSms] = []
        self.other_calls: list[tuple[str, Mapping[str, Any]]] = []
        self._listeners: list[Callable[[SentSms], None]] = []
        self._failures: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._timers: list[threading.Thread] = []
        self._closing = threading.Event()
        self._session: boto3.session.Session | None = None

    # -- installation -------------------------------------------------------------------------

    def install(self) -> SmsGateway:
        """Register the botocore hooks on boto3's default session (inside mock_aws)."""
        session = boto3._get_default_session()
        events = session.events
        # before-call handlers may return a response; the stubs type every handler as returning None
        on_send = cast(Callable[..., None], self._on_send)
        on_update = cast(Callable[..., None], self._on_update_phone_number)
        events.register(f"before-call.{SERVICE_ID}.SendTextMessage", on_send, unique_id=f"sandbox-sms-{id(self)}")
        events.register(f"before-call.{SERVICE_ID}.UpdatePhoneNumber", on_update, unique_id=f"sandbox-sms-two-way-{id(self)}")
        self._session = session
        self._closing.clear()
        return self

    def uninstall(self) -> None:
        """Remove the hooks and cancel replies not yet published; safe to call twice."""
        # A reply published after mock_aws ends would go to the real AWS endpoint
        self._closing.set()
        if self._session is None:
            return
        events = self._session.events
        events.unregister(f"before-call.{SERVICE_ID}.SendTextMessage", unique_id=f"sandbox-sms-{id(self)}")
        events.unregister(f"before-call.{SERVICE_ID}.UpdatePhoneNumber", unique_id=f"sandbox-sms-two-way-{id(self)}")
        self._session = None

    def __enter__(self) -> SmsGateway:
        """Install on entering a with block."""
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        """Uninstall on leaving a with block (pending replies are cancelled, see wait_replies)."""
        self.uninstall()

    # -- scripting ----------------------------------------------------------------------------

    def on_message(self, listener: Callable[[SentSms], None]) -> None:
        """Call listener for every accepted message, synchronously inside the sender's call."""
        # The sender has not stored the MessageId yet when listeners run: answer with reply_after()
        self._listeners.append(listener)

    def fail_next(self, code: str = "ThrottlingException", message: str = "Rate exceeded", to: str | None = None) -> None:
        """Make the next send (to the given number, or any) fail with this service error code."""
        with self._lock:
            self._failures.append((code, message, to))

    def messages_to(self, number: str) -> list[SentSms]:
        """Messages sent to number, oldest first."""
        with self._lock:
            return [m for m in self.sent if m.to == number]

    def set_two_way(self, origination_identity: str, topic_arn: str) -> None:
        """Deliver replies to messages sent from origination_identity to topic_arn."""
        with self._lock:
            self.two_way_channels[origination_identity] = topic_arn

    # -- replies ------------------------------------------------------------------------------

    def reply(
        self,
        from_number: str,
        body: str,
        previous_message_id: str | None = None,
        *,
        topic_arn: str | None = None,
        keyword: str | None = None,
    ) -> InboundSms:
        """Publish a reply from from_number to the inbound topic, as the real service does."""
        with self._lock:
            if previous_message_id is None:
                earlier = [m for m in self.sent if m.to == from_number]
                if not earlier:
                    raise LookupError(f"nothing was sent to {from_number}; pass previous_message_id")
                previous = earlier[-1]
            else:
                found = [m for m in self.sent if m.message_id == previous_message_id]
                if not found:
                    raise LookupError(f"no message {previous_message_id} was sent")
                previous = found[0]
            identity = previous.origination_identity
            topic = topic_arn or self.two_way_channels.get(identity) or self.inbound_topic_arn
        if topic is None:
            raise LookupError(f"no two-way channel for {identity}; set inbound_topic_arn or call set_two_way()")
        first_word = body.strip().split(maxsplit=1)[0].upper() if body.strip() else ""
        account = topic.split(":")[4]
        payload = {
            "originationNumber": from_number,
            "destinationNumber": self.origination_numbers.get(identity, identity),
            "messageKeyword": keyword or (first_word if first_word in self.keywords else f"KEYWORD_{account}"),
            "messageBody": body,
            "inboundMessageId": str(uuid.uuid4()),
            "previousPublishedMessageId": previous.message_id,
        }
        sns = boto3.client("sns", region_name=topic.split(":")[3])
        # Stamped before publishing: moto runs the reply handler inside publish().
        sent_at = dt.datetime.now(dt.UTC)
        sns_message_id = sns.publish(TopicArn=topic, Message=json.dumps(payload))["MessageId"]
        inbound = InboundSms(
            inbound_message_id=payload["inboundMessageId"],
            at=sent_at,
            topic_arn=topic,
            payload=payload,
            sns_message_id=sns_message_id,
        )
        with self._lock:
            self.inbound.append(inbound)
        return inbound

    def reply_after(
        self, delay_s: float, from_number: str, body: str, previous_message_id: str | None = None
    ) -> threading.Thread:
        """Reply from a background thread after delay_s (use from on_message listeners)."""
        if previous_message_id is None:
            # Pin the message being answered now, not whatever was sent last when the timer fires
            with self._lock:
                earlier = [m for m in self.sent if m.to == from_number]
            previous_message_id = earlier[-1].message_id if earlier else None

        def send() -> None:
            if self._closing.wait(delay_s):
                return
            self.reply(from_number, body, previous_message_id)

        thread = threading.Thread(target=send, name=f"sandbox-sms-reply-{from_number}", daemon=True)
        with self._lock:
            self._timers.append(thread)
        thread.start()
        return thread

    def pending_replies(self) -> int:
        """How many scheduled replies are not published yet."""
        with self._lock:
            return sum(1 for thread in self._timers if thread.is_alive())

    def wait_replies(self, timeout_s: float = 30.0) -> None:
        """Wait for scheduled replies to be published; raise TimeoutError if they are not."""
        with self._lock:
            timers = list(self._timers)
        for thread in timers:
            thread.join(timeout_s)
            if thread.is_alive():
                raise TimeoutError(f"{thread.name} still pending after {timeout_s}s")

    # -- botocore hooks -----------------------------------------------------------------------

    def _on_send(self, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"] or b"{}")
        to = request["DestinationPhoneNumber"]
        with self._lock:
            failure = next((f for f in self._failures if f[2] in (None, to)), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            error = {"Error": {"Code": failure[0], "Message": failure[1]}, "ResponseMetadata": _metadata(400)}
            return _http_response(400), error
        segments, encoding = self.count_segments(request["MessageBody"])
        message = SentSms(
            message_id=str(uuid.uuid4()),
            at=dt.datetime.now(dt.UTC),
            to=to,
            origination_identity=request.get("OriginationIdentity", ""),
            body=request["MessageBody"],
            message_type=request.get("MessageType"),
            context=dict(request.get("Context") or {}),
            segments=segments,
            encoding=encoding,
            request=request,
        )
        with self._lock:
            self.sent.append(message)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(message)
        return _http_response(200), {"MessageId": message.message_id, "ResponseMetadata": _metadata()}

    def _on_update_phone_number(self, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"] or b"{}")
        phone_id = request["PhoneNumberId"]
        with self._lock:
            self.other_calls.append(("UpdatePhoneNumber", request))
            if request.get("TwoWayEnabled") and request.get("TwoWayChannelArn"):
                self.two_way_channels[phone_id] = request["TwoWayChannelArn"]
            elif request.get("TwoWayEnabled") is False:
                self.two_way_channels.pop(phone_id, None)
        response = {
            "PhoneNumberId": phone_id,
            "PhoneNumber": self.origination_numbers.get(phone_id, phone_id),
            "Status": "ACTIVE",
            "TwoWayEnabled": bool(request.get("TwoWayEnabled")),
            "ResponseMetadata": _metadata(),
        }
        if request.get("TwoWayChannelArn"):
            response["TwoWayChannelArn"] = request["TwoWayChannelArn"]
        return _http_response(200), response
