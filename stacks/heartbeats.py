"""Heartbeat monitors: the beat route on the events API, its function, the deadline checker, and their schedules.

`POST /v2/heartbeat/{token}` beats (lambdas/heartbeat_events.py); a GET there is answered 405 by API Gateway
itself (a link preview or a crawler must not beat, and must not reach a function). Each beat creates an
EventBridge Scheduler one-time schedule in this construct's schedule group for its deadline; Scheduler
assumes this construct's role to invoke the checker (lambdas/heartbeat_check.py), which pages through the
events API's trigger. Nothing runs between deadlines: no rule, no polling.

Failures alarm the ops topic: the checker's errors (each is retried twice by Lambda's async invoke), the
beat function's errors, and the dead-letter queue that keeps a deadline the checker never completed (after
those retries) or that Scheduler could not deliver at all.
"""

from collections.abc import Callable

from aws_cdk import Acknowledgment, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from .alerts import FUNCTION_TIMEOUT_SECONDS as API_TIMEOUT_SECONDS
from .alerts import Alerts
from .functions import HandlerFunction
from .scheduler_roles import invoker_role, pass_to_scheduler

# Item key prefixes of the integrations table (lambdas/escalation/alerts/heartbeat_monitors.py, incidents.py, short_ids.py).
BEAT_READS = ("hbtoken#", "heartbeat#", "dedup#")  # its token, its monitor, the incident its expiry opened
BEAT_WRITES = ("heartbeat#",)
CHECK_READS = ("heartbeat#", "integration#", "dedup#", "short#")  # the monitor, whom it pages, the trigger's claims
CHECK_WRITES = ("heartbeat#", "dedup#", "short#")
# The checker may wait out the rest of its deadline's minute (Scheduler fires within it), then trigger and resolve.
CHECK_TIMEOUT_SECONDS = 180
CHECK_MAX_EVENT_AGE = Duration.hours(1)  # a deadline not checked within an hour is kept (and alarms) instead
MESSAGE_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
ROUTE = "heartbeat"
GET_REFUSED = (
    '{"status": "method not allowed", "message": "A beat is a POST (curl -fsS -X POST URL): '
    'a GET, such as a link preview, is not a beat"}'
)


def _leading_keys(prefixes: tuple[str, ...]) -> dict[str, dict[str, list[str]]]:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}*" for prefix in prefixes]}}


class Heartbeats(Construct):
    """The route, the two functions, the schedule group, Scheduler's role, the dead-letter queue and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alerts: Alerts,
        incidents: dynamodb.ITable,
        messages: dynamodb.ITable,
        ops_topic: sns.ITopic,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        state_machine_arn: str,
        grant_sms: Callable[[iam.IRole], None],
        repeat_after_seconds: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        integrations = alerts.integrations
        self.group_name = f"{stack.stack_name[:53]}-heartbeats"  # a name, not a token: the CLI and IAM read it
        self.group = scheduler.ScheduleGroup(
            self,
            "Deadlines",
            schedule_group_name=self.group_name,
            removal_policy=RemovalPolicy.DESTROY,  # one-time schedules of pending deadlines only
        )
        self.dead_letters = sqs.Queue(
            self,
            "CheckFailures",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )

        # The checker: invoked by Scheduler only; it opens incidents as the events endpoint does.
        self.check = HandlerFunction(
            self, "HeartbeatCheck", handler="heartbeat_check.handler",
            description="Heartbeat deadlines: pages a monitor's integration when no beat came in time",
            code=code, layer=layer, timeout_seconds=CHECK_TIMEOUT_SECONDS,
            environment={**environment, "INTEGRATIONS_TABLE": integrations.table_name,
                         "REPEAT_AFTER_SECONDS": str(repeat_after_seconds)},
        )  # fmt: skip
        check = self.check.function
        check.configure_async_invoke(
            retry_attempts=2, max_event_age=CHECK_MAX_EVENT_AGE, on_failure=destinations.SqsDestination(self.dead_letters)
        )
        # A trigger puts and updates its claims and may give a short id back (DeleteItem); it updates the monitor.
        self._grant_integrations(self.check, integrations, CHECK_READS, CHECK_WRITES, ("PutItem", "UpdateItem", "DeleteItem"))
        incidents.grant(check, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")

        # Scheduler's role: invoke the checker, and keep what it could not deliver.
        self.scheduler_role = invoker_role(
            self, "SchedulerRole", check, description="EventBridge Scheduler: invokes the heartbeat checker at each deadline"
        )
        self.dead_letters.grant_send_messages(self.scheduler_role)

        # The beat function: internet-facing; writes monitors, creates and deletes their schedules, resolves.
        self.events = HandlerFunction(
            self, "HeartbeatEvents", handler="heartbeat_events.handler",
            description="Heartbeats: POST /v2/heartbeat/{token} arms a monitor's deadline, resolves its expiry",
            code=code, layer=layer, timeout_seconds=API_TIMEOUT_SECONDS,
            environment={
                **environment, "INTEGRATIONS_TABLE": integrations.table_name,
                "HEARTBEAT_SCHEDULE_GROUP": self.group.schedule_group_name, "HEARTBEAT_CHECK_ARN": check.function_arn,
                "HEARTBEAT_SCHEDULER_ROLE_ARN": self.scheduler_role.role_arn,
                "HEARTBEAT_DEAD_LETTER_ARN": self.dead_letters.queue_arn,
            },
        )  # fmt: skip
        self._grant_integrations(self.events, integrations, BEAT_READS, BEAT_WRITES, ("UpdateItem",))
        incidents.grant(self.events.function, "dynamodb:GetItem", "dynamodb:UpdateItem")  # resolve only: never opens one
        self.events.role.add_to_policy(
            iam.PolicyStatement(
                actions=["scheduler:CreateSchedule", "scheduler:DeleteSchedule"],
                resources=[self.schedule_arns],
            )
        )
        self.events.role.add_to_policy(pass_to_scheduler(self.scheduler_role))
        for handler in (self.check, self.events):  # a resolve texts those paged and completes the parked task
            handler.role.add_to_policy(iam.PolicyStatement(actions=list(MESSAGE_ITEM_ACTIONS), resources=[messages.table_arn]))
            grant_sms(handler.role)
            handler.role.add_to_policy(iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=[state_machine_arn]))

        self.resource = self._route(alerts.api)
        self.alarms = self._alarms(ops_topic)
        url = alerts.api.url_for_path(f"/{ROUTE}")
        CfnOutput(stack, "HeartbeatsUrl", value=url, description="Heartbeats: POST <url>/<token>")
        CfnOutput(stack, "HeartbeatScheduleGroup", value=self.group.schedule_group_name, description="Heartbeat deadlines")

    @property
    def schedule_arns(self) -> str:
        """Every schedule of the group (names are made per beat)."""
        return f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/{self.group.schedule_group_name}/*"

    @staticmethod
    def _grant_integrations(
        handler: HandlerFunction,
        table: dynamodb.ITable,
        reads: tuple[str, ...],
        writes: tuple[str, ...],
        actions: tuple[str, ...],
    ) -> None:
        """Item access by key prefix (dynamodb:LeadingKeys), as for the alerts function: no Scan, no Query."""
        handler.role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[table.table_arn], conditions=_leading_keys(reads))
        )
        handler.role.add_to_policy(
            iam.PolicyStatement(
                actions=[f"dynamodb:{action}" for action in actions],
                resources=[table.table_arn],
                conditions=_leading_keys(writes),
            )
        )

    def _route(self, api: apigateway.RestApi) -> apigateway.Resource:
        """`/heartbeat/{token}`: POST to the beat function; GET answered 405 by API Gateway (no function runs)."""
        resource = api.root.add_resource(ROUTE).add_resource("{token}")
        resource.add_method(
            "POST",
            apigateway.LambdaIntegration(self.events.function, timeout=Duration.seconds(API_TIMEOUT_SECONDS)),
            request_parameters={"method.request.path.token": True},
            request_validator_options=apigateway.RequestValidatorOptions(validate_request_parameters=True),
        )
        resource.add_method(
            "GET",
            apigateway.MockIntegration(
                request_templates={"application/json": '{"statusCode": 405}'},
                passthrough_behavior=apigateway.PassthroughBehavior.WHEN_NO_MATCH,
                integration_responses=[
                    apigateway.IntegrationResponse(
                        status_code="405",
                        response_templates={"application/json": GET_REFUSED},
                        response_parameters={"method.response.header.Allow": "'POST'"},
                    )
                ],
            ),
            method_responses=[
                apigateway.MethodResponse(status_code="405", response_parameters={"method.response.header.Allow": True})
            ],
        )
        return resource

    def _alarms(self, ops_topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        """The checker failing, the beat function failing, a deadline kept in the dead-letter queue: to ops."""
        alarms = []
        for alarm_id, function, description in (
            ("HeartbeatCheckErrors", self.check.function,
             "The heartbeat checker failed (retried twice, then kept): a missed heartbeat may not have paged"),
            ("HeartbeatEventsErrors", self.events.function,
             "The heartbeat endpoint's function failed: a beat may not have been recorded (its sender sees 5xx)"),
        ):  # fmt: skip
            alarms.append(
                function.metric_errors(period=Duration.minutes(5), statistic="Sum").create_alarm(
                    self,
                    alarm_id,
                    alarm_description=description,
                    threshold=0,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        alarms.append(
            self.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)).create_alarm(
                self,
                "HeartbeatCheckFailuresNotEmpty",
                alarm_description="A heartbeat deadline was never checked (the checker kept failing, or Scheduler could not "
                "invoke it): a missed heartbeat has not paged; see the queue's message",
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        action = cloudwatch_actions.SnsAction(ops_topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return alarms


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def acknowledge_heartbeat_findings(
    heartbeats: Heartbeats, *, xray_reason: str, sms_resources: list[str], sms_reason: str
) -> None:
    """The cdk-nag findings heartbeats accept on purpose, each with its reason."""
    for handler in (heartbeats.check, heartbeats.events):
        _ack(handler, "AwsSolutions-IAM5[Resource::*]", xray_reason)
        for resource in sms_resources:
            if "*" in resource:
                _ack(handler, f"AwsSolutions-IAM5[Resource::{resource}]", sms_reason)
    _ack(
        heartbeats.events,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/{heartbeats.group_name}/*]",
        "Each beat creates a one-time schedule named after the monitor and the beat (unknown at deploy) and deletes the "
        "one it supersedes; only in the heartbeats schedule group, and iam:PassRole only for the role that invokes the checker.",
    )
    _ack(heartbeats.dead_letters, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue (on-failure destination).")
