"""The pager self-test (selfTestSchedule): a test page to everyone on call on a schedule, one summary to ops.

lambdas/self_test.py sends the test pages, waits selfTestReplyMinutes for the replies within its own timeout, and
publishes to the ops topic; EventBridge Scheduler runs it with a role that may invoke it and nothing else, and
passes the time it fired for, which names the run (a repeated delivery tests nobody twice).
"""

from collections.abc import Callable

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from .config import EscalationConfig
from .functions import HandlerFunction
from .scheduler_roles import invoker_role

# In the messages table: once-only keys, the test pages' items, the outbound log, the send rate and the ceilings.
SELF_TEST_MESSAGES_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")

SELF_TEST_MARGIN_SECONDS = 60  # beyond the wait for replies: sending, the receipts' reads, the summary


def self_test_timeout_seconds(config: EscalationConfig) -> int:
    """The function's timeout: the wait for replies plus a margin (at most Lambda's 900 s: replies wait ≤ 14 min)."""
    return min(config.self_test_reply_minutes * 60 + SELF_TEST_MARGIN_SECONDS, 900)


def schedule_self_test(scope: Construct, handler: HandlerFunction, config: EscalationConfig) -> scheduler.CfnSchedule:
    """The schedule that runs the self-test, with a role that may invoke the function and nothing else."""
    role = invoker_role(
        scope, "SelfTestSchedulerRole", handler.function, description="EventBridge Scheduler: runs the pager self-test"
    )
    handler.function.add_environment("SELF_TEST_REPLY_MINUTES", str(config.self_test_reply_minutes))
    return scheduler.CfnSchedule(
        scope,
        "SelfTestSchedule",
        description="The pager self-test: a test page to everyone on call, then a summary to ops",
        schedule_expression=config.self_test_schedule,
        schedule_expression_timezone=config.self_test_timezone,
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        target=scheduler.CfnSchedule.TargetProperty(
            arn=handler.function.function_arn,
            role_arn=role.role_arn,
            input='{"scheduled": "<aws.scheduler.scheduled-time>"}',
            # a run not delivered within the hour is left to the next one (the people on call will have changed)
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=3, maximum_event_age_in_seconds=3600),
        ),
    )


def add_self_test(
    scope: Construct,
    config: EscalationConfig,
    *,
    code: lambda_.Code,
    layer: lambda_.ILayerVersion,
    environment: dict[str, str],
    messages: dynamodb.ITable,
    oncall_table: dynamodb.ITable,
    ops_topic: sns.ITopic,
    grant_sms: Callable[[iam.IRole], None],
) -> HandlerFunction:
    """The self-test function, what it may touch (and nothing more), and its schedule."""
    handler = HandlerFunction(
        scope, "SelfTest", handler="self_test.handler", code=code, layer=layer,
        description="Scheduled: a test page to everyone on call, then a summary of who did not answer to ops",
        environment={**environment, "OPS_TOPIC_ARN": ops_topic.topic_arn}, timeout_seconds=self_test_timeout_seconds(config),
    )  # fmt: skip
    handler.role.add_to_policy(iam.PolicyStatement(actions=list(SELF_TEST_MESSAGES_ACTIONS), resources=[messages.table_arn]))
    oncall_table.grant(handler.function, "dynamodb:GetItem", "dynamodb:Query")
    ops_topic.grant_publish(handler.function)
    grant_sms(handler.role)
    schedule_self_test(scope, handler, config)
    return handler
