"""Test calls (`incidents test-page --voice`): the operator function rings the phone too, once, within the call limits.

SMS and voice go through a Stubber (checked against the service model); DynamoDB is moto.
"""

from __future__ import annotations

import json
import time
from typing import Any

import delivery_receipts
import operator_actions
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.platform import wiring
from escalation.voice import ssml
from escalation.voice.limits import CALLS_PER_DAY
from tests.conftest import ORIGINATION_IDENTITY, Aws
from tests.unit.conftest import FIRST
from tests.unit.events import sns_event
from tests.unit.test_test_pages import CODE, REQUEST, expect_test_text, send, stored_test
from tests.unit.test_voice_calls import seed_budget

VOICE_REQUEST = {**REQUEST, "voice": True}


@pytest.fixture
def calls_on(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment that places calls: the stack gives the operator function CALLS=1 and the voice settings."""
    monkeypatch.setenv("CALLS", "1")
    monkeypatch.setenv("VOICE_ID", "EMMA")
    wiring.reset()


def expect_test_call(sms_stub: Stubber, message_id: str = "call-test") -> None:
    sms_stub.add_response(
        "send_voice_message",
        {"MessageId": message_id},
        expected_params={
            "DestinationPhoneNumber": FIRST, "OriginationIdentity": ORIGINATION_IDENTITY,
            "MessageBody": ssml.test_call_script(CODE), "MessageBodyTextType": "SSML", "VoiceId": "EMMA",
            "Context": {"incident_id": f"test-{CODE}"}, "TimeToLive": ANY,
        },
    )  # fmt: skip


def voice_receipt(message_id: str, event_type: str, *, after: float) -> dict[str, Any]:
    sent = int(time.time() * 1000)
    return sns_event(json.dumps({
        "eventType": event_type, "eventVersion": "1.0", "eventTimestamp": sent + int(after * 1000),
        "isFinal": event_type not in ("VOICE_INITIATED", "VOICE_RINGING", "VOICE_ANSWERED"), "messageId": message_id,
        "messageRequestTimestamp": sent, "messageStatus": event_type.removeprefix("VOICE_"),
        "destinationPhoneNumber": FIRST, "context": {"incident_id": f"test-{CODE}"},
    }))  # fmt: skip


def send_with_call(aws: Aws, sms_stub: Stubber, context: LambdaContext) -> dict[str, Any]:
    expect_test_text(sms_stub)
    expect_test_call(sms_stub)
    result: dict[str, Any] = operator_actions.handler(VOICE_REQUEST, context)
    return result


def test_a_voice_test_page_texts_and_calls_once_per_request(
    calls_on: None, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    first = send_with_call(aws, sms_stub, lambda_context)
    assert first["ok"] and first["code"] == CODE and first["called_at"] >= first["sent_at"]
    again = operator_actions.handler(VOICE_REQUEST, lambda_context)  # the CLI's retry: no second text, no second call
    assert again["called_at"] == first["called_at"]
    sms_stub.assert_no_pending_responses()
    assert stored_test(aws)["call_message_id"] == "call-test"
    budget = aws.messages.get_item(Key={"message_id": f"voice-budget#{FIRST}"})["Item"]
    assert list(budget["calls"]) == [f"test#{CODE}"]  # it counts against the number's five a day


def test_the_calls_receipts_say_it_was_answered_once_in_any_order(
    calls_on: None, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    send_with_call(aws, sms_stub, lambda_context)
    timings = [("VOICE_RINGING", 2.0), ("VOICE_COMPLETED", 30.0), ("VOICE_ANSWERED", 9.0), ("VOICE_COMPLETED", 30.0)]
    for receipt in (voice_receipt("call-test", event_type, after=after) for event_type, after in timings):
        delivery_receipts.handler(receipt, lambda_context)
    status = operator_actions.handler({"action": "test_page_status", "code": CODE, "by": "cli:dana", "request_id": "r"},
                                      lambda_context)  # fmt: skip
    assert (status["call_delivery"], status["call_event"]) == ("delivered", "VOICE_COMPLETED")  # the first that came


def test_an_unanswered_test_call_says_how(calls_on: None, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    send_with_call(aws, sms_stub, lambda_context)
    delivery_receipts.handler(voice_receipt("call-test", "VOICE_NO_ANSWER", after=40.0), lambda_context)
    assert (stored_test(aws)["call_delivery"], stored_test(aws)["call_event"]) == ("failed_contact", "VOICE_NO_ANSWER")


def test_a_test_call_never_takes_the_last_call_of_the_day_and_the_text_still_goes(
    calls_on: None, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    seed_budget(aws, *[60.0] * (CALLS_PER_DAY - 1))
    result = send(aws, sms_stub, lambda_context, request=VOICE_REQUEST)  # no call stubbed: one would fail here
    assert result["ok"] and result["message_id"] == "msg-test"
    assert result["call_not_placed"].startswith("the last call of the day to this number is kept for a critical incident")
    sms_stub.assert_no_pending_responses()


def test_a_call_the_service_refuses_is_not_placed_and_gives_its_budget_back(
    calls_on: None, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    expect_test_text(sms_stub)
    sms_stub.add_client_error(
        "send_voice_message", service_error_code="ValidationException", service_message="VOICE_CAPABILITY_NOT_AVAILABLE"
    )
    result = operator_actions.handler(VOICE_REQUEST, lambda_context)
    assert result["call_not_placed"].startswith("the call could not be placed")
    assert aws.messages.get_item(Key={"message_id": f"voice-budget#{FIRST}"})["Item"]["calls"] == {}


def test_a_voice_test_page_where_nothing_calls_is_refused_before_any_text(
    aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    result = operator_actions.handler(VOICE_REQUEST, lambda_context)
    assert result["ok"] is False and result["error"] == "refused" and result["message"].startswith("voice: ")
    malformed = operator_actions.handler({**VOICE_REQUEST, "voice": "yes"}, lambda_context)
    assert malformed["error"] == "invalid_request" and malformed["message"].startswith("voice: must be true or false")
    sms_stub.assert_no_pending_responses()
