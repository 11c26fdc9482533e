"""Voice calls: the place_call function, the schedule group of pending calls, Scheduler's role, and alarms.

Made only when this deployment calls someone: `voiceAfterSeconds` above 0 (chains of plain numbers) or a person
in oncall.yaml with a `voice` step in `notify`. The page step (page_contact) creates a one-time schedule per call in
this construct's group; Scheduler assumes this construct's role to invoke place_call (lambdas/place_call.py),
which calls through SendVoiceMessage from the origination identity. Failures alarm the ops topic: the function's
errors (each invocation is retried twice by Lambda's async invoke) and the dead-letter queue that keeps a call
that never ran (after those retries, or one Scheduler could not deliver).
"""

from aws_cdk import Acknowledgment, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .config import EscalationConfig
from .config_errors import ConfigError
from .functions import HandlerFunction
from .oncall_config import Definitions
from .scheduler_roles import invoker_role, pass_to_scheduler
from .sms_grants import SMS_ARN_PREFIX, sms_send_resources

# The call waits up to 125 s for its second (escalation.voice.calls MAX_EARLY_SECONDS), up to 60 s for its slot, then
# makes a few SDK calls.
TIMEOUT_SECONDS = 300
MESSAGE_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


def calls_wanted(config: EscalationConfig, definitions: Definitions | None) -> bool:
    """True when some level may call someone: voiceAfterSeconds, or a person's notify rules."""
    people = definitions.people.values() if definitions is not None else ()
    return config.voice_after_seconds > 0 or any(person.voice_after_seconds is not None for person in people)


def _resolved(resource: str) -> str:
    return (
        resource.replace("<AWS::Partition>", Aws.PARTITION)
        .replace("<AWS::Region>", Aws.REGION)
        .replace("<AWS::AccountId>", Aws.ACCOUNT_ID)
    )


def call_environment(config: EscalationConfig) -> dict[str, str]:
    """How a call sounds and what it may cost: for whatever places calls."""
    environment = {"VOICE_ID": config.voice_id}
    if config.voice_max_price_per_minute:
        environment["VOICE_MAX_PRICE_PER_MINUTE"] = config.voice_max_price_per_minute
    return environment


class VoiceCalls(Construct):
    """The function, the schedule group, Scheduler's role, the dead-letter queue and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EscalationConfig,
        incidents: dynamodb.ITable,
        messages: dynamodb.ITable,
        ops_topic: sns.ITopic,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        protect_configuration_id: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group_name = f"{stack.stack_name[:57]}-calls"
        self.group = scheduler.ScheduleGroup(
            self, "PendingCalls", schedule_group_name=self.group_name, removal_policy=RemovalPolicy.DESTROY
        )
        self.dead_letters = sqs.Queue(
            self, "CallFailures", retention_period=Duration.days(14), encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
        )
        self.handler = HandlerFunction(
            self, "PlaceCall", handler="place_call.handler",
            description="Voice calls: calls a paged person when their rules say so and the page is still unanswered",
            code=code, layer=layer, timeout_seconds=TIMEOUT_SECONDS,
            environment={**environment, "OPS_TOPIC_ARN": ops_topic.topic_arn, **call_environment(config)},
        )  # fmt: skip
        self.function = self.handler.function
        self.function.configure_async_invoke(
            retry_attempts=2, max_event_age=Duration.hours(1), on_failure=destinations.SqsDestination(self.dead_letters)
        )
        role = self.handler.role
        # Reads the incident and the others open for the number; appends to its timeline (never replaces it).
        incidents.grant(self.function, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem")
        # The message log, once-only keys, the budget, storm and pace items; the by_contact index (open incidents).
        role.add_to_policy(iam.PolicyStatement(actions=list(MESSAGE_ITEM_ACTIONS), resources=[messages.table_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{messages.table_arn}/index/*"]))
        resources = [_resolved(resource) for resource in sms_send_resources(config)]
        if protect_configuration_id is not None:
            resources.append(_resolved(f"{SMS_ARN_PREFIX}protect-configuration/{protect_configuration_id}"))
        self.send_resources = resources
        role.add_to_policy(iam.PolicyStatement(actions=["sms-voice:SendVoiceMessage"], resources=resources))
        ops_topic.grant_publish(self.function)

        self.scheduler_role = invoker_role(
            self,
            "SchedulerRole",
            self.function,
            description="EventBridge Scheduler: invokes place_call when a scheduled call comes due",
        )
        self.dead_letters.grant_send_messages(self.scheduler_role)
        self.alarms = self._alarms(ops_topic)
        CfnOutput(stack, "VoiceScheduleGroup", value=self.group.schedule_group_name, description="Pending voice calls")

    @property
    def schedule_arns(self) -> str:
        """Every schedule of the group (one per call, named after it)."""
        return f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/{self.group_name}/*"

    def environment(self, config: EscalationConfig) -> dict[str, str]:
        """What the page step needs to schedule calls."""
        return {
            "VOICE_AFTER_SECONDS": str(config.voice_after_seconds),
            "VOICE_FUNCTION_ARN": self.function.function_arn,
            "VOICE_SCHEDULE_GROUP": self.group_name,
            "VOICE_SCHEDULER_ROLE_ARN": self.scheduler_role.role_arn,
            "VOICE_DEAD_LETTER_ARN": self.dead_letters.queue_arn,
        }

    def grant_test_calls(self, operator: HandlerFunction, config: EscalationConfig) -> None:
        """Let the operator function place a test call (incidents test-page --voice) as this function calls."""
        operator.role.add_to_policy(iam.PolicyStatement(actions=["sms-voice:SendVoiceMessage"], resources=self.send_resources))
        for key, value in {"CALLS": "1", **call_environment(config)}.items():
            operator.function.add_environment(key, value)

    def grant_schedule(self, role: iam.IRole) -> None:
        """Let the page step create a call's schedule in this group, handing Scheduler this construct's role only."""
        role.add_to_principal_policy(iam.PolicyStatement(actions=["scheduler:CreateSchedule"], resources=[self.schedule_arns]))
        role.add_to_principal_policy(pass_to_scheduler(self.scheduler_role))

    def _alarms(self, ops_topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        """The function failing, a call kept in the dead-letter queue: to ops."""
        alarms = [
            self.function.metric_errors(period=Duration.minutes(5), statistic="Sum").create_alarm(
                self, "PlaceCallErrors", threshold=0, evaluation_periods=1,
                alarm_description="The call function failed (retried twice, then kept): a person may not have been called",
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            self.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)).create_alarm(
                self, "CallFailuresNotEmpty", threshold=0, evaluation_periods=1,
                alarm_description="A scheduled call never ran (the function kept failing, or Scheduler could not invoke "
                "it): the person was texted but not called; see the queue's message",
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]  # fmt: skip
        for alarm in alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(ops_topic))
        return alarms


def acknowledge_voice_findings(voice: VoiceCalls, page: Construct, *, xray_reason: str, sms_reason: str, config: EscalationConfig,
                               messages_index: str) -> None:  # fmt: skip
    """The cdk-nag findings voice calls accept on purpose, each with its reason."""

    def ack(scope: Construct, rule: str, reason: str) -> None:
        Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))

    ack(voice.handler, "AwsSolutions-IAM5[Resource::*]", xray_reason)
    ack(
        voice.handler, messages_index, "The person's open incidents are read through the by_contact index (one call for a storm)."
    )
    ack(voice.handler, "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "Publishing to the KMS-encrypted ops topic needs a data key; the grant is limited to that topic's key.")  # fmt: skip
    for resource in sms_send_resources(config):
        if "*" in resource:
            ack(voice.handler, f"AwsSolutions-IAM5[Resource::{resource}]", sms_reason)
    ack(
        page,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/{voice.group_name}/*]",
        "Each page that asks for a call creates a one-time schedule named after the call (unknown at deploy); only in the "
        "calls schedule group, and iam:PassRole only for the role that invokes the call function.",
    )
    ack(voice.dead_letters, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue (on-failure destination).")


def add_voice_calls(  # noqa: PLR0917 - the stack's parts it wires
    scope: Construct,
    config: EscalationConfig,
    definitions: Definitions | None,
    incidents: dynamodb.ITable,
    messages: dynamodb.ITable,
    ops_topic: sns.ITopic,
    code: lambda_.Code,
    layer: lambda_.ILayerVersion,
    environment: dict[str, str],
    protect_configuration_id: str | None,
    page: HandlerFunction,
    operator: HandlerFunction,
) -> VoiceCalls | None:
    """Voice calls when some level may call someone (None otherwise), the page step's part, and test calls."""
    if not calls_wanted(config, definitions):
        return None
    if config.sms_api != "v2":
        raise ConfigError("oncall.yaml: notify: voice calls need smsApi=v2 (SendVoiceMessage); the Pinpoint API has none")
    voice = VoiceCalls(
        scope, "VoiceCalls", config=config, incidents=incidents, messages=messages, ops_topic=ops_topic, code=code,
        layer=layer, environment=environment, protect_configuration_id=protect_configuration_id,
    )  # fmt: skip
    for key, value in voice.environment(config).items():
        page.function.add_environment(key, value)
    voice.grant_schedule(page.role)
    voice.grant_test_calls(operator, config)
    return voice
