"""Deployment settings from cdk.json context (`-c key=value`), validated at synth."""

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

import phonenumbers

from .config_checks import check_self_test, check_voice, check_working_hours
from .config_errors import ConfigError
from .countries import ISO_COUNTRY_CODES

SMS_APIS = ("v2", "pinpoint")
_ARN_PREFIX = r"arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:\d{12}:"
_PHONE_NUMBER_ID = re.compile(rf"^(phone-[0-9a-zA-Z]+|{_ARN_PREFIX}phone-number/phone-[0-9a-zA-Z]+)$")
# What SendTextMessage accepts as OriginationIdentity: a phone number (E.164, id or ARN), a pool (id or ARN),
# a sender ID (the name or its ARN).
_ORIGINATION_IDENTITY = re.compile(
    rf"^(phone-[0-9a-zA-Z]+|pool-[0-9a-zA-Z]+|\+[1-9]\d{{6,14}}|[A-Za-z0-9_-]{{1,11}}"
    rf"|{_ARN_PREFIX}(phone-number/phone-[0-9a-zA-Z]+|pool/pool-[0-9a-zA-Z]+|sender-id/[A-Za-z0-9_-]{{1,11}}/[A-Z]{{2}}))$"
)
_CONFIGURATION_SET = re.compile(rf"^([A-Za-z0-9_-]{{1,64}}|{_ARN_PREFIX}configuration-set/[A-Za-z0-9_-]{{1,64}})$")
_INTEGRATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # lambdas/escalation/alerts/integration_checks.py NAME
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


AUTOMATIC_ANSWERS_MARGIN = 40  # help, already escalated / acknowledged, nothing open: once per number and incident
MAX_CHAIN = 10  # contacts in one chain (lambdas/escalation/incidents/item.py MAX_CONTACTS)


def legitimate_sms_per_incident(*, reminders: int, repeat: int) -> int:
    """The most texts one incident may need: pages and reminders at every level, a notice per escalation, the closing notices."""
    levels = MAX_CHAIN * (repeat + 1)
    return levels * (reminders + 1) + levels + 2 * MAX_CHAIN + 1


HANDOFF_NOTICE_PERIOD_MINUTES = 15  # lambdas/escalation/paging/handoff.py NOTICE_PERIOD_MINUTES


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
    max_sms_segments_unicode: int = 2  # a page needing UCS-2 (Cyrillic, an emoji) may use this many segments
    configure_two_way: bool = False
    ops_email: str = ""
    powertools_layer_version: int = 36
    message_ttl_days: int = 30
    two_way_managed_elsewhere: bool = False
    allowed_countries: tuple[str, ...] = ()
    sms_parts_per_second: int = 1
    fault_retry_seconds: int = 900
    # 0 in the context: derived from reminders and repeat (load_config); this is the value for the defaults.
    max_sms_per_incident: int = legitimate_sms_per_incident(reminders=0, repeat=0) + AUTOMATIC_ANSWERS_MARGIN
    max_sms_per_hour: int = 1000
    oncall_file: str = "oncall.yaml"  # people, rotations, escalation policies (relative to the app); "" for none
    handoff_notice_minutes: int = 0  # text the incoming on-call person this long before a shift; 0: off
    storm_batch_seconds: int = 30  # pages to someone with a page unanswered wait this long to go out in one text; 0: off
    alarm_integration: str = ""  # the integration an untagged CloudWatch alarm pages; "" for none (untagged alarms ignored)
    # An alert firing again on an incident nobody is on (exhausted, failed) escalates it again at most this often; 0: never.
    repeat_after_seconds: int = 14_400
    # The pager self-test: an EventBridge Scheduler expression (cron or rate) on which everyone on call gets a test
    # page and ops a summary of who did not answer; "" is off. Its zone, and how long it waits for the replies.
    self_test_schedule: str = ""
    self_test_timezone: str = "UTC"
    self_test_reply_minutes: int = 10
    # When a low-urgency incident may page a plain number of a chain (people in oncall.yaml have their own), and where.
    working_hours: str = "Mon-Fri 09:00-18:00"
    working_hours_zone: str = "UTC"
    voice_after_seconds: int = 0  # call a contact-chain number this long after its page; 0: never (docs/voice.md)
    voice_id: str = "MATTHEW"  # the Polly voice that speaks a call (English: the call's words are)
    voice_max_price_per_minute: str = ""  # US dollars; a call to a number that costs more is not placed ("" no cap)
    spend_budget_usd: int = 0  # this stack's own monthly budget for texts and calls; alarms at 80% and 100% (0 off)

    @property
    def allowed_calling_codes(self) -> tuple[str, ...]:
        """The telephone calling codes of allowedCountries ("44" for GB), for the item check in the start handler."""
        return tuple(sorted({str(phonenumbers.country_code_for_region(code)) for code in self.allowed_countries}))

    @property
    def two_way_phone_number_id(self) -> str:
        """The phone number UpdatePhoneNumber is called on (its id or ARN)."""
        return self.origination_identity

    def deploy_blockers(self) -> list[str]:
        """Why a deployment of this configuration could not hear replies (empty when it can); each names its key.

        Synth succeeds regardless (demo, tests, CI); the stack turns these into a CloudFormation rule that
        refuses the deployment before any resource is created.
        """
        blockers = []
        if not self.origination_identity:
            blockers.append(
                "originationIdentity: no origination identity is configured, so pages would go out from whatever "
                "number the service picks and replies could not reach this stack; deploy with "
                "-c originationIdentity=phone-... (its id or ARN, or a pool)"
            )
        if not (self.configure_two_way or self.two_way_managed_elsewhere):
            blockers.append(
                "configureTwoWay: replies (YES/NO) would never reach this stack; deploy with -c configureTwoWay=true, "
                "or with -c twoWayManagedElsewhere=true once the number's two-way channel points at the "
                "InboundSmsTopicArn output"
            )
        return blockers


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


def _countries(context: dict[str, Any], key: str) -> tuple[str, ...]:
    """ISO 3166-1 alpha-2 codes from "GB,IE", '["GB", "IE"]' or a JSON list; uppercased, sorted, once each."""
    raw = context.get(key, "")
    if raw is None:
        return ()
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except ValueError:
                raise ConfigError(f"{key}: not a JSON list of country codes: {text!r}") from None
        else:
            raw = [part for part in text.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(code, str) for code in raw):
        raise ConfigError(f"{key}: must be ISO 3166-1 alpha-2 codes, comma-separated or a JSON list, got {raw!r}")
    codes = {code.strip().upper() for code in raw}
    unknown = sorted(code for code in codes if code not in ISO_COUNTRY_CODES)
    if unknown:
        hint = " (the United Kingdom is GB)" if "UK" in unknown else ""
        verb = "is not an ISO 3166-1 alpha-2 country code" if len(unknown) == 1 else "are not ISO 3166-1 alpha-2 country codes"
        raise ConfigError(f"{key}: {', '.join(map(repr, unknown))} {verb}{hint}")
    return tuple(sorted(codes))


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
        max_sms_segments_unicode=_int(context, "maxSmsSegmentsUnicode", 2, 1, 10),
        configure_two_way=_bool(context, "configureTwoWay", False),
        ops_email=_str(context, "opsEmail"),
        powertools_layer_version=_int(context, "powertoolsLayerVersion", 36, 1, 10_000),
        message_ttl_days=_int(context, "messageTtlDays", 30, 1, 365),
        two_way_managed_elsewhere=_bool(context, "twoWayManagedElsewhere", False),
        allowed_countries=_countries(context, "allowedCountries"),
        sms_parts_per_second=_int(context, "smsPartsPerSecond", 1, 1, 1000),
        fault_retry_seconds=_int(context, "faultRetrySeconds", 900, 1, 86_400),
        max_sms_per_incident=_int(context, "maxSmsPerIncident", 0, 0, 10_000),
        max_sms_per_hour=_int(context, "maxSmsPerHour", 1000, 1, 100_000),
        oncall_file=_str(context, "oncallFile") if "oncallFile" in context else "oncall.yaml",
        handoff_notice_minutes=_int(context, "handoffNoticeMinutes", 0, 0, 1440),
        alarm_integration=_str(context, "alarmIntegration"),
        storm_batch_seconds=_int(context, "stormBatchSeconds", 30, 0, 300),
        repeat_after_seconds=_int(context, "repeatAfterSeconds", 14_400, 0, 604_800),
        self_test_schedule=_str(context, "selfTestSchedule"),
        self_test_timezone=_str(context, "selfTestTimezone") or "UTC",
        self_test_reply_minutes=_int(context, "selfTestReplyMinutes", 10, 1, 14),
        working_hours=_str(context, "workingHours") or "Mon-Fri 09:00-18:00",
        working_hours_zone=_str(context, "workingHoursZone") or "UTC",
        voice_after_seconds=_int(context, "voiceAfterSeconds", 0, 0, 86_400),
        voice_id=(_str(context, "voiceId") or "MATTHEW").upper(),
        voice_max_price_per_minute=_str(context, "voiceMaxPricePerMinute"),
        spend_budget_usd=_int(context, "spendBudgetUsd", 0, 0, 1_000_000),
    )
    if config.voice_after_seconds and config.voice_after_seconds >= config.ack_timeout_seconds:
        raise ConfigError(
            f"voiceAfterSeconds: a call {config.voice_after_seconds} s after the page never rings: the level ends after "
            f"ackTimeoutSeconds ({config.ack_timeout_seconds} s); call sooner, or 0 for never"
        )
    if config.voice_after_seconds and config.sms_api != "v2":
        raise ConfigError("voiceAfterSeconds: calls need smsApi=v2 (SendVoiceMessage); the Pinpoint API is not supported")
    if 0 < config.handoff_notice_minutes < HANDOFF_NOTICE_PERIOD_MINUTES:
        raise ConfigError(
            f"handoffNoticeMinutes: must be 0 (off) or at least {HANDOFF_NOTICE_PERIOD_MINUTES} (the schedule runs every "
            f"{HANDOFF_NOTICE_PERIOD_MINUTES} minutes), got {config.handoff_notice_minutes}"
        )
    if config.alarm_integration and not _INTEGRATION_NAME.fullmatch(config.alarm_integration):
        raise ConfigError(
            "alarmIntegration: must be an integration's name (1-64 letters, digits, '.', '_' or '-'), "
            f"got {config.alarm_integration!r}"
        )
    if config.origination_identity and not _ORIGINATION_IDENTITY.fullmatch(config.origination_identity):
        raise ConfigError(
            "originationIdentity: must be a phone number (E.164, phone-... or its ARN), a pool (pool-... or its ARN) "
            f"or a sender ID (its name or ARN), got {config.origination_identity!r}"
        )
    if config.configuration_set and not _CONFIGURATION_SET.fullmatch(config.configuration_set):
        raise ConfigError(f"configurationSet: must be a configuration set name or ARN, got {config.configuration_set!r}")
    if config.sms_api == "pinpoint" and not re.fullmatch(r"[0-9a-f]{32}", config.pinpoint_application_id):
        raise ConfigError("pinpointApplicationId: smsApi=pinpoint needs the 32-character hex id of a Pinpoint application")
    if config.configure_two_way and not _PHONE_NUMBER_ID.fullmatch(config.origination_identity):
        raise ConfigError(
            "originationIdentity: configureTwoWay=true needs the phone number's id (phone-...) or ARN, "
            f"got {config.origination_identity!r}"
        )
    no_calling_code = [code for code in config.allowed_countries if phonenumbers.country_code_for_region(code) == 0]
    if no_calling_code:
        raise ConfigError(f"allowedCountries: {', '.join(no_calling_code)} has no telephone numbers to text")
    legitimate = legitimate_sms_per_incident(reminders=config.reminders, repeat=config.repeat)
    if config.max_sms_per_incident == 0:  # derived: what the configured chain may need, and a margin for replies' answers
        config = dataclasses.replace(config, max_sms_per_incident=legitimate + AUTOMATIC_ANSWERS_MARGIN)
    elif config.max_sms_per_incident < legitimate:
        raise ConfigError(
            f"maxSmsPerIncident: {config.max_sms_per_incident} is below the {legitimate} texts an incident with "
            f"{MAX_CHAIN} contacts may legitimately need with reminders={config.reminders} and repeat={config.repeat}; raise it"
        )
    if config.configure_two_way and config.two_way_managed_elsewhere:
        raise ConfigError("twoWayManagedElsewhere: contradicts configureTwoWay=true; set only one of them")
    check_self_test(config.self_test_schedule, config.self_test_timezone)
    check_working_hours(config.working_hours, config.working_hours_zone)
    check_voice(config.voice_id, config.voice_max_price_per_minute)
    if config.ops_email and not _EMAIL.fullmatch(config.ops_email):
        raise ConfigError(f"opsEmail: {config.ops_email!r} is not an email address")
    return config
