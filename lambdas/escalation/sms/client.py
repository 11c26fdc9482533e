"""Sending SMS through AWS End User Messaging SMS, or the legacy Amazon Pinpoint API."""

from typing import Any, Protocol

from botocore.exceptions import ClientError

from escalation.platform import aws_clients
from escalation.platform.settings import Settings

MIN_TTL_SECONDS, MAX_TTL_SECONDS = 5, 259_200  # SendTextMessage TimeToLive bounds

# The one place SMS API errors are classified. Only a fault of the contact's number walks the chain;
# throttling and faults of our account or setup are retried and alarmed, and never blame a contact.
_TRANSIENT_CODES = frozenset({"ThrottlingException", "InternalServerException", "TooManyRequestsException"})
# Contact-specific and permanent: this number cannot get our texts (ConflictException / ValidationException reasons).
_CONTACT_REASONS = frozenset(
    {
        "DESTINATION_PHONE_NUMBER_OPTED_OUT",
        "DESTINATION_PHONE_NUMBER_NOT_VERIFIED",  # an account in the SMS sandbox can text verified numbers only
        "DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE",
        "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION",
        "DESTINATION_COUNTRY_BLOCKED",
        "COUNTRY_CODE_MISMATCH",
        "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY",
    }
)
_PINPOINT_TRANSIENT_STATUSES = frozenset({"THROTTLED", "TEMPORARY_FAILURE"})
_PINPOINT_CONTACT_STATUSES = frozenset({"OPT_OUT", "PERMANENT_FAILURE"})


class SmsThrottled(Exception):
    """The SMS API asked us to slow down or failed transiently; the workflow retries with backoff."""


class SmsFailed(Exception):
    """The contact's number cannot get the message (opted out, invalid or blocked destination): escalate."""


class SmsAccountFault(Exception):
    """Our side cannot send (quota, spend limit, access denied, bad identity or request): retry, alarm, never escalate."""


class SmsSender(Protocol):
    """Something that sends one SMS and returns the provider's MessageId."""

    def send(self, destination: str, body: str, *, incident_id: str, ttl_seconds: int | None = None) -> str:
        """Send body to destination and return its MessageId."""
        ...


def classify(code: str, reason: str, fields: list[str] | tuple[str, ...] = ()) -> type[Exception]:
    """The class of an SMS API error: SmsThrottled, SmsFailed (the contact's) or SmsAccountFault (ours)."""
    if code in _TRANSIENT_CODES:
        return SmsThrottled
    if code in ("ConflictException", "ValidationException") and reason in _CONTACT_REASONS:
        return SmsFailed
    if code == "ValidationException" and list(fields) == ["DestinationPhoneNumber"]:
        return SmsFailed  # the number itself is not valid
    return SmsAccountFault


def _classified(error: ClientError) -> Exception:
    """The API error as one of ours; the message keeps code and reason."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    reason = str(error.response.get("Reason") or details.get("Reason") or "")
    raw_fields: Any = error.response.get("Fields") or []
    fields = [str(field.get("Name", "")) for field in raw_fields if isinstance(field, dict)]
    message = str(details.get("Message") or "")
    text = f"{code}: {reason or message or code}" + (f" ({message})" if reason and message else "")
    return classify(code, reason, fields)(text)


def classified(error: ClientError) -> Exception:
    """An SMS or voice API error as SmsThrottled, SmsFailed or SmsAccountFault (for the voice sender too)."""
    return _classified(error)


class EndUserMessagingSender:
    """SendTextMessage (pinpoint-sms-voice-v2): the API for new deployments."""

    def __init__(
        self, client: Any, *, origination_identity: str, configuration_set: str = "", protect_configuration_id: str = ""
    ) -> None:
        self._client = client
        self._origination_identity = origination_identity
        self._configuration_set = configuration_set
        self._protect_configuration_id = protect_configuration_id

    def send(self, destination: str, body: str, *, incident_id: str, ttl_seconds: int | None = None) -> str:
        """Send one transactional SMS; a carrier drops it after ttl_seconds instead of delivering it late."""
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
        if self._protect_configuration_id:  # the countries this deployment may text (allowedCountries)
            request["ProtectConfigurationId"] = self._protect_configuration_id
        if ttl_seconds is not None:
            request["TimeToLive"] = max(MIN_TTL_SECONDS, min(MAX_TTL_SECONDS, ttl_seconds))
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

    def send(self, destination: str, body: str, *, incident_id: str, ttl_seconds: int | None = None) -> str:
        """Send one transactional SMS and check the per-address delivery status (SendMessages has no TimeToLive)."""
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
        if status in _PINPOINT_TRANSIENT_STATUSES:
            raise SmsThrottled(reason)
        if status in _PINPOINT_CONTACT_STATUSES:
            raise SmsFailed(reason)
        raise SmsAccountFault(reason)


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
        protect_configuration_id=settings.protect_configuration_id,
    )
