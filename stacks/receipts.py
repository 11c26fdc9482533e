"""Delivery receipts and spend: the configuration set, its SNS destination, the receipts function, the spend check.

Configuration set: by default the stack owns one, `<stackName>-texts`, with one event destination that publishes
every text event (TEXT_ALL) to the receipts topic, and every function that texts names it (CONFIGURATION_SET). With
`configurationSet` set (a set managed elsewhere, perhaps shared), the stack leaves the set as it is and adds its
own event destination to it at deploy (CreateEventDestination, by custom resource; UpdateEventDestination on an
update, DeleteEventDestination when the stack goes). Without that custom resource a user would have to add the
destination by hand, pointing it at the DeliveryReceiptsTopicArn output. The legacy Pinpoint API (smsApi=pinpoint)
has no configuration sets: no receipts then.

The topic is encrypted with its own key (rotated), which End User Messaging SMS may use for this topic only and on
behalf of this account; the topic policy lets the service publish for this account and this configuration set only
(aws:SourceAccount, aws:SourceArn). The topic delivers to the receipts function (lambdas/delivery_receipts.py); a
failed event is retried twice and then kept in a dead-letter queue. The function reads and conditionally updates
incident items, and in the messages table reads rows, writes its once-only keys and gates, and reads the by_contact
index (the rows of a batch text); nothing else.

Spend: lambdas/spend_check.py runs hourly, compares the month's SmsCost with the account's monthly text spend limit
(DescribeSpendLimits) and publishes SmsSpendPercent; alarms at 80% and 100% (stacks/spend_check.py makes them, in this
construct). Alarms to ops also on either function's errors and on the dead-letter queue.
"""

from aws_cdk import Acknowledgment, Annotations, Aws, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_smsvoice as smsvoice
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from .functions import XRAY_REASON, HandlerFunction
from .spend_check import add_spend_check, spend_alarms

SMS_SERVICE = "sms-voice.amazonaws.com"
TOPIC_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:sns:topicArn"  # SNS asks KMS for data keys with it
MATCHING_EVENT_TYPES = ("TEXT_ALL",)  # every text event: unknown new types are logged rather than missed
VOICE_EVENT_TYPES = ("VOICE_ALL",)  # and every call's, when this deployment calls (docs/voice.md)
RECEIPTS_TIMEOUT_SECONDS = 90  # a batch text's receipt updates every incident it listed
LATE_RECEIPT_DAYS = 3  # carriers' final events may come 72 hours after the send
MESSAGES_INDEX = "by_contact"  # stacks/storage.py: a batch text's rows are read through it
SHORT_RECEIPTS_WARNING = "incident-escalation:receiptsOutliveTheMessageLog"


def own_configuration_set_name(stack_name: str) -> str:
    """The name of the configuration set the stack owns (at most 64 characters: letters, digits, '-', '_')."""
    return f"{stack_name[:58]}-texts"


def configuration_set_arn(name_or_arn: str) -> str:
    """A configuration set's ARN, from its name (in this account and region) or its ARN."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:{Aws.PARTITION}:sms-voice:{Aws.REGION}:{Aws.ACCOUNT_ID}:configuration-set/{name_or_arn}"


class Receipts(Construct):
    """The configuration set (or a destination on the user's), the receipts topic and function, the spend check."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        configuration_set: str,
        owned: bool,
        incidents: dynamodb.ITable,
        messages: dynamodb.ITable,
        ops_topic: sns.ITopic,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        message_ttl_days: int,
        calls: bool = False,
        spend_budget_usd: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.configuration_set_name = configuration_set
        self.configuration_set_arn = configuration_set_arn(configuration_set)
        self.event_types = [*MATCHING_EVENT_TYPES, *(VOICE_EVENT_TYPES if calls else ())]
        topic_name = f"{stack.stack_name}-DeliveryReceipts"  # named: the key policy names it (a Ref would be a cycle)
        self.key = kms.Key(self, "TopicKey", description="Encrypts the delivery receipts topic", enable_key_rotation=True)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(SMS_SERVICE)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": Aws.ACCOUNT_ID,
                        TOPIC_ENCRYPTION_CONTEXT: f"arn:{Aws.PARTITION}:sns:{Aws.REGION}:{Aws.ACCOUNT_ID}:{topic_name}",
                    }
                },
            )
        )
        self.topic = sns.Topic(
            self, "Topic", topic_name=topic_name, display_name="SMS delivery receipts", master_key=self.key, enforce_ssl=True
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEndUserMessagingEvents",
                principals=[iam.ServicePrincipal(SMS_SERVICE)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": self.configuration_set_arn},
                },
            )
        )
        destination_name = f"{stack.stack_name[:55]}-receipts"
        if owned:
            self.configuration_set: smsvoice.CfnConfigurationSet | None = smsvoice.CfnConfigurationSet(
                self,
                "ConfigurationSet",
                configuration_set_name=configuration_set,
                event_destinations=[
                    smsvoice.CfnConfigurationSet.EventDestinationProperty(
                        enabled=True,
                        event_destination_name=destination_name,
                        matching_event_types=self.event_types,
                        sns_destination=smsvoice.CfnConfigurationSet.SnsDestinationProperty(topic_arn=self.topic.topic_arn),
                    )
                ],
            )
            self.destination: cr.AwsCustomResource | None = None
            dependent: Construct = self.configuration_set
        else:
            self.configuration_set = None
            self.destination = self._destination_on(configuration_set, destination_name)
            dependent = self.destination
        # The service may check that it can publish (and encrypt) when the destination is made: policies first.
        policy = self.topic.node.try_find_child("Policy")
        if policy is not None:
            dependent.node.add_dependency(policy)
        dependent.node.add_dependency(self.key)

        self.function = self._receipts_function(incidents, messages, code, layer, environment)
        self.calls, self.spend_budget_usd = calls, spend_budget_usd
        spend = add_spend_check(self, code, layer, calls=calls, budget_usd=spend_budget_usd)  # stacks/spend_check.py
        self.spend_check, self.scheduler_role, self.schedule = spend.handler, spend.scheduler_role, spend.schedule
        self.alarms = self._alarms(ops_topic)
        if message_ttl_days < LATE_RECEIPT_DAYS:
            Annotations.of(self).add_warning_v2(
                SHORT_RECEIPTS_WARNING,
                f"messageTtlDays={message_ttl_days}: a delivery receipt that comes later than that (carriers' final "
                f"events may take {LATE_RECEIPT_DAYS * 24} hours) finds no message log row and is dropped",
            )
        CfnOutput(stack, "ConfigurationSetName", value=configuration_set, description="Every text names it")
        CfnOutput(stack, "DeliveryReceiptsTopicArn", value=self.topic.topic_arn, description="Text events (receipts)")

    def _destination_on(self, configuration_set: str, destination_name: str) -> cr.AwsCustomResource:
        """An event destination on a configuration set managed elsewhere, made at deploy and removed with the stack."""
        destination = {
            "ConfigurationSetName": configuration_set,
            "EventDestinationName": destination_name,
            "MatchingEventTypes": self.event_types,
            "SnsDestination": {"TopicArn": self.topic.topic_arn},
        }
        physical_id = cr.PhysicalResourceId.of(f"{configuration_set}/{destination_name}")
        return cr.AwsCustomResource(
            self,
            "EventDestination",
            on_create=cr.AwsSdkCall(
                service="PinpointSMSVoiceV2",
                action="createEventDestination",
                parameters=destination,
                physical_resource_id=physical_id,
            ),
            on_update=cr.AwsSdkCall(
                service="PinpointSMSVoiceV2",
                action="updateEventDestination",
                parameters={**destination, "Enabled": True},
                physical_resource_id=physical_id,
            ),
            on_delete=cr.AwsSdkCall(
                service="PinpointSMSVoiceV2",
                action="deleteEventDestination",
                parameters={"ConfigurationSetName": configuration_set, "EventDestinationName": destination_name},
            ),
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(2),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=[
                            "sms-voice:CreateEventDestination",
                            "sms-voice:UpdateEventDestination",
                            "sms-voice:DeleteEventDestination",
                        ],
                        resources=[self.configuration_set_arn],
                    )
                ]
            ),
        )

    def _receipts_function(
        self,
        incidents: dynamodb.ITable,
        messages: dynamodb.ITable,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
    ) -> HandlerFunction:
        handler = HandlerFunction(
            self, "DeliveryReceipts", handler="delivery_receipts.handler",
            description="Records SMS delivery receipts and their cost on the incidents", code=code, layer=layer,
            environment=environment, timeout_seconds=RECEIPTS_TIMEOUT_SECONDS,
        )  # fmt: skip
        self.dead_letters = sqs.Queue(
            self,
            "ReceiptFailures",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        handler.function.configure_async_invoke(retry_attempts=2, on_failure=destinations.SqsDestination(self.dead_letters))
        self.topic.add_subscription(subscriptions.LambdaSubscription(handler.function))
        # Incident items: read, and updated conditionally (in transactions with the message rows); never put or deleted.
        handler.role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[incidents.table_arn])
        )
        # Message rows: read, gated (UpdateItem), once-only keys (put, update, delete); the index for a batch's rows.
        handler.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[messages.table_arn],
            )
        )
        handler.role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{messages.table_arn}/index/{MESSAGES_INDEX}"])
        )
        Validations.of(handler).acknowledge(Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=XRAY_REASON))
        Validations.of(self.dead_letters).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-SQS3", reason="This queue is itself the dead-letter queue.")
        )
        return handler

    def _alarms(self, ops_topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        """Either function failing, a receipt kept in the dead-letter queue, the month's spend near and at the limit."""
        alarms = [
            self.function.function.metric_errors(period=Duration.minutes(5), statistic="Sum").create_alarm(
                self,
                "DeliveryReceiptsErrors",
                alarm_description="DeliveryReceipts: an invocation failed (it is retried twice, then kept in the "
                "dead-letter queue); see the function's log group",
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            self.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)).create_alarm(
                self,
                "ReceiptFailuresNotEmpty",
                alarm_description="A delivery receipt could not be recorded after its retries and waits in the "
                "dead-letter queue: an incident's timeline or cost misses it",
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        alarms.extend(spend_alarms(self, self.spend_check, calls=self.calls, budget=self.spend_budget_usd > 0))
        action = cloudwatch_actions.SnsAction(ops_topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return alarms
