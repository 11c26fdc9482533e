"""Deployment settings from cdk.json context (`-c key=value`), validated at synth."""

import re
from dataclasses import dataclass
from typing import Any

SMS_APIS = ("v2", "pinpoint")
_PHONE_NUMBER_ID = re.compile(
    r"^(phone-[0-9a-zA-Z]+|arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:\d{12}:phone-number/phone-[0-9a-zA-Z]+)$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A context value is missing or wrong; the message names the key."""


@dataclass(frozen=True)
class EscalationConfig:
    """Everything a deployment can tune."""

    origination_identity: str = ""
    sms_api: str = "v2"
    pinpoint_application_id: str = ""
    configuration_set: str = ""
    ack_timeout_seconds: int = 300
    reminders: int = 0
    repeat: int = 0
    max_sms_segments: int = 1
    configure_two_way: bool = False
    ops_email: str = ""
    powertools_layer_version: int = 36
    message_ttl_days: int = 30

    @property
    def two_way_phone_number_id(self) -> str:
        """The phone number UpdatePhoneNumber is called on (its id or ARN)."""
        return self.origination_identity


def _int(context: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    raw = context.get(key, default)
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{key}: must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key}: must be between {low} and {high}, got {value}")
    return value


def _bool(context: dict[str, Any], key: str, default: bool) -> bool:
    raw = context.get(key, default)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().casefold()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise ConfigError(f"{key}: must be true or false, got {raw!r}")


def _str(context: dict[str, Any], key: str) -> str:
    raw = context.get(key, "")
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ConfigError(f"{key}: must be a string, got {raw!r}")
    return raw.strip()


def load_config(context: dict[str, Any]) -> EscalationConfig:
    """Read and check the context keys; raises ConfigError naming the first bad key."""
    sms_api = _str(context, "smsApi") or "v2"
    if sms_api not in SMS_APIS:
        raise ConfigError(f"smsApi: must be one of {', '.join(SMS_APIS)}, got {sms_api!r}")
    config = EscalationConfig(
        origination_identity=_str(context, "originationIdentity"),
        sms_api=sms_api,
        pinpoint_application_id=_str(context, "pinpointApplicationId"),
        configuration_set=_str(context, "configurationSet"),
        ack_timeout_seconds=_int(context, "ackTimeoutSeconds", 300, 1, 86_400),
        reminders=_int(context, "reminders", 0, 0, 5),
        repeat=_int(context, "repeat", 0, 0, 3),
        max_sms_segments=_int(context, "maxSmsSegments", 1, 1, 10),
        configure_two_way=_bool(context, "configureTwoWay", False),
        ops_email=_str(context, "opsEmail"),
        powertools_layer_version=_int(context, "powertoolsLayerVersion", 36, 1, 10_000),
        message_ttl_days=_int(context, "messageTtlDays", 30, 1, 365),
    )
    if config.sms_api == "pinpoint" and not re.fullmatch(r"[0-9a-f]{32}", config.pinpoint_application_id):
        raise ConfigError("pinpointApplicationId: smsApi=pinpoint needs the 32-character hex id of a Pinpoint application")
    if config.configure_two_way and not _PHONE_NUMBER_ID.fullmatch(config.origination_identity):
        raise ConfigError(
            "originationIdentity: configureTwoWay=true needs the phone number's id (phone-...) or ARN, "
            f"got {config.origination_identity!r}"
        )
    if config.ops_email and not _EMAIL.fullmatch(config.ops_email):
        raise ConfigError(f"opsEmail: {config.ops_email!r} is not an email address")
    return config
