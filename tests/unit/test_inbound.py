"""Parsing the inbound two-way SMS payload End User Messaging publishes to SNS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from escalation.replies.inbound import InboundSms, InvalidInbound, parse_inbound


def test_aws_documented_payload_is_parsed(inbound_payload: dict[str, Any]) -> None:
    assert parse_inbound(json.dumps(inbound_payload)) == InboundSms(
        origination_number="+14255550182",
        destination_number="+12125550101",
        message_body="EXAMPLE",
        inbound_message_id="cae173d2-66b9-564c-8309-21f858e9fb84",
        previous_published_message_id="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )


@pytest.mark.parametrize("previous", [None, ""])
def test_payload_without_previous_message_id_falls_back_to_none(inbound_payload: dict[str, Any], previous: str | None) -> None:
    inbound_payload["previousPublishedMessageId"] = previous
    assert parse_inbound(json.dumps(inbound_payload)).previous_published_message_id is None
    del inbound_payload["previousPublishedMessageId"]
    assert parse_inbound(json.dumps(inbound_payload)).previous_published_message_id is None


def test_empty_message_body_is_a_message_not_an_error(inbound_payload: dict[str, Any]) -> None:
    inbound_payload["messageBody"] = ""
    assert parse_inbound(json.dumps(inbound_payload)).message_body == ""


@pytest.mark.parametrize(
    ("message", "starts_with"),
    [
        (None, "Message: not JSON"),
        ("", "Message: not JSON"),
        ("{not json", "Message: not JSON"),
        ("[1, 2]", "Message: must be a JSON object"),
        ('"YES"', "Message: must be a JSON object"),
    ],
)
def test_message_that_is_not_a_json_object_is_rejected(message: Any, starts_with: str) -> None:
    with pytest.raises(InvalidInbound, match=f"^{starts_with}"):
        parse_inbound(message)


@pytest.mark.parametrize(
    ("change", "starts_with"),
    [
        ({"originationNumber": None}, "originationNumber: is required"),
        ({"originationNumber": "4255550182"}, "originationNumber: '4255550182' is not an E.164"),
        ({"originationNumber": 14255550182}, "originationNumber: must be a string"),
        ({"messageBody": None}, "messageBody: must be a string"),
        ({"messageBody": 42}, "messageBody: must be a string"),
        ({"inboundMessageId": ""}, "inboundMessageId: is required"),
        ({"previousPublishedMessageId": ["x"]}, "previousPublishedMessageId: must be a string, got list"),
    ],
)
def test_malformed_payload_is_rejected_naming_the_field(
    inbound_payload: dict[str, Any], change: dict[str, Any], starts_with: str
) -> None:
    inbound_payload.update(change)
    with pytest.raises(InvalidInbound) as caught:
        parse_inbound(json.dumps(inbound_payload))
    assert str(caught.value).startswith(starts_with)
