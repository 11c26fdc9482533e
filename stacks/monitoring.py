"""Alarms that tell ops when something was not delivered or the workflow itself broke."""

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

# Published by the handlers (Powertools metrics); names live in lambdas/escalation/platform/observability.py.
NAMESPACE = "IncidentEscalation"
SERVICE_DIMENSION = {"service": "incident-escalation"}
EVENTS_BUSY = "EventsBusy"  # lambdas/escalation/platform/observability.py: a 503 the functions chose (busy now)
HANDLER_METRIC_ALARMS = (
    ("PageNotDelivered", "SmsFailed", "A page could not be delivered (opted out, invalid number, SMS setup): check the incident"),
    (
        "SmsCeilingReached",
        "SmsCeilingReached",
        "The per-incident or per-hour SMS ceiling stopped a send (maxSmsPerIncident / maxSmsPerHour): a runaway loop or "
        "an alert storm; texts are held back until it is looked at",
    ),
    (
        "SmsAccountFault",
        "SmsAccountFault",
        "End User Messaging refused a send for an account-level reason (spend limit, quota, access denied, bad "
        "origination identity): nobody is being paged until it is fixed",
    ),
    (
        "SmsThrottled",
        "SmsThrottled",
        "End User Messaging throttled a page although sends are paced at smsPartsPerSecond: the setting is above the "
        "number's real rate, or something else sends from it; pages are retried, not escalated",
    ),
    (
        "NobodyOnCall",
        "NobodyOnCall",
        "An escalation policy level had nobody on call (a gap in a rotation, or a policy no longer deployed): the level "
        "was skipped; fix the rotation in oncall.yaml or add an override (incidents oncall override)",
    ),
    (
        "IncidentsInvalid",
        "IncidentsInvalid",
        "An incident item was refused as invalid (no valid contact, a number outside allowedCountries, a policy not "
        "deployed): nobody was paged for it; the item's error says why (incidents show ID)",
    ),
)
SHORT_ID_POOL_METRIC = "ShortIdPoolUsed"  # lambdas/escalation/alerts/short_ids.py SHORT_ID_POOL_USED (percent)
# A stream record older than this means new incidents are being paged late (retries, throttling, a failing batch).
MAX_ITERATOR_AGE = Duration.minutes(2)


class Monitoring(Construct):
    """Alarms to ops: dead-letter queues, executions, function errors, stream backlog, SMS trouble, invalid incidents, API 5xx."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ops_topic: sns.ITopic,
        dead_letter_queues: dict[str, sqs.IQueue],
        state_machine: sfn.IStateMachine,
        functions: dict[str, lambda_.IFunction],
        stream_function: lambda_.IFunction,
        events_api: apigateway.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(ops_topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for name, queue in dead_letter_queues.items():
            self.alarms.append(
                queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)).create_alarm(
                    self,
                    f"{name}NotEmpty",
                    alarm_description=f"{name}: a message could not be processed and waits in the dead-letter queue",
                    threshold=0,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm_id, metric, what in (
            ("ExecutionsFailed", state_machine.metric_failed(period=Duration.minutes(1)), "failed"),
            ("ExecutionsTimedOut", state_machine.metric_timed_out(period=Duration.minutes(1)), "timed out"),
        ):
            self.alarms.append(
                metric.create_alarm(
                    self,
                    alarm_id,
                    alarm_description=f"An escalation execution {what}: an incident may not have been paged to the end",
                    threshold=0,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm_id, metric_name, description in HANDLER_METRIC_ALARMS:
            metric = cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=metric_name,
                dimensions_map=SERVICE_DIMENSION,
                statistic="Sum",
                period=Duration.minutes(5),
            )
            self.alarms.append(self._above_zero(alarm_id, metric, description))
        for name, function in functions.items():
            self.alarms.append(
                self._above_zero(
                    f"{name}Errors",
                    function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                    f"{name}: an invocation failed (it is retried; see the function's log group)",
                )
            )
        pool = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=SHORT_ID_POOL_METRIC,
            dimensions_map=SERVICE_DIMENSION,
            statistic="Average",
            period=Duration.hours(1),
        )
        self.alarms.append(
            pool.create_alarm(
                self,
                "ShortIdPoolHalfUsed",
                alarm_description=(
                    "Half of the 4-digit short ids are held (open incidents, and closed ones resting 7 days): new alert "
                    "incidents now get 5-digit ids; look for incidents nobody resolves (incidents list)"
                ),
                threshold=50,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        # 5xx answers less the 503s the functions chose (busy now: the sender retries), which are not failures.
        busy = cloudwatch.Metric(
            namespace=NAMESPACE, metric_name=EVENTS_BUSY, dimensions_map=SERVICE_DIMENSION, statistic="Sum",
            period=Duration.minutes(5),
        )  # fmt: skip
        failures = cloudwatch.MathExpression(
            expression="server_errors - FILL(busy, 0)",
            using_metrics={"server_errors": events_api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
                           "busy": busy},
            label="5xx answers that were failures", period=Duration.minutes(5),
        )  # fmt: skip
        self.alarms.append(
            self._above_zero(
                "EventsApiServerErrors",
                failures,
                "The Events API v2 endpoint failed a request (5xx: the function failed or timed out; a 503 for busy is "
                "not counted): the sender retries, but an alert may be late or lost; see the alerts function's log group",
            )
        )
        backlog = stream_function.metric(
            "IteratorAge", statistic="Maximum", period=Duration.minutes(1), unit=cloudwatch.Unit.MILLISECONDS
        )
        self.alarms.append(
            backlog.create_alarm(
                self,
                "IncidentStreamBacklog",
                alarm_description=(
                    f"New incidents wait more than {int(MAX_ITERATOR_AGE.to_seconds())} s in the table stream before "
                    "they are paged (the start function fails or is throttled)"
                ),
                threshold=MAX_ITERATOR_AGE.to_milliseconds(),
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        for alarm in self.alarms:
            alarm.add_alarm_action(action)

    def _above_zero(
        self, alarm_id: str, metric: cloudwatch.Metric | cloudwatch.MathExpression, description: str
    ) -> cloudwatch.Alarm:
        return metric.create_alarm(
            self,
            alarm_id,
            alarm_description=description,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
