"""The sandbox's delivery receipts: the scenario key `delivery`, and the gateway publishing text events to the
configuration set's SNS destination."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.receipts import DeliveryScript, configuration_set_destinations, parse_delivery
from sandbox.scenario import parse_scenario
from sandbox.scenario_items import ScenarioError
from sandbox.sms_gateway import SmsGateway

REGION = "eu-west-2"
PHONE = "+447700900001"


def test_the_delivery_key_scripts_each_phones_texts() -> None:
    scenario = parse_scenario(
        {
            "name": "n",
            "incident": {},
            "delivery": {
                PHONE: {"sms": "blocked", "after_seconds": 0.5},
                "+447700900002": [{"sms": "TEXT_SUCCESSFUL", "price_per_part": 0.01, "carrier_fee": 0.002}, {"sms": "none"}],
            },
        }
    )
    assert scenario.delivery == {
        PHONE: [DeliveryScript("TEXT_BLOCKED", 0.5)],
        "+447700900002": [
            DeliveryScript("TEXT_SUCCESSFUL", 0.2, Decimal("0.01"), Decimal("0.002")),
            DeliveryScript(None),
        ],
    }
    assert parse_scenario({"name": "n", "incident": {}}).delivery == {}


@pytest.mark.parametrize(
    ("delivery", "message"),
    [
        ([], "delivery: must be an object"),
        ({"07700900001": {}}, "delivery.07700900001: must be a phone number in E.164"),
        ({PHONE: {"sms": "lost"}}, f"delivery.{PHONE}.sms: 'lost' is not a text event"),
        ({PHONE: {"sms": 3}}, f"delivery.{PHONE}.sms: must be a string"),
        ({PHONE: {"after_seconds": -1}}, f"delivery.{PHONE}.after_seconds: must be a non-negative number"),
        ({PHONE: {"price_per_part": "0.1"}}, f"delivery.{PHONE}.price_per_part: must be a non-negative number"),
        ({PHONE: {"delay": 1}}, f"delivery.{PHONE}.delay: not a field of a delivery"),
        ({PHONE: [{"sms": "delivered"}, "blocked"]}, f"delivery.{PHONE}[1]: must be an object"),
        ({PHONE: []}, f"delivery.{PHONE}: an empty list scripts nothing"),
    ],
)
def test_a_bad_delivery_is_refused_naming_the_field(delivery: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse_delivery(delivery)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("earlier", "message"),
    [
        ([PHONE], "calls_earlier_today: must be an object"),
        ({"07700900001": 2}, "calls_earlier_today: '07700900001' is not an E.164 number"),
        ({PHONE: 6}, f"calls_earlier_today.{PHONE}: must be a whole number of calls from 1 to 5"),
        ({PHONE: True}, f"calls_earlier_today.{PHONE}: must be a whole number"),
    ],
)
def test_calls_earlier_today_are_read_or_refused_naming_the_field(earlier: Any, message: str) -> None:
    base = {"name": "n", "incident": {"incident_id": {"S": "1"}}, "time_limit_seconds": 5}
    assert parse_scenario({**base, "calls_earlier_today": {PHONE: 5}}).calls_earlier_today == {PHONE: 5}
    with pytest.raises(ScenarioError) as raised:
        parse_scenario({**base, "calls_earlier_today": earlier})
    assert str(raised.value).startswith(message)


def test_the_templates_configuration_set_destinations_resolve_to_the_deployed_topic() -> None:
    template = {
        "Resources": {
            "Set": {
                "Type": "AWS::SMSVOICE::ConfigurationSet",
                "Properties": {
                    "ConfigurationSetName": "Stack-texts",
                    "EventDestinations": [
                        {
                            "Enabled": True,
                            "EventDestinationName": "r",
                            "MatchingEventTypes": ["TEXT_ALL"],
                            "SnsDestination": {"TopicArn": {"Ref": "Topic"}},
                        },
                        {
                            "Enabled": False,
                            "EventDestinationName": "off",
                            "MatchingEventTypes": ["TEXT_ALL"],
                            "SnsDestination": {"TopicArn": "arn:aws:sns:eu-west-2:123456789012:off"},
                        },
                    ],
                },
            }
        }
    }
    topic = "arn:aws:sns:eu-west-2:123456789012:Stack-DeliveryReceipts"
    assert configuration_set_destinations(template, {"Topic": topic}) == [("Stack-texts", topic, "r")]


@pytest.fixture
def gateway() -> Iterator[tuple[SmsGateway, Any, str]]:
    """A gateway in moto whose configuration set `texts` publishes to a topic a queue listens to."""
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="receipts")["TopicArn"]
        queue = sqs.create_queue(QueueName="receipts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        gateway = SmsGateway(origination_numbers={"phone-1": "+447700900999"}).install()
        try:
            yield gateway, sqs, queue
        finally:
            gateway.uninstall()


def events_in(sqs: Any, queue: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def send(to: str = PHONE, *, configuration_set: str | None = "texts", body: str = "INCIDENT 1: disk full") -> str:
    request: dict[str, Any] = {"DestinationPhoneNumber": to, "MessageBody": body, "OriginationIdentity": "phone-1",
                               "Context": {"incident_id": "1"}}  # fmt: skip
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    message_id: str = boto3.client("pinpoint-sms-voice-v2", region_name=REGION).send_text_message(**request)["MessageId"]
    return message_id


def test_a_text_naming_the_configuration_set_is_delivered_with_a_price_0_2_s_later(gateway: tuple[SmsGateway, Any, str]) -> None:
    sms, sqs, queue = gateway
    topic = boto3.client("sns", region_name=REGION).list_topics()["Topics"][0]["TopicArn"]
    sms.add_event_destination("arn:aws:sms-voice:eu-west-2:123456789012:configuration-set/texts", topic)
    message_id = send()
    send(configuration_set=None)  # no configuration set: no events
    send(configuration_set="other")  # a set with no destination: none either
    assert sms.pending_replies() == 1
    sms.wait_replies(5)
    (event,) = events_in(sqs, queue)
    assert {key: event[key] for key in ("eventType", "isFinal", "messageId", "destinationPhoneNumber",
                                         "originationPhoneNumber", "messageStatus", "totalMessageParts",
                                         "totalMessagePrice", "totalCarrierFee", "context")} == {
        "eventType": "TEXT_DELIVERED", "isFinal": True, "messageId": message_id, "destinationPhoneNumber": PHONE,
        "originationPhoneNumber": "+447700900999", "messageStatus": "DELIVERED", "totalMessageParts": 1,
        "totalMessagePrice": 0.00581, "totalCarrierFee": 0.0, "context": {"incident_id": "1"},
    }  # fmt: skip
    assert 0.2 <= (event["eventTimestamp"] - event["messageRequestTimestamp"]) / 1000 < 1.0
    (receipt,) = sms.receipts
    assert (receipt.event_type, receipt.price) == ("TEXT_DELIVERED", Decimal("0.00581"))


def test_each_phones_texts_follow_its_script_in_order(gateway: tuple[SmsGateway, Any, str]) -> None:
    sms, sqs, queue = gateway
    topic = boto3.client("sns", region_name=REGION).list_topics()["Topics"][0]["TopicArn"]
    sms.add_event_destination("texts", topic)
    sms.script_delivery(PHONE, parse_delivery({PHONE: [{"sms": "pending", "after_seconds": 0}, {"sms": "blocked"}]})[PHONE])
    long_body = "x" * 200  # two parts
    for body in ("first", long_body, "third"):
        send(body=body)
        time.sleep(0.05)
    sms.wait_replies(5)
    events = sorted(events_in(sqs, queue), key=lambda event: event["eventTimestamp"])
    assert [(event["eventType"], event["isFinal"], event.get("totalMessagePrice")) for event in events] == [
        ("TEXT_PENDING", False, None),
        ("TEXT_BLOCKED", True, 0.01162),  # priced per part
        ("TEXT_BLOCKED", True, 0.00581),
    ]


def test_a_destination_made_by_create_event_destination_gets_the_events(gateway: tuple[SmsGateway, Any, str]) -> None:
    sms, sqs, queue = gateway
    topic = boto3.client("sns", region_name=REGION).list_topics()["Topics"][0]["TopicArn"]
    client = boto3.client("pinpoint-sms-voice-v2", region_name=REGION)
    client.create_event_destination(
        ConfigurationSetName="shared", EventDestinationName="receipts", MatchingEventTypes=["TEXT_ALL"],
        SnsDestination={"TopicArn": topic},
    )  # fmt: skip
    send(configuration_set="shared")
    sms.wait_replies(5)
    assert [event["eventType"] for event in events_in(sqs, queue)] == ["TEXT_DELIVERED"]
