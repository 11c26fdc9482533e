"""The operations dashboard: what happened to incidents, how fast they were taken, SMS and workflow health, alarms."""

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .monitoring import NAMESPACE, SERVICE_DIMENSION

# Metric names published by the handlers (lambdas/escalation/platform/observability.py; a test checks each one exists there).
INCIDENT_OUTCOMES = (
    "IncidentsStarted",
    "IncidentsAcknowledged",
    "IncidentsUnacknowledged",
    "IncidentsFailed",
    "IncidentsInvalid",
    "IncidentsResolved",
)
TIME_TO_ACKNOWLEDGE = "TimeToAcknowledge"
LEVEL_DIMENSION = "Level"
ESCALATIONS = ("EscalationPages", "RepliesReceived", "NobodyOnCall", "EventsBusy")
SMS = ("SmsSent", "SmsSegments", "PagesBatched")
SMS_TROUBLE = ("SmsFailed", "SmsThrottled", "SmsAccountFault", "SmsCeilingReached")
# Delivery receipts (lambdas/escalation/sms/receipts.py) and spend (lambdas/spend_check.py).
SMS_DELIVERY = ("SmsDelivered", "SmsUndelivered", "ReceiptsUnmatched")
SMS_COST = "SmsCost"  # US dollars
SMS_SPEND_PERCENT = "SmsSpendPercent"  # month to date, of the monthly text spend limit
VOICE_COST, VOICE_SPEND_PERCENT = "VoiceCost", "VoiceSpendPercent"  # calls: the same, of the monthly voice limit
BUDGET_SPEND_PERCENT = "BudgetSpendPercent"  # texts and calls, of spendBudgetUsd
PERIOD = Duration.minutes(5)
WIDTH = 12  # two graphs a row (the grid is 24 wide)
HEIGHT = 6


def handler_metric(name: str, *, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
    """A metric the handlers publish (Powertools: namespace IncidentEscalation, dimension service)."""
    return cloudwatch.Metric(
        namespace=NAMESPACE, metric_name=name, dimensions_map=SERVICE_DIMENSION, statistic=statistic, period=PERIOD, label=label
    )


class OperationsDashboard(Construct):
    """A CloudWatch dashboard named `<stackName>-operations`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        state_machine: sfn.IStateMachine,
        alarms: list[cloudwatch.Alarm],
    ) -> None:
        super().__init__(scope, construct_id)
        by_level = cloudwatch.MathExpression(
            expression=(
                f"SEARCH('{{{NAMESPACE},{LEVEL_DIMENSION},service}} MetricName=\"{TIME_TO_ACKNOWLEDGE}\"', 'p90', "
                f"{int(PERIOD.to_seconds())})"
            ),
            label="",  # each line is named by its Level
            period=PERIOD,
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.days(1),
            widgets=[
                [
                    cloudwatch.TextWidget(
                        markdown=(
                            "**Incident escalation.** Counts are per 5 minutes. Time to acknowledge: seconds from an "
                            "incident's creation to the YES that took it; Level 1 is the first contact's page."
                        ),
                        width=24,
                        height=2,
                    )
                ],
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms (each notifies the ops topic)", alarms=self._by_name(alarms), width=24, height=HEIGHT
                    )
                ],
                [
                    self._graph("Incidents by outcome", [handler_metric(name) for name in INCIDENT_OUTCOMES]),
                    self._graph(
                        "Time to acknowledge (seconds)",
                        [
                            handler_metric(TIME_TO_ACKNOWLEDGE, statistic="p50", label="p50"),
                            handler_metric(TIME_TO_ACKNOWLEDGE, statistic="p90", label="p90"),
                        ],
                    ),
                ],
                [
                    self._graph("Time to acknowledge by Level, p90 (seconds)", [by_level]),
                    self._graph("Escalations, replies, busy answers to senders", [handler_metric(name) for name in ESCALATIONS]),
                ],
                [
                    self._graph("SMS sent", [handler_metric(name) for name in SMS]),
                    self._graph("SMS not sent", [handler_metric(name) for name in SMS_TROUBLE]),
                ],
                [
                    self._graph("SMS delivery receipts", [handler_metric(name) for name in SMS_DELIVERY]),
                    cloudwatch.GraphWidget(
                        title="Cost (US dollars) and spend (% of the monthly limits)",
                        left=[handler_metric(SMS_COST, label="texts"), handler_metric(VOICE_COST, label="calls")],
                        right=[
                            handler_metric(SMS_SPEND_PERCENT, statistic="Maximum", label="% of the text limit"),
                            handler_metric(VOICE_SPEND_PERCENT, statistic="Maximum", label="% of the voice limit"),
                            handler_metric(BUDGET_SPEND_PERCENT, statistic="Maximum", label="% of spendBudgetUsd"),
                        ],
                        width=WIDTH,
                        height=HEIGHT,
                    ),
                ],
                [
                    self._graph(
                        "Escalation executions",
                        [
                            state_machine.metric_started(period=PERIOD, label="started"),
                            state_machine.metric_failed(period=PERIOD, label="failed"),
                            state_machine.metric_timed_out(period=PERIOD, label="timed out"),
                        ],
                    ),
                ],
            ],
        )

    def _by_name(self, alarms: list[cloudwatch.Alarm]) -> list[cloudwatch.IAlarm]:
        """The alarms, their ARNs built from their names (Ref) rather than read (GetAtt Arn).

        The same ARN on AWS; the local sandbox deploys the template into moto, which creates no alarms and
        refuses a GetAtt of one (a Ref of one resolves).
        """
        stack = Stack.of(self)
        shown: list[cloudwatch.IAlarm] = []
        for alarm in alarms:
            arn = stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name=alarm.alarm_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            shown.append(cloudwatch.Alarm.from_alarm_arn(self, alarm.node.id, arn))
        return shown

    @staticmethod
    def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=metrics, width=WIDTH, height=HEIGHT)
