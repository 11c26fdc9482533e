"""The stack: composes storage, functions, workflow, messaging and monitoring, and grants between them."""

from collections.abc import Mapping
from typing import Any

from aws_cdk import ArnFormat, Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .config import EscalationConfig
from .functions import HandlerFunction, lambda_code, powertools_layer
from .messaging import Messaging
from .monitoring import Monitoring
from .storage import Storage, replaced_incident_filters
from .workflow import EscalationWorkflow

MAX_CONTACTS = 10  # the chain cap enforced by the start handler (lambdas/escalation/incident.py)


class EscalationStack(Stack):
    """Everything one `cdk deploy` creates."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EscalationConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        storage = Storage(self, "Storage")
        messaging = Messaging(self, "Messaging", ops_email=config.ops_email)
        code = lambda_code()
        layer = powertools_layer(self, config.powertools_layer_version)
        state_machine_name = f"{self.stack_name}-escalation"
        state_machine_arn = self.format_arn(
            service="states", resource="stateMachine", resource_name=state_machine_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        common_env = {
            "INCIDENTS_TABLE": storage.incidents.table_name,
            "MESSAGES_TABLE": storage.messages.table_name,
            "SMS_API": config.sms_api,
            "ORIGINATION_IDENTITY": config.origination_identity,
            "CONFIGURATION_SET": config.configuration_set,
            "PINPOINT_APPLICATION_ID": config.pinpoint_application_id,
            "MAX_SMS_SEGMENTS": str(config.max_sms_segments),
            "MESSAGE_TTL_DAYS": str(config.message_ttl_days),
        }

        def function(construct_id: str, handler: str, description: str, **extra_env: str) -> HandlerFunction:
            return HandlerFunction(
                self, construct_id, handler=handler, description=description, code=code, layer=layer,
                environment={**common_env, **extra_env},
            )  # fmt: skip

        self.start = function(
            "StartEscalation", "start_escalation.handler", "Validates new incidents and starts their escalation",
            STATE_MACHINE_ARN=state_machine_arn, REPEAT=str(config.repeat), HISTORY_TABLE=storage.history.table_name,
        )  # fmt: skip
        self.page = function("PageContact", "page_contact.handler", "Pages the contact of the current level")
        self.unacknowledged = function(
            "MarkUnacknowledged", "mark_unacknowledged.handler", "Closes an incident nobody acknowledged",
            OPS_TOPIC_ARN=messaging.ops_topic.topic_arn,
        )  # fmt: skip
        self.reply = function("HandleReply", "handle_reply.handler", "Acts on YES/NO SMS replies")

        self.workflow = EscalationWorkflow(
            self,
            "Workflow",
            state_machine_name=state_machine_name,
            page_contact=self.page.function,
            mark_unacknowledged=self.unacknowledged.function,
            ack_timeout_seconds=config.ack_timeout_seconds,
            reminders=config.reminders,
            max_levels=MAX_CONTACTS * (config.repeat + 1),
        )

        # Start: stream -> function, new incidents and replaced ones (archived), nothing dropped silently.
        self.stream_dlq = _dead_letter_queue(self, "StreamFailures")
        self.start.function.add_event_source(
            sources.DynamoEventSource(
                storage.incidents,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=10,
                bisect_batch_on_error=True,
                retry_attempts=5,
                max_record_age=Duration.days(1),
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.stream_dlq),
                filters=[*new_incident_filters(), *replaced_incident_filters()],
            )
        )
        # Replies: inbound topic -> function; failed async invokes land in a queue, not in the void.
        self.reply_dlq = _dead_letter_queue(self, "ReplyFailures")
        self.reply.function.configure_async_invoke(retry_attempts=2, on_failure=destinations.SqsDestination(self.reply_dlq))
        messaging.inbound_topic.add_subscription(subscriptions.LambdaSubscription(self.reply.function))

        # Grants: each function gets what it touches, nothing more.
        storage.incidents.grant_read_write_data(self.start.function)
        storage.history.grant(self.start.function, "dynamodb:PutItem")  # append-only: nothing may change the archive
        self.workflow.state_machine.grant_start_execution(self.start.function)
        for handler in (self.page, self.unacknowledged, self.reply):
            storage.incidents.grant_read_write_data(handler.function)
            storage.messages.grant_read_write_data(handler.function)
            self._grant_sms(handler.role)
        for handler in (self.page, self.reply):
            handler.role.add_to_policy(
                iam.PolicyStatement(actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=[state_machine_arn])
            )
        messaging.ops_topic.grant_publish(self.unacknowledged.function)

        if config.configure_two_way:
            messaging.configure_two_way(phone_number_id=config.two_way_phone_number_id)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            ops_topic=messaging.ops_topic,
            dead_letter_queues={"StreamFailures": self.stream_dlq, "ReplyFailures": self.reply_dlq},
            state_machine=self.workflow.state_machine,
        )
        self.storage = storage
        self.messaging = messaging
        CfnOutput(self, "IncidentsTableName", value=storage.incidents.table_name, description="Write incidents here")
        CfnOutput(self, "IncidentHistoryTableName", value=storage.history.table_name, description="Replaced, deleted incidents")
        CfnOutput(self, "InboundSmsTopicArn", value=messaging.inbound_topic.topic_arn, description="Two-way SMS destination")
        CfnOutput(self, "OpsTopicArn", value=messaging.ops_topic.topic_arn, description="Unacknowledged incidents, alarms")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)

    def _grant_sms(self, role: iam.IRole) -> None:
        """Permission to send SMS through the configured API."""
        if self.config.sms_api == "pinpoint":
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["mobiletargeting:SendMessages"],
                    resources=[
                        f"arn:{Aws.PARTITION}:mobiletargeting:{Aws.REGION}:{Aws.ACCOUNT_ID}:apps/"
                        f"{self.config.pinpoint_application_id}/messages"
                    ],
                )
            )
            return
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sms-voice:SendTextMessage"],
                resources=[f"arn:{Aws.PARTITION}:sms-voice:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"],
            )
        )


def new_incident_filters() -> list[Mapping[str, Any]]:
    """Stream records of new incidents: INSERTs, and MODIFYs that leave a fresh, never-started item.

    A MODIFY matches when a PutItem replaces an old item with the same id, or when an item marked
    invalid is fixed; the app's own first write sets execution_arn (or status invalid), so it never does.
    (lambdas/start_escalation.py is_new_incident applies the same rule.)
    """
    # Filters see leaf values only: an attribute is tested through its DynamoDB type ("S").
    fresh = {"execution_arn": {"S": lambda_.FilterRule.not_exists()}}
    modify = lambda_.FilterRule.is_equal("MODIFY")
    open_status = {"S": lambda_.FilterRule.is_equal("not_acknowledged")}
    return [
        lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")}),
        lambda_.FilterCriteria.filter(
            {
                "eventName": modify,
                "dynamodb": {"NewImage": {**fresh, "incident_stat": open_status}},
            }
        ),
        lambda_.FilterCriteria.filter(
            {"eventName": modify, "dynamodb": {"NewImage": {**fresh, "incident_stat": {"S": lambda_.FilterRule.not_exists()}}}}
        ),
    ]


def _dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that keeps what could not be processed for two weeks."""
    return sqs.Queue(
        scope,
        construct_id,
        retention_period=Duration.days(14),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
