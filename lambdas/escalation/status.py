"""The status vocabulary of an incident and of its timeline."""

from enum import StrEnum


class Status(StrEnum):
    """Values of the item's `incident_stat` attribute."""

    NOT_ACKNOWLEDGED = "not_acknowledged"  # open, first contact paged
    ESCALATION = "escalation"  # open, a later contact paged
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"  # every contact declined or stayed silent
    INVALID = "invalid"  # cannot be paged; see the item's `error`


OPEN_STATUSES = (Status.NOT_ACKNOWLEDGED, Status.ESCALATION)


class Event(StrEnum):
    """Kinds of entries in the item's `timeline`."""

    CREATED = "created"
    PAGED = "paged"
    REMINDED = "reminded"
    REPLY = "reply"
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    ESCALATED = "escalated"
    EXHAUSTED = "exhausted"
    SMS_FAILED = "sms_failed"
    INVALID = "invalid"


class WorkflowError(StrEnum):
    """Error names the state machine catches or retries (ASL `Error` values)."""

    DECLINED = "Declined"
    SMS_FAILED = "SmsFailed"
    SMS_THROTTLED = "SmsThrottled"
    TIMEOUT = "States.Timeout"
