"""SendVoiceMessage (pinpoint-sms-voice-v2): one call that speaks SSML, from the deployment's origination identity."""

from typing import Any

from botocore.exceptions import ClientError

from escalation.platform import aws_clients
from escalation.platform.settings import Settings
from escalation.sms.client import MAX_TTL_SECONDS, MIN_TTL_SECONDS, classified

DEFAULT_VOICE_ID = "MATTHEW"  # the service's default voice, named so every call sounds the same


class VoiceSender:
    """Places calls; errors come out as escalation.sms.client's classes (throttled, the contact's, ours)."""

    def __init__(
        self,
        client: Any,
        *,
        origination_identity: str,
        configuration_set: str = "",
        protect_configuration_id: str = "",
        voice_id: str = DEFAULT_VOICE_ID,
        max_price_per_minute: str = "",
    ) -> None:
        self._client = client
        self._voice_id = voice_id
        self._max_price_per_minute = max_price_per_minute
        self._origination_identity = origination_identity
        self._configuration_set = configuration_set
        self._protect_configuration_id = protect_configuration_id

    def call(self, destination: str, ssml: str, *, incident_id: str, ttl_seconds: int) -> str:
        """Place one call; a call not placed within ttl_seconds is dropped (VOICE_TTL_EXPIRED). Its MessageId."""
        request: dict[str, Any] = {
            "DestinationPhoneNumber": destination,
            "OriginationIdentity": self._origination_identity,
            "MessageBody": ssml,
            "MessageBodyTextType": "SSML",
            "VoiceId": self._voice_id,
            "Context": {"incident_id": incident_id[:256]},
            "TimeToLive": max(MIN_TTL_SECONDS, min(MAX_TTL_SECONDS, ttl_seconds)),
        }
        if self._configuration_set:  # its event destination brings the voice receipts (escalation.sms.receipts)
            request["ConfigurationSetName"] = self._configuration_set
        if self._max_price_per_minute:  # a number that costs more per minute is not called (VOICE_FAILED)
            request["MaxPricePerMinute"] = self._max_price_per_minute
        if self._protect_configuration_id:
            request["ProtectConfigurationId"] = self._protect_configuration_id
        try:
            response = self._client.send_voice_message(**request)
        except ClientError as error:
            raise classified(error) from error
        message_id: str = response["MessageId"]
        return message_id


def deployment_sender(settings: Settings) -> VoiceSender:
    """The voice sender of this deployment: its origination identity, configuration set, voice, price ceiling.

    Cheap to make: the client under it is made once per container (aws_clients).
    """
    return VoiceSender(
        aws_clients.sms_v2(),
        origination_identity=settings.origination_identity,
        configuration_set=settings.configuration_set,
        protect_configuration_id=settings.protect_configuration_id,
        voice_id=settings.voice_id,
        max_price_per_minute=settings.voice_max_price_per_minute,
    )
