"""The "Page contact" task: park the token, send the page (Stubber), log it, audit it.

Step Functions task-token calls are checked with a Stubber on the handler's stepfunctions client
(moto's Step Functions does not accept task tokens it did not issue), so the exact call is asserted.
"""

from __future__ import annotations

import time
from typing import Any

import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.sms.client import SmsThrottled
from tests.conftest import ORIGINATION_IDENTITY, Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, PAGE_TTL, SECOND, page_event, run_page, sms_request

SAMPLE_PAGE = (
    "INCIDENT 123: Error 111, unit 1 malfunctioned. Urgent assistance is required. "
    "https://example.com/incident/111/overview Reply YES to ack, NO to escalate."
)


def test_first_contact_gets_the_sample_page_in_one_segment(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sms_stub.add_response(
        "send_text_message", {"MessageId": "msg-1"}, expected_params=sms_request(FIRST, SAMPLE_PAGE, ttl=PAGE_TTL)
    )
    result = page_contact.handler(page_event(level=0, token="token-0"), lambda_context)

    assert result == {"outcome": "page", "message_ids": ["msg-1"]}
    item = aws.incident("123")
    assert item["task_token"] == "token-0"
    assert item["current_contact"] == FIRST
    assert item["escalation_level"] == 0
    assert item["incident_stat"] == "not_acknowledged"
    paged = item["timeline"][-1]
    assert paged["event"] == "paged"
    assert paged["phone"] == "+44********01"
    assert (paged["level"], paged["message_id"], paged["segments"]) == (0, "msg-1", 1)
    assert FIRST not in repr(item["timeline"])  # the audit log never carries a full number


def test_page_is_logged_for_reply_matching_with_a_ttl(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1")
    logged = aws.messages.get_item(Key={"message_id": "msg-1"})["Item"]
    assert {key: logged[key] for key in ("incident_id", "contact", "level", "kind")} == {
        "incident_id": "123",
        "contact": FIRST,
        "level": 0,
        "kind": "page",
    }
    days_left = (int(logged["expires_at"]) - time.time()) / 86400
    assert 29.9 < days_left <= 30
    by_contact = aws.messages.query(
        IndexName="by_contact", KeyConditionExpression="contact = :c", ExpressionAttributeValues={":c": FIRST}
    )["Items"]
    assert [entry["message_id"] for entry in by_contact] == ["msg-1"]


def test_second_level_pages_second_contact_as_escalated(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    body = (  # the label costs 12 characters: the description gives way, not the segment budget
        "INCIDENT 123 (escalated): Error 111, unit 1 malfunctioned. Urgent assistance is... "
        "https://example.com/incident/111/overview Reply YES to ack, NO to escalate."
    )
    assert len(body) <= 160
    notice = "Incident 123 has been escalated to the next contact."
    # Stubber answers in order: the page to the second contact must go out before the first contact is told.
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2"}, expected_params=sms_request(SECOND, body, ttl=PAGE_TTL))
    sms_stub.add_response("send_text_message", {"MessageId": "msg-n"}, expected_params=sms_request(FIRST, notice))
    page_contact.handler(page_event(level=1, token="token-1"), lambda_context)
    sms_stub.assert_no_pending_responses()
    item = aws.incident("123")
    assert (item["incident_stat"], item["escalation_level"], item["current_contact"]) == ("escalation", 1, SECOND)
    assert item["task_token"] == "token-1"
    assert aws.messages.get_item(Key={"message_id": "msg-n"})["Item"]["kind"] == "escalated_notice"


def test_failed_escalation_notice_does_not_fail_the_page(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2"})
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    assert page_contact.handler(page_event(level=1, token="token-1"), lambda_context) == {
        "outcome": "page",
        "message_ids": ["msg-2"],
    }
    assert aws.incident("123")["timeline"][-1]["event"] == "paged"


def test_unreachable_previous_contact_is_not_told_of_the_escalation(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    aws.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET unreachable = :u", ExpressionAttributeValues={":u": [FIRST]}
    )
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2"}, expected_params=sms_request(SECOND, ANY, ttl=PAGE_TTL))
    page_contact.handler(page_event(level=1, token="token-1"), lambda_context)
    sms_stub.assert_no_pending_responses()  # and no second call: the stub would fail on an unexpected one


def test_reminder_goes_to_the_same_contact_without_the_url(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    body = "REMINDER 123: Error 111, unit 1 malfunctioned. Urgent assistance is required. Reply YES to ack, NO to escalate."
    sms_stub.add_response("send_text_message", {"MessageId": "msg-r"}, expected_params=sms_request(FIRST, body, ttl=PAGE_TTL))
    result = page_contact.handler(page_event(level=0, token="token-0b", attempt=1), lambda_context)
    assert result == {"outcome": "reminder", "message_ids": ["msg-r"]}
    assert aws.incident("123")["timeline"][-1]["event"] == "reminded"
    assert aws.messages.get_item(Key={"message_id": "msg-r"})["Item"]["kind"] == "reminder"


def test_long_description_is_paged_within_the_configured_budget(
    aws: Aws,
    sms_stub: Stubber,
    started_incident: dict[str, Any],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_SMS_SEGMENTS", "2")
    aws.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET description = :d", ExpressionAttributeValues={":d": "Disk full. " * 100}
    )
    run_page(sms_stub, lambda_context, level=0, token="t", message_id="msg-1")
    assert aws.incident("123")["timeline"][-1]["segments"] == 2


def test_undeliverable_page_fails_the_task_with_sms_failed(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sms_stub.add_client_error(
        "send_text_message",
        service_error_code="ConflictException",
        service_message="opted out",
        http_status_code=400,
        modeled_fields={"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT"},
        expected_params=sms_request(FIRST, SAMPLE_PAGE, ttl=PAGE_TTL),
    )
    sfn_stub.add_response("send_task_failure", {}, expected_params={"taskToken": "token-0", "error": "SmsFailed", "cause": ANY})
    result = page_contact.handler(page_event(level=0, token="token-0"), lambda_context)

    assert result == {"outcome": "sms_failed"}
    sfn_stub.assert_no_pending_responses()
    failed = aws.incident("123")["timeline"][-1]
    assert failed["event"] == "sms_failed"
    assert failed["phone"] == "+44********01"
    assert "DESTINATION_PHONE_NUMBER_OPTED_OUT" in failed["error"]
    assert aws.incident("123")["unreachable"] == [FIRST]  # courtesy texts will skip this number
    assert aws.sent_messages() == []


def test_throttled_send_raises_for_the_workflow_to_retry(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(SmsThrottled):
        page_contact.handler(page_event(level=0, token="token-0"), lambda_context)
    item = aws.incident("123")
    assert [entry["event"] for entry in item["timeline"]] == ["created", "sms_fault"]  # shown, no page recorded
    assert item["fault"].startswith("ThrottlingException")
    assert "unreachable" not in item
    assert aws.sent_messages() == []
    assert aws.ops_messages() == []  # throttling alarms through its metric, not one ops message per page
    # sfn_stub had nothing queued: the task was neither failed nor completed


@pytest.mark.parametrize("status", ["acknowledged", "unacknowledged", "invalid"])
def test_closed_incident_is_not_paged_and_its_wait_ends_at_once(
    aws: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    started_incident: dict[str, Any],
    lambda_context: LambdaContext,
    status: str,
) -> None:
    aws.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET incident_stat = :s", ExpressionAttributeValues={":s": status}
    )
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-1", "output": f'{{"outcome": "{status}"}}'}
    )
    assert page_contact.handler(page_event(level=1, token="token-1"), lambda_context) == {"outcome": status}
    sfn_stub.assert_no_pending_responses()
    assert "task_token" not in aws.incident("123")


def test_legacy_pinpoint_api_sends_the_same_page(
    aws: Aws,
    pinpoint_stub: Stubber,
    started_incident: dict[str, Any],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_API", "pinpoint")
    monkeypatch.setenv("PINPOINT_APPLICATION_ID", "app-1")
    pinpoint_stub.add_response(
        "send_messages",
        {
            "MessageResponse": {
                "ApplicationId": "app-1",
                "Result": {FIRST: {"DeliveryStatus": "SUCCESSFUL", "StatusCode": 200, "MessageId": "pp-1"}},
            }
        },
        expected_params={
            "ApplicationId": "app-1",
            "MessageRequest": {
                "Addresses": {FIRST: {"ChannelType": "SMS"}},
                "Context": {"incident_id": "123"},
                "MessageConfiguration": {
                    "SMSMessage": {"Body": SAMPLE_PAGE, "MessageType": "TRANSACTIONAL", "OriginationNumber": ORIGINATION_IDENTITY}
                },
            },
        },
    )
    assert page_contact.handler(page_event(level=0, token="t"), lambda_context) == {"outcome": "page", "message_ids": ["pp-1"]}
    assert aws.messages.get_item(Key={"message_id": "pp-1"})["Item"]["contact"] == FIRST


# -- a new level: why the last one ended is recorded in the same write that parks the new token --

TIMEOUT = {"Error": "States.Timeout", "Cause": None}
SMS_FAILED = {"Error": "SmsFailed", "Cause": "ConflictException: DESTINATION_PHONE_NUMBER_OPTED_OUT"}


def _events_added(aws: Aws, before: list[dict[str, Any]]) -> list[tuple[str, int | None, str | None]]:
    added = aws.incident("123")["timeline"][len(before) :]
    return [(entry["event"], entry.get("level"), entry.get("phone")) for entry in added]


def test_decline_is_recorded_with_the_escalation_then_the_next_page(
    paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    before = paged.incident("123")["timeline"]
    run_page(sms_stub, lambda_context, level=1, token="token-1", message_id="msg-2", error={"Error": "Declined"})
    assert _events_added(paged, before) == [
        ("declined", 0, "+44********01"),
        ("escalated", 1, "+44********02"),
        ("paged", 1, "+44********02"),
    ]
    item = paged.incident("123")
    assert (item["incident_stat"], item["task_token"]) == ("escalation", "token-1")


def test_silence_is_recorded_as_timed_out(paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    before = paged.incident("123")["timeline"]
    run_page(sms_stub, lambda_context, level=1, token="token-1", message_id="msg-2", error=TIMEOUT)
    assert [event for event, _, _ in _events_added(paged, before)] == ["timed_out", "escalated", "paged"]


def test_undeliverable_page_is_recorded_once_and_that_number_is_not_texted_again(
    paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET unreachable = :u", ExpressionAttributeValues={":u": [FIRST]}
    )
    before = paged.incident("123")["timeline"]
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2"}, expected_params=sms_request(SECOND, ANY, ttl=PAGE_TTL))
    page_contact.handler(page_event(level=1, token="token-1", error=SMS_FAILED), lambda_context)
    sms_stub.assert_no_pending_responses()  # one text only: no notice to the unreachable number
    # page_contact recorded the failure with the provider's reason when it happened: no second sms_failed
    assert [event for event, _, _ in _events_added(paged, before)] == ["escalated", "paged"]


def test_unexpected_task_error_is_recorded_with_its_name(paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    before = paged.incident("123")["timeline"]
    error = {"Error": "Lambda.Unknown", "Cause": "x" * 1000}
    run_page(sms_stub, lambda_context, level=1, token="token-1", message_id="msg-2", error=error)
    entry = paged.incident("123")["timeline"][len(before)]
    assert entry["event"] == "sms_failed"
    assert entry["error"].startswith("Lambda.Unknown: xxx")
    assert len(entry["error"]) <= len("Lambda.Unknown: ") + 500


def test_retried_page_of_a_new_level_records_the_escalation_once(
    paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    before = paged.incident("123")["timeline"]
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(SmsThrottled):  # the state machine retries the task with a new token
        page_contact.handler(page_event(level=1, token="token-1"), lambda_context)
    run_page(sms_stub, lambda_context, level=1, token="token-1b", message_id="msg-2")
    assert [event for event, _, _ in _events_added(paged, before)] == [
        "declined",
        "escalated",
        "sms_fault",
        "paged",
    ]  # the throttled try is shown
    assert paged.incident("123")["task_token"] == "token-1b"


def test_execution_of_a_replaced_incident_stops_without_paging(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    # The item was put again under the same id: a new execution owns it; the old one must not page its chain.
    old = "arn:aws:states:eu-west-2:123456789012:execution:IncidentEscalation:incident-123-old"
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-old", "output": ANY})
    result = page_contact.handler(page_event(level=1, token="token-old", execution=old), lambda_context)
    assert result == {"outcome": "superseded"}
    sfn_stub.assert_no_pending_responses()  # and sms_stub saw no call: nobody was texted
    item = aws.incident("123")
    assert "task_token" not in item and item["escalation_level"] == 0


def test_a_page_to_someone_with_another_open_incident_asks_for_yes_with_the_id_in_one_segment(
    paged: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    paged.put_incident({**seed_item, "incident_id": {"S": "456"}, "execution_arn": {"S": EXECUTION_ARN}})
    body = (
        "INCIDENT 456: Error 111, unit 1 malfunctioned. Urgent assistance is required. "
        "https://example.com/incident/111/overview Reply YES 456 or NO 456."
    )
    sms_stub.add_response(
        "send_text_message", {"MessageId": "msg-456"}, expected_params=sms_request(FIRST, body, "456", ttl=PAGE_TTL)
    )
    result = page_contact.handler(page_event(level=0, token="token-456", incident_id="456"), lambda_context)
    assert result == {"outcome": "page", "message_ids": ["msg-456"]}
    assert paged.incident("456")["timeline"][-1]["segments"] == 1  # 144 characters: still one GSM-7 segment
