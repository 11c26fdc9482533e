"""The phones' side of the fake SMS service: what was sent to each, their scripted replies and delivery receipts.

``SmsPhones`` holds the state of the whole gateway; ``sandbox.sms_gateway.SmsGateway`` adds the service
side (requests over HTTP and in-process, scripted failures, two-way and event destination settings).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import boto3

from .receipts import DEFAULT_DELIVERY, DeliveryScript, text_event
from .sms_messages import InboundSms, ReceiptEvent, SegmentCounter, SentSms, fallback_count_segments, project_segment_counter
from .voice import SentCall


class SmsPhones:
    """The fake SMS service's state, its scripted phones and their replies and receipts."""

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
        self.event_destinations: dict[str, list[str]] = {}  # configuration set name -> SNS topic ARNs
        self.delivery_scripts: dict[str, list[DeliveryScript]] = {}  # phone -> its texts' events, in order
        self.receipts: list[ReceiptEvent] = []
        self.sent: list[SentSms] = []
        self.inbound: list[InboundSms] = []
        self.other_calls: list[tuple[str, Mapping[str, Any]]] = []
        self.calls: list[SentCall] = []  # SendVoiceMessage (sandbox.voice)
        self._call_listeners: list[Callable[[SentCall], None]] = []
        self._listeners: list[Callable[[SentSms], None]] = []
        self._failures: list[tuple[dict[str, Any], str | None, int]] = []  # error body, number, after how many texts
        self._failing_calls: dict[str, tuple[dict[str, Any], str | None, int]] = {}
        self._lock = threading.Lock()
        self._timers: list[threading.Thread] = []
        self._closing = threading.Event()
        self._session: boto3.session.Session | None = None

    # -- scripting ----------------------------------------------------------------------------------

    def on_message(self, listener: Callable[[SentSms], None]) -> None:
        """Call listener for every accepted message, synchronously inside the sender's call."""
        # The sender has not stored the MessageId yet when listeners run: answer with reply_after()
        self._listeners.append(listener)

    def on_call(self, listener: Callable[[SentCall], None]) -> None:
        """Call listener for every accepted voice call, synchronously inside the caller's request."""
        self._call_listeners.append(listener)

    def messages_to(self, number: str) -> list[SentSms]:
        """Messages sent to number, oldest first."""
        with self._lock:
            return [m for m in self.sent if m.to == number]

    def add_event_destination(self, configuration_set: str, topic_arn: str) -> None:
        """Publish the text events of sends naming configuration_set (its name or ARN) to topic_arn."""
        name = configuration_set.rsplit("configuration-set/", 1)[-1]
        with self._lock:
            if topic_arn not in self.event_destinations.setdefault(name, []):
                self.event_destinations[name].append(topic_arn)

    def script_delivery(self, number: str, scripts: Sequence[DeliveryScript]) -> None:
        """What happens to the texts to number, in order (the last script goes for every later text)."""
        with self._lock:
            self.delivery_scripts[number] = list(scripts)

    def set_two_way(self, origination_identity: str, topic_arn: str) -> None:
        """Deliver replies to messages sent from origination_identity to topic_arn."""
        with self._lock:
            self.two_way_channels[origination_identity] = topic_arn

    # -- replies ------------------------------------------------------------------------------------

    def reply(self, from_number: str, body: str, *, topic_arn: str | None = None, keyword: str | None = None) -> InboundSms:
        """Publish a reply from from_number to the inbound topic, as the real service does.

        Its ``previousPublishedMessageId`` is the last message sent to from_number at this moment.
        """
        with self._lock:
            earlier = [m for m in self.sent if m.to == from_number]
            if not earlier:
                raise LookupError(f"nothing was sent to {from_number}")
            previous = earlier[-1]
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
        self,
        delay_s: float,
        from_number: str,
        body: str,
        *,
        before: Callable[[], None] | None = None,
        then: Callable[[], None] | None = None,
    ) -> threading.Thread:
        """Reply from a background thread after delay_s (use from on_message listeners).

        before: called in that thread first (delay_s counts from its return), e.g. to let the sender
        finish recording what it sent. then: called once the reply is published (or skipped because the
        gateway closed). The reply counts as pending until both have returned.
        """

        def send() -> None:
            try:
                if before is not None:
                    before()
                if not self._closing.wait(delay_s):
                    self.reply(from_number, body)
            finally:
                if then is not None:
                    then()

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

    # -- delivery receipts --------------------------------------------------------------------------

    def _schedule_receipt(self, message: SentSms) -> None:
        """Publish the text's event to its configuration set's destinations when its phone's script says."""
        name = str(message.request.get("ConfigurationSetName") or "").rsplit("configuration-set/", 1)[-1]
        with self._lock:
            topics = list(self.event_destinations.get(name, []))
            scripts = self.delivery_scripts.get(message.to, [DEFAULT_DELIVERY])
            index = sum(1 for sent in self.sent if sent.to == message.to) - 1  # this text is the index-th to its phone
        script = scripts[min(index, len(scripts) - 1)]
        if not topics or script.event_type is None:
            return
        origination = self.origination_numbers.get(message.origination_identity, message.origination_identity)

        def publish() -> None:
            if self._closing.wait(script.after_seconds):
                return  # the run is over: nothing may reach the real AWS endpoint
            at = dt.datetime.now(dt.UTC)
            body, price = text_event(message, script, at=at, origination_number=origination)
            for topic in topics:
                boto3.client("sns", region_name=topic.split(":")[3]).publish(TopicArn=topic, Message=body)
                assert script.event_type is not None
                receipt = ReceiptEvent(message.message_id, message.to, script.event_type, at, topic, price)
                with self._lock:
                    self.receipts.append(receipt)

        thread = threading.Thread(target=publish, name=f"sandbox-sms-receipt-{message.to}", daemon=True)
        with self._lock:
            self._timers.append(thread)
        thread.start()
