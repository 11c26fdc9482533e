"""cdk-nag AwsSolutions findings this design accepts on purpose, each with the reason a reviewer needs."""

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from constructs import IConstruct

from .alerts import acknowledge_alert_findings
from .escalation_stack import EscalationStack
from .heartbeats import acknowledge_heartbeat_findings
from .maintenance import acknowledge_maintenance_findings
from .sms_grants import sms_send_resources
from .voice import acknowledge_voice_findings

# The singleton Lambda behind every AwsCustomResource in a stack has this fixed id.
AWS_CUSTOM_RESOURCE_PROVIDER = "AWS679f53fac002430cb0da5b7982bd2287"
XRAY_REASON = "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions."
SMS_REASON = (
    "sms-voice:SendTextMessage is authorized against the origination identity, configuration set, opt-out list and "
    "protect configuration of each send. The identity is the configured one (an E.164 number's id is unknown at "
    "synth, so it is this account's numbers; with no identity the template is refused at deploy); opt-out lists "
    "are assigned to the identity outside the stack and protect configurations can only block sends, so those are "
    "this account's and region's (stacks/sms_grants.py sms_send_resources)."
)


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def _logical_id(stack: Stack, table: dynamodb.Table) -> str:
    resolved: str = stack.resolve(stack.get_logical_id(table.node.default_child))  # type: ignore[arg-type]
    return resolved


def acknowledge_findings(stack: EscalationStack) -> None:
    """Acknowledge, construct by construct, the findings that follow from the design."""
    messages_index = f"AwsSolutions-IAM5[Resource::<{_logical_id(stack, stack.storage.messages)}.Arn>/index/*]"
    handoff = [stack.handoff] if stack.handoff is not None else []
    self_test = [stack.self_test] if stack.self_test is not None else []  # texts as the operator does, and tells ops
    for handler in (
        stack.start, stack.page, stack.unacknowledged, stack.reply, stack.operator, stack.alerts.function, *handoff, *self_test,
    ):  # fmt: skip
        _ack(handler, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
    acknowledge_alert_findings(stack.alerts, stack.alerts.function.role)
    acknowledge_maintenance_findings(stack.maintenance, stack.operator)
    acknowledge_heartbeat_findings(
        stack.heartbeats,
        xray_reason=XRAY_REASON,
        sms_resources=sms_send_resources(stack.config) if stack.config.sms_api == "v2" else [],
        sms_reason=SMS_REASON,
    )
    for handler in (stack.page, stack.unacknowledged, stack.reply, stack.alerts.function, *handoff):
        _ack(handler, messages_index, "Replies are matched to the sender's latest page through the by_contact index.")
        if stack.config.sms_api == "v2":
            for resource in sms_send_resources(stack.config):
                if "*" in resource:
                    _ack(handler, f"AwsSolutions-IAM5[Resource::{resource}]", SMS_REASON)
    if stack.config.sms_api == "v2":  # the operator function texts as a YES or a RESOLVE does (no index: no reply matching)
        for resource in sms_send_resources(stack.config):
            if "*" in resource:
                for handler in (stack.operator, *self_test):
                    _ack(handler, f"AwsSolutions-IAM5[Resource::{resource}]", SMS_REASON)
    receipts = [stack.receipts.function] if stack.receipts is not None else []  # a page refused for a fault of ours
    for handler in (stack.page, stack.unacknowledged, *receipts, *self_test):  # they tell ops (a fault, an exhausted chain)
        _ack(
            handler,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "Publishing to the KMS-encrypted ops topic needs a data key; the grant is limited to that topic's key.",
        )
    workflow = stack.workflow
    _ack(workflow, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
    for function in (stack.page, stack.unacknowledged):
        function_id = stack.resolve(stack.get_logical_id(function.function.node.default_child))  # type: ignore[arg-type]
        _ack(
            workflow,
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "CDK's LambdaInvoke grant covers the versions and aliases of the workflow's own functions.",
        )
    for handler in handoff:
        function_id = stack.resolve(stack.get_logical_id(handler.function.node.default_child))  # type: ignore[arg-type]
        for role in (child for child in stack.node.children if child.node.id.startswith("SchedulerRoleForTarget")):
            _ack(
                role,
                f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                "CDK's scheduler target grant covers the versions and aliases of the handoff function it invokes.",
            )
    if stack.digests is not None:  # the storm digest function: X-Ray, SMS as every sender, its own dead-letter queue
        _ack(stack.digests.handler, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
        for resource in sms_send_resources(stack.config) if stack.config.sms_api == "v2" else []:
            if "*" in resource:
                _ack(stack.digests.handler, f"AwsSolutions-IAM5[Resource::{resource}]", SMS_REASON)
        dead_letter_queue = "This queue is itself the dead-letter queue (on-failure destination)."
        _ack(stack.digests.dead_letters, "AwsSolutions-SQS3", dead_letter_queue)
    handoff_dlq = [stack.handoff_dlq] if stack.handoff_dlq is not None else []
    for queue in (stack.stream_dlq, stack.reply_dlq, stack.alarm_event_dlq, *handoff_dlq):
        _ack(queue, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue (on-failure destination).")
    if stack.voice is not None:  # stacks/voice.py
        acknowledge_voice_findings(stack.voice, stack.page, xray_reason=XRAY_REASON, sms_reason=SMS_REASON, config=stack.config,
                                   messages_index=messages_index)  # fmt: skip
    provider = stack.node.try_find_child(AWS_CUSTOM_RESOURCE_PROVIDER)
    if provider is not None:
        _ack(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider (runs only at deploy, to call UpdatePhoneNumber, to put the on-call "
            "definitions and to add the receipts' event destination to a configuration set managed elsewhere) writes "
            "its logs with the basic execution role; its permissions to act are limited to that one phone number, the "
            "on-call table and that configuration set.",
        )
