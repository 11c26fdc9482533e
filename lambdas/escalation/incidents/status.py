"""The status vocabulary of an incident and of its timeline."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Values of the item's `incident_stat` attribute."""

    NOT_ACKNOWLEDGED = "not_acknowledged"  # open, first contact paged
    ESCALATION = "escalation"  # open, a later contact paged
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"  # every contact declined or stayed silent
    INVALID = "invalid"  # cannot be paged; see the item's `error`
    FAILED = "failed"  # paging stopped by a fault on our side (quota, access, crash); see `error`; ops were told
    RESOLVED = "resolved"  # final: the problem is over (SMS RESOLVE, the events API, an alarm's OK); see `resolved_by`


OPEN_STATUSES = (Status.NOT_ACKNOWLEDGED, Status.ESCALATION)
# What can still be resolved: open, acknowledged, exhausted or stopped by a fault (not invalid, not resolved).
RESOLVABLE_STATUSES = (*OPEN_STATUSES, Status.ACKNOWLEDGED, Status.UNACKNOWLEDGED, Status.FAILED)


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
    SMS_FAULT = "sms_fault"  # our side could not send; retried, never the contact's fault
    QUEUED = "queued"  # the page waits for a slot on the number's send rate
    FAILED = "failed"  # paging stopped by a fault on our side
    ON_CALL = "on_call"  # who a policy level pages, resolved when the level is first paged
    NOBODY_ON_CALL = "nobody_on_call"  # a policy level resolved to nobody: it is skipped and ops are told
    RESOLVED = "resolved"  # the incident is over; escalation stopped, everyone paged told
    ALERT_REPEATED = "alert_repeated"  # the same alert (dedup key) fired again while the incident was open
    ESCALATED_AGAIN = "escalated_again"  # the alert fired again with nobody on it: a new pass over the chain
    DELIVERED = "delivered"  # a delivery receipt: the handset got the text (or its carrier took it: see confirmed_by)
    UNDELIVERED = "undelivered"  # a delivery receipt: the text will not arrive (status, description, cause)
    MAINTENANCE = "maintenance"  # held by a maintenance window: nobody is paged until it ends (escalation.incidents.maintenance)
    HELD = "held"  # a low-urgency level waits for its targets' working hours (escalation.incidents.urgency)
    URGENCY_RAISED = "urgency_raised"  # a repeat raised the severity: high urgency from now on
    MAINTENANCE_ENDED = "maintenance_ended"  # the window let go of it: its escalation starts now unless it was closed
    CALL_SCHEDULED = "call_scheduled"  # the person's rules ask for a call after the page (due)
    CALLED = "called"  # a voice call was placed (message_id, open_incidents)
    CALL_COVERED = "call_covered"  # no call of its own: the person was called for their open incidents at `covered_by`
    CALL_NOT_MADE = "call_not_made"  # a call that could not be placed (reason, error); ops were told; the level goes on
    CALL_ANSWERED = "call_answered"  # a voice receipt: the call was answered
    CALL_UNANSWERED = "call_unanswered"  # a voice receipt: no answer, busy, failed or expired (status)


class WorkflowError(StrEnum):
    """Error names the state machine catches or retries (ASL `Error` values)."""

    DECLINED = "Declined"
    SMS_FAILED = "SmsFailed"
    SMS_THROTTLED = "SmsThrottled"
    SMS_ACCOUNT_FAULT = "SmsAccountFault"
    TIMEOUT = "States.Timeout"
    NOBODY_ON_CALL = "NobodyOnCall"  # a policy level with nobody on call: the chain moves on


def is_open(item: Mapping[str, Any]) -> bool:
    """True while the incident is still being escalated."""
    return item.get("incident_stat") in OPEN_STATUSES
