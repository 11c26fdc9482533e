"""Handler configuration, read once from the environment the stack sets."""

import os
from dataclasses import dataclass
from functools import cache


class ConfigurationError(RuntimeError):
    """An environment variable the stack should have set is missing or wrong."""


@dataclass(frozen=True)
class Settings:
    """What every handler needs to know about its deployment."""

    incidents_table: str
    messages_table: str
    state_machine_arn: str
    sms_api: str  # "v2" (End User Messaging SMS) or "pinpoint" (legacy SendMessages)
    origination_identity: str
    configuration_set: str
    pinpoint_application_id: str
    max_sms_segments: int
    ops_topic_arn: str
    message_ttl_days: int
    repeat: int  # extra passes over the chain after the last contact
    history_table: str = ""  # the archive of replaced and deleted incident items (start handler only)


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


@cache
def get_settings() -> Settings:
    """The settings of this function, from its environment (cached for the container's life)."""
    sms_api = os.environ.get("SMS_API", "v2")
    if sms_api not in ("v2", "pinpoint"):
        raise ConfigurationError(f"SMS_API must be 'v2' or 'pinpoint', got {sms_api!r}")
    try:
        max_segments = int(os.environ.get("MAX_SMS_SEGMENTS", "1"))
        ttl_days = int(os.environ.get("MESSAGE_TTL_DAYS", "30"))
        repeat = int(os.environ.get("REPEAT", "0"))
    except ValueError as error:
        raise ConfigurationError(f"MAX_SMS_SEGMENTS, MESSAGE_TTL_DAYS and REPEAT must be integers: {error}") from error
    return Settings(
        incidents_table=_required("INCIDENTS_TABLE"),
        messages_table=_required("MESSAGES_TABLE"),
        state_machine_arn=os.environ.get("STATE_MACHINE_ARN", ""),
        sms_api=sms_api,
        origination_identity=os.environ.get("ORIGINATION_IDENTITY", ""),
        configuration_set=os.environ.get("CONFIGURATION_SET", ""),
        pinpoint_application_id=os.environ.get("PINPOINT_APPLICATION_ID", ""),
        max_sms_segments=max_segments,
        ops_topic_arn=os.environ.get("OPS_TOPIC_ARN", ""),
        message_ttl_days=ttl_days,
        repeat=repeat,
        history_table=os.environ.get("HISTORY_TABLE", ""),
    )
