"""One logger and one metrics sink for every handler (Powertools), and the metric names."""

from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "incident-escalation"
NAMESPACE = "IncidentEscalation"  # stacks/monitoring.py alarms on SMS_FAILED in this namespace

INCIDENTS_STARTED = "IncidentsStarted"
INCIDENTS_INVALID = "IncidentsInvalid"
INCIDENTS_ACKNOWLEDGED = "IncidentsAcknowledged"
INCIDENTS_UNACKNOWLEDGED = "IncidentsUnacknowledged"
SMS_SENT = "SmsSent"
SMS_SEGMENTS = "SmsSegments"
SMS_FAILED = "SmsFailed"  # a contact could not be reached
SMS_ACCOUNT_FAULT = "SmsAccountFault"  # our side could not send (quota, spend limit, access, identity)
SMS_CEILING_REACHED = "SmsCeilingReached"
SMS_THROTTLED = "SmsThrottled"  # a page throttled despite the send-rate pacing
INCIDENTS_FAILED = "IncidentsFailed"  # paging stopped by a fault of ours
REPLIES_RECEIVED = "RepliesReceived"
PAGES_BATCHED = "PagesBatched"  # pages sent together in one text to a person with another page unanswered
NOBODY_ON_CALL = "NobodyOnCall"  # a policy level resolved to nobody (a gap in a rotation): alarms
ESCALATION_PAGES = "EscalationPages"  # a page sent at a level after the first: the escalation reached the next contact
# Seconds from the incident's `created` timeline entry to its acknowledgement, by service and by service and Level
# (LEVEL_DIMENSION: 1 is the first contact's page, 2 the first escalation; repeat passes keep counting up).
TIME_TO_ACKNOWLEDGE = "TimeToAcknowledge"
LEVEL_DIMENSION = "Level"
INCIDENTS_RESOLVED = "IncidentsResolved"
# Delivery receipts (escalation.receipts) and what texts cost (lambdas/spend_check.py compares it with the spend limit).
SMS_DELIVERED = "SmsDelivered"  # a receipt said the handset got a text, or its carrier accepted it
SMS_UNDELIVERED = "SmsUndelivered"  # a receipt said a text will not arrive (the contact's side, ours, or unknown)
SMS_COST = "SmsCost"  # US dollars: totalMessagePrice + totalCarrierFee of a text's final receipt, once per text
RECEIPTS_UNMATCHED = "ReceiptsUnmatched"  # a receipt for a message id the message log does not know: dropped
EVENTS_BUSY = "EventsBusy"  # an events API or heartbeat request answered 503: busy now, the sender retries
SMS_SPEND_PERCENT = "SmsSpendPercent"  # month-to-date SmsCost as a percentage of the account's monthly text spend limit
VOICE_COST = "VoiceCost"  # US dollars: the price of a call's final receipt, once per call
VOICE_SPEND_PERCENT = "VoiceSpendPercent"  # month-to-date VoiceCost, of the account's monthly voice spend limit
BUDGET_SPEND_PERCENT = "BudgetSpendPercent"  # month-to-date SmsCost + VoiceCost, of this stack's spendBudgetUsd

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1) -> None:
    """Add to a count metric, published when the handler returns."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def publish_time_to_acknowledge(created_at: str, acknowledged_at: str, level: int) -> float:
    """Print one TimeToAcknowledge record now (not at the handler's return); returns the seconds published.

    created_at, acknowledged_at: ISO-8601 times as the timeline writes them; level: the item's 0-based
    escalation_level, published 1-based. One record carries two dimension sets, [service] for the whole
    distribution and [service, Level] per level, so one acknowledgement is one data point in each.
    """
    seconds = max(0.0, (datetime.fromisoformat(acknowledged_at) - datetime.fromisoformat(created_at)).total_seconds())
    record = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    record.add_metric(name=TIME_TO_ACKNOWLEDGE, unit=MetricUnit.Seconds, value=seconds)
    record.add_dimensions(**{"service": SERVICE, LEVEL_DIMENSION: str(level + 1)})
    record.flush_metrics()
    return seconds
