"""Handler configuration, read once from the environment the stack sets."""

import os
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

_N = TypeVar("_N", int, float)


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
    sms_parts_per_second: float = 1.0  # the origination identity's send rate, shared by every function
    ack_timeout_seconds: int = 300  # a page is moot after its acknowledgement window: its TimeToLive
    max_sms_per_incident: int = 100  # ceilings that stop a runaway loop (0: no ceiling)
    max_sms_per_hour: int = 1000
    allowed_calling_codes: tuple[str, ...] = ()  # allowedCountries as calling codes ("44", "353"); empty: no limit
    protect_configuration_id: str = ""  # the stack's protect configuration (allowedCountries), sent with every text
    history_table: str = ""  # the archive of replaced and deleted incident items (start handler only)
    oncall_table: str = ""  # deployed on-call definitions and overrides (escalation.oncall_store)
    handoff_notice_minutes: int = 0  # text the incoming on-call person this long before a shift (0: off)
    storm_batch_seconds: int = 0  # pages to a person with another page unanswered wait this long to go out together
    max_sms_segments_unicode: int = 2  # a page whose description needs UCS-2 may use this many segments
    storm_digest_function: str = ""  # sends a storm digest when it closes (escalation.sms.digest_flush); "": the opener
    working_hours: str = (
        "Mon-Fri 09:00-18:00"  # when low-urgency incidents may page a plain number (escalation.incidents.urgency)
    )
    working_hours_zone: str = "UTC"
    # Voice calls (escalation.voice): "" for the function when this deployment places none.
    voice_after_seconds: int = 0  # a chain of plain numbers: call this long after the page (0: never)
    voice_function_arn: str = ""  # what a call's schedule invokes (lambdas/place_call.py)
    voice_schedule_group: str = ""
    voice_scheduler_role_arn: str = ""  # the role Scheduler assumes to invoke it
    voice_dead_letter_arn: str = ""  # where Scheduler keeps an invoke it could not make
    voice_id: str = "MATTHEW"  # the Polly voice of a call (SendVoiceMessage VoiceId)
    calls: bool = False  # this deployment places calls (the operator function may place a test call)
    voice_max_price_per_minute: str = ""  # SendVoiceMessage MaxPricePerMinute in US dollars; "" no cap


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _number(name: str, default: str, kind: type[_N]) -> _N:
    raw = os.environ.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def _calling_codes(raw: str) -> tuple[str, ...]:
    codes = tuple(code.strip().lstrip("+") for code in raw.split(",") if code.strip())
    bad = [code for code in codes if not code.isdigit() or len(code) > 3]
    if bad:
        raise ConfigurationError(f"ALLOWED_CALLING_CODES must list calling codes such as 44,353; got {bad[0]!r}")
    return codes


@cache
def get_settings() -> Settings:
    """The settings of this function, from its environment (cached for the container's life)."""
    sms_api = os.environ.get("SMS_API", "v2")
    if sms_api not in ("v2", "pinpoint"):
        raise ConfigurationError(f"SMS_API must be 'v2' or 'pinpoint', got {sms_api!r}")
    max_segments = _number("MAX_SMS_SEGMENTS", "1", int)
    ttl_days = _number("MESSAGE_TTL_DAYS", "30", int)
    repeat = _number("REPEAT", "0", int)
    parts_per_second = _number("SMS_PARTS_PER_SECOND", "1", float)
    ack_timeout = _number("ACK_TIMEOUT_SECONDS", "300", int)
    per_incident = _number("MAX_SMS_PER_INCIDENT", "100", int)
    per_hour = _number("MAX_SMS_PER_HOUR", "1000", int)
    if parts_per_second <= 0:
        raise ConfigurationError(f"SMS_PARTS_PER_SECOND must be positive, got {parts_per_second}")
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
        sms_parts_per_second=parts_per_second,
        ack_timeout_seconds=ack_timeout,
        max_sms_per_incident=per_incident,
        max_sms_per_hour=per_hour,
        allowed_calling_codes=_calling_codes(os.environ.get("ALLOWED_CALLING_CODES", "")),
        protect_configuration_id=os.environ.get("PROTECT_CONFIGURATION_ID", ""),
        history_table=os.environ.get("HISTORY_TABLE", ""),
        oncall_table=os.environ.get("ONCALL_TABLE", ""),
        handoff_notice_minutes=_number("HANDOFF_NOTICE_MINUTES", "0", int),
        storm_batch_seconds=_number("STORM_BATCH_SECONDS", "0", int),
        max_sms_segments_unicode=_number("MAX_SMS_SEGMENTS_UNICODE", "2", int),
        storm_digest_function=os.environ.get("STORM_DIGEST_FUNCTION", ""),
        working_hours=os.environ.get("WORKING_HOURS", "") or "Mon-Fri 09:00-18:00",
        working_hours_zone=os.environ.get("WORKING_HOURS_ZONE", "") or "UTC",
        voice_after_seconds=_number("VOICE_AFTER_SECONDS", "0", int),
        voice_function_arn=os.environ.get("VOICE_FUNCTION_ARN", ""),
        voice_schedule_group=os.environ.get("VOICE_SCHEDULE_GROUP", ""),
        voice_scheduler_role_arn=os.environ.get("VOICE_SCHEDULER_ROLE_ARN", ""),
        voice_dead_letter_arn=os.environ.get("VOICE_DEAD_LETTER_ARN", ""),
        voice_id=os.environ.get("VOICE_ID", "") or "MATTHEW",
        calls=os.environ.get("CALLS") == "1",
        voice_max_price_per_minute=os.environ.get("VOICE_MAX_PRICE_PER_MINUTE", ""),
    )
