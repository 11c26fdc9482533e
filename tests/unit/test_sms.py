"""Both SMS senders, checked with botocore Stubber against the real service models."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from escalation.platform.settings import get_settings
from escalation.sms.client import EndUserMessagingSender, PinpointSender, SmsAccountFault, SmsFailed, SmsThrottled, sender_for

REGION = "eu-west-2"
TO = "+447700900001"


@pytest.fixture
def v2_client() -> Any:
    return boto3.client("pinpoint-sms-voice-v2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def pinpoint_client() -> Any:
    return boto3.client("pinpoint", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


def test_send_text_message_request_is_transactional_with_identity_and_context(v2_client: Any) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="pool-abc", configuration_set="incident-sms")
    with Stubber(v2_client) as stub:
        stub.add_response(
            "send_text_message",
            {"MessageId": "m-1"},
            expected_params={
                "DestinationPhoneNumber": TO,
                "MessageBody": "hello",
                "MessageType": "TRANSACTIONAL",
                "OriginationIdentity": "pool-abc",
                "ConfigurationSetName": "incident-sms",
                "Context": {"incident_id": "123"},
            },
        )
        assert sender.send(TO, "hello", incident_id="123") == "m-1"
        stub.assert_no_pending_responses()


def test_send_text_message_omits_unset_identity_and_configuration_set(v2_client: Any) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="")
    with Stubber(v2_client) as stub:
        stub.add_response(
            "send_text_message",
            {"MessageId": "m-2"},
            expected_params={
                "DestinationPhoneNumber": TO,
                "MessageBody": "hello",
                "MessageType": "TRANSACTIONAL",
                "Context": {"incident_id": "i" * 256},
            },
        )
        assert sender.send(TO, "hello", incident_id="i" * 300) == "m-2"  # context values are capped at 256


@pytest.mark.parametrize(
    ("code", "status", "reason", "expected"),
    [
        # throttling and transient service errors: retried with backoff
        ("ThrottlingException", 400, None, SmsThrottled),
        ("InternalServerException", 500, None, SmsThrottled),
        # the contact's number: escalate
        ("ConflictException", 400, "DESTINATION_PHONE_NUMBER_OPTED_OUT", SmsFailed),
        ("ConflictException", 400, "DESTINATION_PHONE_NUMBER_NOT_VERIFIED", SmsFailed),
        ("ConflictException", 400, "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION", SmsFailed),
        ("ValidationException", 400, "DESTINATION_COUNTRY_BLOCKED", SmsFailed),
        # our account or setup: never the contact's fault
        ("ServiceQuotaExceededException", 402, "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT", SmsAccountFault),
        ("ServiceQuotaExceededException", 402, None, SmsAccountFault),
        ("AccessDeniedException", 403, None, SmsAccountFault),
        ("AccessDeniedException", 403, "ACCOUNT_DISABLED", SmsAccountFault),
        ("ResourceNotFoundException", 404, None, SmsAccountFault),  # a wrong origination identity
        ("ConflictException", 400, "RESOURCE_NOT_ACTIVE", SmsAccountFault),
        ("ValidationException", 400, "INVALID_PARAMETER", SmsAccountFault),
        ("ValidationException", 400, None, SmsAccountFault),
    ],
)
def test_send_text_message_errors_are_classified(
    v2_client: Any, code: str, status: int, reason: str | None, expected: type[Exception]
) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="+447700900999")
    with Stubber(v2_client) as stub:
        stub.add_client_error(
            "send_text_message",
            service_error_code=code,
            service_message="nope",
            http_status_code=status,
            modeled_fields={"Reason": reason} if reason else None,
        )
        with pytest.raises(expected, match=f"^{code}: {reason or 'nope'}"):
            sender.send(TO, "hello", incident_id="123")


def test_an_invalid_destination_number_is_the_contacts_fault(v2_client: Any) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="+447700900999")
    with Stubber(v2_client) as stub:
        stub.add_client_error(
            "send_text_message",
            service_error_code="ValidationException",
            service_message="invalid number",
            http_status_code=400,
            modeled_fields={
                "Reason": "INVALID_PARAMETER",
                "Fields": [{"Name": "DestinationPhoneNumber", "Message": "not a valid number"}],
            },
        )
        with pytest.raises(SmsFailed, match="INVALID_PARAMETER"):
            sender.send(TO, "hello", incident_id="123")


def test_every_text_carries_its_time_to_live_within_the_service_bounds(v2_client: Any) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="+447700900999")
    with Stubber(v2_client) as stub:
        for asked, sent in ((300, 300), (1, 5), (10**7, 259_200)):
            stub.add_response("send_text_message", {"MessageId": "m"}, expected_params={
                "DestinationPhoneNumber": TO, "MessageBody": "hi", "MessageType": "TRANSACTIONAL",
                "OriginationIdentity": "+447700900999", "Context": {"incident_id": "1"}, "TimeToLive": sent,
            })  # fmt: skip
            sender.send(TO, "hi", incident_id="1", ttl_seconds=asked)


def test_opted_out_destination_fails_with_the_service_reason(v2_client: Any) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="+447700900999")
    with Stubber(v2_client) as stub:
        stub.add_client_error(
            "send_text_message",
            service_error_code="ConflictException",
            service_message="The destination phone number is opted out.",
            http_status_code=400,
            modeled_fields={"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT"},
        )
        with pytest.raises(SmsFailed, match="DESTINATION_PHONE_NUMBER_OPTED_OUT"):
            sender.send(TO, "hello", incident_id="123")


def _pinpoint_response(status: str, message_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "DeliveryStatus": status,
        "StatusCode": 200 if status == "SUCCESSFUL" else 400,
        "StatusMessage": status.lower(),
    }
    if message_id:
        result["MessageId"] = message_id
    return {"MessageResponse": {"ApplicationId": "app-1", "Result": {TO: result}}}


def test_pinpoint_send_messages_request_is_exact(pinpoint_client: Any) -> None:
    sender = PinpointSender(pinpoint_client, application_id="app-1", origination_number="+447700900999")
    with Stubber(pinpoint_client) as stub:
        stub.add_response(
            "send_messages",
            _pinpoint_response("SUCCESSFUL", "pp-1"),
            expected_params={
                "ApplicationId": "app-1",
                "MessageRequest": {
                    "Addresses": {TO: {"ChannelType": "SMS"}},
                    "Context": {"incident_id": "123"},
                    "MessageConfiguration": {
                        "SMSMessage": {"Body": "hello", "MessageType": "TRANSACTIONAL", "OriginationNumber": "+447700900999"}
                    },
                },
            },
        )
        assert sender.send(TO, "hello", incident_id="123") == "pp-1"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("THROTTLED", SmsThrottled),
        ("TEMPORARY_FAILURE", SmsThrottled),
        ("PERMANENT_FAILURE", SmsFailed),
        ("OPT_OUT", SmsFailed),
        ("UNKNOWN_FAILURE", SmsAccountFault),
        ("DUPLICATE", SmsAccountFault),
    ],
)
def test_pinpoint_delivery_status_is_classified(pinpoint_client: Any, status: str, expected: type[Exception]) -> None:
    sender = PinpointSender(pinpoint_client, application_id="app-1")
    with Stubber(pinpoint_client) as stub:
        stub.add_response("send_messages", _pinpoint_response(status))
        with pytest.raises(expected, match=f"^{status}: "):
            sender.send(TO, "hello", incident_id="123")


def test_pinpoint_missing_result_for_the_address_is_a_failure(pinpoint_client: Any) -> None:
    sender = PinpointSender(pinpoint_client, application_id="app-1")
    with Stubber(pinpoint_client) as stub:
        stub.add_response("send_messages", {"MessageResponse": {"ApplicationId": "app-1", "Result": {}}})
        with pytest.raises(SmsAccountFault):  # nothing says the number is at fault
            sender.send(TO, "hello", incident_id="123")


def test_pinpoint_too_many_requests_is_throttling(pinpoint_client: Any) -> None:
    sender = PinpointSender(pinpoint_client, application_id="app-1")
    with Stubber(pinpoint_client) as stub:
        stub.add_client_error("send_messages", service_error_code="TooManyRequestsException", http_status_code=429)
        with pytest.raises(SmsThrottled):
            sender.send(TO, "hello", incident_id="123")


def test_sender_follows_the_configured_api(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(sender_for(get_settings()), EndUserMessagingSender)
    monkeypatch.setenv("SMS_API", "pinpoint")
    monkeypatch.setenv("PINPOINT_APPLICATION_ID", "app-1")
    get_settings.cache_clear()
    assert isinstance(sender_for(get_settings()), PinpointSender)


def test_every_text_names_the_stacks_protect_configuration_when_countries_are_limited(v2_client: Any) -> None:
    sender = EndUserMessagingSender(v2_client, origination_identity="pool-1", protect_configuration_id="protect-abc")
    with Stubber(v2_client) as stub:
        stub.add_response("send_text_message", {"MessageId": "m"}, expected_params={
            "DestinationPhoneNumber": TO, "MessageBody": "hi", "MessageType": "TRANSACTIONAL", "OriginationIdentity": "pool-1",
            "Context": {"incident_id": "1"}, "ProtectConfigurationId": "protect-abc", "TimeToLive": 60,
        })  # fmt: skip
        sender.send(TO, "hi", incident_id="1", ttl_seconds=60)
