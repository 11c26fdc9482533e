"""One logger and one metrics sink for every handler (Powertools), and the metric names."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

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
INCIDENTS_RESOLVED = "IncidentsResolved"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1) -> None:
    """Add to a count metric, published when the handler returns."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
