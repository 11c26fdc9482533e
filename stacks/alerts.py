"""Alerts in: the Events API v2 endpoint (`POST /v2/enqueue`), its function and the integrations table.

The table holds routing-key hashes and integrations, the dedup and short-id claims, and the per-key rate
counters (with a TTL). The API is a REST API (HTTPS only, as every API Gateway endpoint): stage throttling
caps the whole endpoint, the handler caps each routing key (EVENTS_PER_MINUTE, a DynamoDB counter) and each
body (512,000 bytes, where Alertmanager and Grafana cut a PagerDuty event; API Gateway itself refuses
bodies over 10 MB).
"""

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from .functions import HandlerFunction

EVENTS_PER_MINUTE = 120  # per routing key, PagerDuty's documented limit
# Item key prefixes of the integrations table the alerts function reads only, and reads and writes
# (lambdas/escalation/alerts/integrations.py, incidents.py, short_ids.py, alarm_incidents.py, intake.py within_rate).
READ_PREFIXES = ("key#", "integration#")
WRITE_PREFIXES = ("dedup#", "short#", "rate#", "alarm#")
STAGE_RATE_PER_SECOND = 50  # the whole endpoint (every key together)
STAGE_BURST = 100
FUNCTION_TIMEOUT_SECONDS = 29  # API Gateway's own integration timeout
ALARM_STATES = ("ALARM", "OK")  # INSUFFICIENT_DATA says nothing either way: not delivered (the handler ignores it too)
ALARM_EVENT_MAX_AGE = Duration.hours(2)  # an alarm change older than this is not worth acting on: it is in the queue
ALARM_TAGS_RESOURCE = "arn:{partition}:cloudwatch:{region}:{account}:alarm:*"


class Alerts(Construct):
    """The endpoint, its function and its table; the stack grants what the function touches elsewhere."""

    def __init__(self, scope: Construct, construct_id: str, *, function: HandlerFunction) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.integrations = dynamodb.Table(
            self,
            "Integrations",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            removal_policy=RemovalPolicy.RETAIN,  # integrations and their key hashes are configuration
        )
        function.function.add_environment("INTEGRATIONS_TABLE", self.integrations.table_name)
        function.function.add_environment("EVENTS_PER_MINUTE", str(EVENTS_PER_MINUTE))
        # Least privilege for the internet-facing function: by item key prefix (dynamodb:LeadingKeys). It reads
        # routing keys and integrations but can never write them (it could mint a key); it writes only its claims
        # and counters.
        for actions, prefixes in (
            (["dynamodb:GetItem"], READ_PREFIXES + WRITE_PREFIXES),
            (["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], WRITE_PREFIXES),
        ):
            function.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=actions,
                    resources=[self.integrations.table_arn],
                    conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}*" for prefix in prefixes]}},
                )
            )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigateway.RestApi(
            self,
            "EventsApi",
            description="PagerDuty Events API v2 compatible endpoint: POST /v2/enqueue",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigateway.StageOptions(
                stage_name="v2",
                throttling_rate_limit=STAGE_RATE_PER_SECOND,
                throttling_burst_limit=STAGE_BURST,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                tracing_enabled=True,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        enqueue = self.api.root.add_resource("enqueue")
        enqueue.add_method(
            "POST",
            apigateway.LambdaIntegration(function.function, timeout=Duration.seconds(FUNCTION_TIMEOUT_SECONDS)),
            request_validator_options=apigateway.RequestValidatorOptions(validate_request_parameters=True),
        )

    def deliver_alarms(self, *, default_integration: str, own_alarm_prefix: str, dead_letters: sqs.IQueue) -> events.Rule:
        """CloudWatch alarm state changes of this account and region to the function (escalation.alerts.alarm_incidents).

        EventBridge carries every alarm's changes with no per-alarm wiring (no alarm action, no topic per policy);
        the alarm's tag picks the integration. The stack's own alarms (named `<stack>-...` by CloudFormation)
        are left out: they tell ops by email, and would otherwise page through the very path they report broken.
        """
        function = self.function.function
        function.add_environment("ALARM_INTEGRATION", default_integration)
        # Raised by the handler (a tag naming no integration, a claim in flux): retried, then kept.
        function.configure_async_invoke(
            retry_attempts=2, max_event_age=ALARM_EVENT_MAX_AGE, on_failure=destinations.SqsDestination(dead_letters)
        )
        self.function.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:ListTagsForResource"],
                resources=[ALARM_TAGS_RESOURCE.format(partition=Aws.PARTITION, region=Aws.REGION, account=Aws.ACCOUNT_ID)],
            )
        )
        return events.Rule(
            self,
            "AlarmStateChanges",
            description="CloudWatch alarm state changes (ALARM, OK) to the alerts function: open, repeat, resolve",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={
                    "alarmName": [{"anything-but": {"prefix": own_alarm_prefix}}],
                    "state": {"value": list(ALARM_STATES)},
                },
            ),
            targets=[
                targets.LambdaFunction(
                    function, dead_letter_queue=dead_letters, retry_attempts=8, max_event_age=ALARM_EVENT_MAX_AGE
                )
            ],
        )

    @property
    def url(self) -> str:
        """The endpoint: https://<api>.execute-api.<region>.amazonaws.com/v2/enqueue."""
        return self.api.url_for_path("/enqueue")


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def acknowledge_alert_findings(alerts: Alerts, role: iam.IRole) -> None:
    """The cdk-nag findings the endpoint accepts on purpose, each with its reason."""
    api = alerts.api
    _ack(
        alerts.function,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]",
        "An alarm's tag names the integration it pages, and any alarm of this account and region may carry it; "
        "ListTagsForResource only reads tags.",
    )
    auth = (
        "The Events API v2 authenticates each event by the routing key in its body, as PagerDuty does (senders such as "
        "Alertmanager cannot sign requests or fetch tokens); unknown and revoked keys get 400, and each key is rate limited."
    )
    _ack(api, "AwsSolutions-APIG4", auth)
    _ack(api, "AwsSolutions-COG4", auth)
    _ack(
        api,
        "AwsSolutions-APIG3",
        "No WAF web ACL by default (a fixed monthly cost): the stage is throttled, each routing key is limited in DynamoDB, "
        "and bodies over 512,000 bytes are refused. Attach a web ACL to the stage if the endpoint must face more.",
    )
    _ack(
        api,
        "AwsSolutions-APIG2",
        "The handler validates every field of the body and answers PagerDuty's 400 naming each field; an API Gateway "
        "model would answer in another shape, which Events API v2 senders do not expect.",
    )
    account_role = api.node.try_find_child("CloudWatchRole")
    if account_role is not None:
        _ack(
            account_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-wide logging role; AWS's managed policy is the documented way to let it write stage logs.",
        )
