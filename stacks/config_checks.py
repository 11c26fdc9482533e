"""Checks of settings that read as more than a number or a flag: schedules, zones, working hours, the voice of a call.

Each takes the values it checks and raises ConfigError naming the context key (stacks/config.py load_config calls
them once the keys are read).
"""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config_errors import ConfigError

# lambdas/escalation/incidents/urgency.py parse_hours reads the same shape (a test keeps them in step).
_WORKING_HOURS = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))? ([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d"
)
_SCHEDULE = re.compile(r"^(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
# SendVoiceMessage's MaxPricePerMinute: US dollars, up to two whole digits and five decimals ("0.10").
_PRICE = re.compile(r"[0-9]{0,2}\.[0-9]{1,5}")
# The Polly voices SendVoiceMessage takes (its VoiceId) that speak English, by accent: a call's words are English
# (escalation.voice.ssml), and a voice of another language reads them with its own sounds. A test keeps every name
# among the service model's voices.
ENGLISH_VOICES: dict[str, str] = {
    **dict.fromkeys(("IVY", "JOANNA", "JOEY", "JUSTIN", "KENDRA", "KIMBERLY", "MATTHEW", "SALLI"), "en-US"),
    **dict.fromkeys(("AMY", "BRIAN", "EMMA"), "en-GB"),
    "GERAINT": "en-GB-WLS",
    **dict.fromkeys(("NICOLE", "RUSSELL"), "en-AU"),
    "RAVEENA": "en-IN",
}


def _zone(key: str, zone: str) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: must be an IANA time zone such as Europe/London, got {zone!r}") from None


def check_self_test(schedule: str, zone: str) -> None:
    """Check that selfTestSchedule is a Scheduler cron() or rate() expression (or empty), selfTestTimezone an IANA zone."""
    if schedule and not _SCHEDULE.fullmatch(schedule):
        raise ConfigError(
            "selfTestSchedule: must be an EventBridge Scheduler cron(...) with six fields or rate(N unit) expression, "
            f'such as "cron(0 10 ? * MON *)", got {schedule!r}'
        )
    _zone("selfTestTimezone", zone)


def check_working_hours(hours: str, zone: str) -> None:
    """Check that workingHoursZone is an IANA zone, workingHours reads as days and hours."""
    _zone("workingHoursZone", zone)
    if not _WORKING_HOURS.fullmatch(hours):
        raise ConfigError(f'workingHours: must be like "Mon-Fri 09:00-18:00" (days, then from-to in 24 h), got {hours!r}')


def check_voice(voice_id: str, max_price_per_minute: str) -> None:
    """Check that voiceId is an English Polly voice; voiceMaxPricePerMinute is empty or a price SendVoiceMessage takes."""
    if voice_id not in ENGLISH_VOICES:
        raise ConfigError(
            f"voiceId: {voice_id!r} is not a voice that speaks English, and a call's words are English; "
            f"one of {', '.join(sorted(ENGLISH_VOICES))}"
        )
    if max_price_per_minute and not (_PRICE.fullmatch(max_price_per_minute) and float(max_price_per_minute) > 0):
        raise ConfigError(
            "voiceMaxPricePerMinute: must be a price in US dollars above 0 with at most two whole digits and five "
            f'decimals, such as "0.10", got {max_price_per_minute!r}'
        )
