"""Sending SMS through AWS End User Messaging SMS, or the legacy Amazon Pinpoint API."""

from typing import Any, Protocol

from botocore.exceptions import ClientError

from . import aws_clients
from .settings import Settings

# Worth retrying with backoff (the state machine does it); anything else is permanent.
_RETRYABLE_CODES = frozenset({"ThrottlingException", "InternalServerException", "TooManyRequestsException"})
_PINPOINT_RETRYABLE_STATUSES = frozenset({"THROTTLED", "TEMPORARY_FAILURE"})


class SmsThrottled(Exception):
    """The SMS API asked us to slow down or failed transiently; the workflow retries with backoff."""


class SmsFailed(Exception):
    """The message can never be delivered as asked (opted out, invalid number, bad setup)."""


class SmsSender(Protocol):
    """Something that sends one SMS and returns the provider's MessageId."""

    def send(self, destination: str, body: str, *, incident_id: str) -> str:
        """Send body to destination and return its MessageId."""
        ...


def _classified(error: ClientError) -> SmsThrottled | SmsFailed:
    """The API error as one of ours: worth a retry, or permanent; the message keeps code and reason."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    reason = str(error.response.get("Reason") or details.get("Message") or code)
    kind = SmsThrottled if code in _RETRYABLE_CODES else SmsFailed
    return kind(f"{code}: {reason}")


class EndUserMessagingSender:
    """SendTextMessage (pinpoint-sms-voice-v2): the API for new deployments."""

    def __init__(self, client: Any, *, origination_identity: str, configuration_set: str = "") -> None:
        self._client = client
        self._origination_identity = origination_identity
        self._configuration_set = configuration_set

    def send(self, destination: str, body: str, *, incident_id: str) -> str:
        """Send one transactional SMS."""
        request: dict[str, Any] = {
            "DestinationPhoneNumber": destination,
            "MessageBody": body,
            "MessageType": "TRANSACTIONAL",
            "Context": {"incident_id": incident_id[:256]},
        }
        if self._origination_identity:
            request["OriginationIdentity"] = self._origination_identity
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_text_message(**request)
        except ClientError as error:
            raise _classified(error) from error
        message_id: str = response["MessageId"]
        return message_id


class PinpointSender:
    """Legacy SendMessages, for accounts that still have a Pinpoint application id."""

    def __init__(self, client: Any, *, application_id: str, origination_number: str = "") -> None:
        self._client = client
        self._application_id = application_id
        self._origination_number = origination_number

    def send(self, destination: str, body: str, *, incident_id: str) -> str:
        """Send one transactional SMS and check the per-address delivery status."""
        sms: dict[str, Any] = {"Body": body, "MessageType": "TRANSACTIONAL"}
        if self._origination_number:
            sms["OriginationNumber"] = self._origination_number
        try:
            response = self._client.send_messages(
                ApplicationId=self._application_id,
                MessageRequest={
                    "Addresses": {destination: {"ChannelType": "SMS"}},
                    "Context": {"incident_id": incident_id},
                    "MessageConfiguration": {"SMSMessage": sms},
                },
            )
        except ClientError as error:
            raise _classified(error) from error
        result = response["MessageResponse"]["Result"].get(destination, {})
        status = result.get("DeliveryStatus", "UNKNOWN_FAILURE")
        if status == "SUCCESSFUL":
            message_id: str = result["MessageId"]
            return message_id
        reason = f"{status}: {result.get('StatusMessage', 'no detail')}"
        if status in _PINPOINT_RETRYABLE_STATUSES:
            raise SmsThrottled(reason)
        raise SmsFailed(reason)


def sender_for(settings: Settings) -> SmsSender:
    """The sender the deployment is configured for."""
    if settings.sms_api == "pinpoint":
        return PinpointSender(
            aws_clients.pinpoint(),
            application_id=settings.pinpoint_application_id,
            origination_number=settings.origination_identity if settings.origination_identity.startswith("+") else "",
        )
    return EndUserMessagingSender(
        aws_clients.sms_v2(),
        origination_identity=settings.origination_identity,
        configuration_set=settings.configuration_set,
    )
