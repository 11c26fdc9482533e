"""CloudWatch alarm state-change events (EventBridge): parsing and the trigger they stand for, no AWS calls.

The event is EventBridge's `CloudWatch Alarm State Change` from `aws.cloudwatch`: `resources[0]` is the
alarm's ARN (the dedup key), `detail.alarmName`, `detail.state.value` (ALARM, OK or INSUFFICIENT_DATA),
`detail.state.reason` and `detail.state.timestamp` (when the state changed, e.g. `2019-10-02T17:04:40.989+0000`).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from escalation.alerts.events import MAX_SUMMARY, AlertEvent

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
INTEGRATION_TAG = "incident-escalation:integration"  # an alarm's tag naming the integration it pages
URGENCY_TAG = "incident-escalation:urgency"  # `low`: the alarm waits for working hours (alarms are high otherwise)
MAX_REASON = 300  # characters of the state reason kept in the summary (a page shows far less)


class InvalidAlarmEvent(ValueError):
    """The event is not a CloudWatch alarm state change this app can act on; the message names the field."""


@dataclass(frozen=True)
class AlarmChange:
    """One alarm state change."""

    alarm_arn: str
    alarm_name: str
    state: str
    reason: str
    changed_at: str  # the state's timestamp, UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`: ordered as strings
    region: str
    account: str
    event_id: str


def is_alarm_event(event: Any) -> bool:
    """True for an EventBridge event of CloudWatch (the events endpoint's requests have no `detail-type`)."""
    return isinstance(event, dict) and event.get("source") == SOURCE and "detail-type" in event


def utc_timestamp(value: str, field: str) -> str:
    """An ISO 8601 time (CloudWatch writes `+0000`) as UTC with milliseconds; raises InvalidAlarmEvent naming field."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidAlarmEvent(f"{field}: {value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise InvalidAlarmEvent(f"{field}: {value!r} has no time zone")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _text(container: Any, name: str, where: str) -> str:
    if not isinstance(container, dict):
        raise InvalidAlarmEvent(f"{where.rstrip('.')}: must be an object")
    value = container.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidAlarmEvent(f"{where}{name}: is required (a non-empty string)")
    return value


def parse_alarm_event(event: Any) -> AlarmChange:
    """Check one EventBridge event; raises InvalidAlarmEvent naming the first bad field."""
    if not isinstance(event, dict):
        raise InvalidAlarmEvent("event: must be a JSON object")
    if event.get("source") != SOURCE:
        raise InvalidAlarmEvent(f"source: must be {SOURCE!r}, got {event.get('source')!r}")
    if event.get("detail-type") != DETAIL_TYPE:
        raise InvalidAlarmEvent(f"detail-type: must be {DETAIL_TYPE!r}, got {event.get('detail-type')!r}")
    resources = event.get("resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], str):
        raise InvalidAlarmEvent("resources: must list the alarm's ARN")
    arn = resources[0]
    if not arn.startswith("arn:") or ":cloudwatch:" not in arn or ":alarm:" not in arn:
        raise InvalidAlarmEvent(f"resources[0]: {arn!r} is not a CloudWatch alarm ARN")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidAlarmEvent("detail: must be an object")
    name = _text(detail, "alarmName", "detail.")
    state = detail.get("state")
    if not isinstance(state, dict):
        raise InvalidAlarmEvent("detail.state: must be an object")
    value = _text(state, "value", "detail.state.")
    if value not in STATES:
        raise InvalidAlarmEvent(f"detail.state.value: must be one of {', '.join(STATES)}, got {value!r}")
    raw_time = state.get("timestamp") or event.get("time")
    if not isinstance(raw_time, str):
        raise InvalidAlarmEvent("detail.state.timestamp: is required (or the event's time)")
    field = "detail.state.timestamp" if state.get("timestamp") else "time"
    reason = state.get("reason")
    return AlarmChange(
        alarm_arn=arn,
        alarm_name=name,
        state=value,
        reason=reason.strip() if isinstance(reason, str) else "",
        changed_at=utc_timestamp(raw_time, field),
        region=str(event.get("region") or arn.split(":")[3]),
        account=str(event.get("account") or arn.split(":")[4]),
        event_id=str(event.get("id") or ""),
    )


def console_url(change: AlarmChange) -> str:
    """The alarm in the CloudWatch console."""
    region = change.region
    name = quote(change.alarm_name, safe="")
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{name}"


def summary(change: AlarmChange) -> str:
    """What the page says: the alarm's name first (it is what people recognise), then why it fired."""
    reason = change.reason if len(change.reason) <= MAX_REASON else change.reason[: MAX_REASON - 3] + "..."
    text = f"{change.alarm_name}: {reason}" if reason else change.alarm_name
    return text[:MAX_SUMMARY]


def as_trigger(change: AlarmChange) -> AlertEvent:
    """The Events API v2 trigger an ALARM stands for (dedup key: the alarm's ARN)."""
    return AlertEvent(
        routing_key="",  # routed by the alarm's tag or the default integration, not by a key
        action="trigger",
        dedup_key=change.alarm_arn,
        summary=summary(change),
        source=f"cloudwatch:{change.region}:{change.account}",
        severity="critical",
        timestamp=change.changed_at,
        links=({"href": console_url(change), "text": "CloudWatch alarm"},),
        client="Amazon CloudWatch",
    )
