"""Test pages: the operator function sends one, its receipt and the reply `TEST <code>` are recorded on its item.

SMS goes through a Stubber (checked against the service model); DynamoDB is moto.
"""

from __future__ import annotations

from typing import Any

import delivery_receipts
import handle_reply
import operator_actions
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.sms import messages
from escalation.sms.test_pages import TTL_SECONDS, code_for
from tests.conftest import Aws
from tests.unit.conftest import FIRST, SECOND, sms_request
from tests.unit.events import sns_event
from tests.unit.test_handle_reply import _inbound
from tests.unit.test_receipts import event

REQUEST = {"action": "test_page", "number": FIRST, "by": "cli:dana", "request_id": "req-1"}
CODE = code_for("req-1")


def stored_test(aws: Aws) -> dict[str, Any]:
    item: dict[str, Any] = aws.messages.get_item(Key={"message_id": f"test#{CODE}"})["Item"]
    return item


def expect_test_text(sms_stub: Stubber) -> None:
    body = messages.test_page(CODE).body
    sms_stub.add_response(
        "send_text_message", {"MessageId": "msg-test"}, expected_params=sms_request(FIRST, body, f"test-{CODE}", ttl=TTL_SECONDS)
    )


def send(aws: Aws, sms_stub: Stubber, context: LambdaContext, *, request: dict[str, Any] = REQUEST) -> dict[str, Any]:
    """The operator function sends a test page; the text's response is stubbed before anything the caller stubs next."""
    expect_test_text(sms_stub)
    result: dict[str, Any] = operator_actions.handler(request, context)
    return result


def test_the_operator_function_sends_one_test_page_per_request(
    aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    first = send(aws, sms_stub, lambda_context)
    assert first == {"ok": True, "outcome": "sent", "code": CODE, "message_id": "msg-test", "sent_at": first["sent_at"],
                     "to": "+44********01"}  # fmt: skip
    assert messages.test_page(CODE).segments == 1
    again = operator_actions.handler(REQUEST, lambda_context)  # the CLI's retry: nothing more is sent
    assert again == first
    sms_stub.assert_no_pending_responses()
    item = stored_test(aws)
    assert (item["number"], item["by"], item["message_id_sent"]) == (FIRST, "cli:dana", "msg-test")


def test_a_test_page_to_a_malformed_number_is_refused_naming_the_field(aws: Aws, lambda_context: LambdaContext) -> None:
    result = operator_actions.handler({**REQUEST, "number": "07700900001"}, lambda_context)
    assert result["ok"] is False and result["error"] == "refused" and result["message"].startswith("number: ")


def test_the_reply_test_code_records_the_round_trip_once_and_is_confirmed(
    aws: Aws, sms_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    send(aws, sms_stub, lambda_context)
    confirmation = messages.test_answered(CODE, answered=True).body
    sms_stub.add_response(
        "send_text_message", {"MessageId": "out-1"}, expected_params=sms_request(FIRST, confirmation, f"test-{CODE}")
    )
    reply = _inbound(inbound_payload, body=f"test {CODE}", message_id="in-1")
    assert handle_reply.handler(sns_event(reply), lambda_context)["outcomes"] == ["test_answered"]
    replied = stored_test(aws)
    assert replied["reply_id"] == "in-1" and replied["replied_at"] >= replied["sent_at"]
    again = _inbound(inbound_payload, body=f"TEST {CODE}", message_id="in-2")  # a second answer: recorded once, told once
    assert handle_reply.handler(sns_event(again), lambda_context)["outcomes"] == ["test_answered"]
    assert stored_test(aws)["reply_id"] == "in-1"
    sms_stub.assert_no_pending_responses()


def test_a_test_code_not_sent_to_the_sender_changes_nothing(
    aws: Aws, sms_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    send(aws, sms_stub, lambda_context)
    answer = messages.test_answered(CODE, answered=False).body
    assert answer == f"No test page {CODE} was sent to you. Nothing done."
    sms_stub.add_response(
        "send_text_message", {"MessageId": "out-1"}, expected_params=sms_request(SECOND, answer, f"test-{CODE}")
    )
    reply = _inbound(inbound_payload, sender=SECOND, body=f"TEST {CODE}", message_id="in-9")
    assert handle_reply.handler(sns_event(reply), lambda_context)["outcomes"] == ["test_unknown"]
    assert "replied_at" not in stored_test(aws)


def test_the_test_pages_final_receipt_is_recorded_once(aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    send(aws, sms_stub, lambda_context)
    delivery_receipts.handler(sns_event(event("msg-test", "TEXT_PENDING", after=1.0, price=None)), lambda_context)
    assert "delivery" not in stored_test(aws)  # on its way: nothing to say yet
    delivery_receipts.handler(sns_event(event("msg-test", "TEXT_DELIVERED", after=3.2)), lambda_context)
    delivery_receipts.handler(sns_event(event("msg-test", "TEXT_UNKNOWN", after=9.0)), lambda_context)  # a later final one
    item = stored_test(aws)
    assert (item["delivery"], item["delivery_event"]) == ("delivered", "TEXT_DELIVERED")
