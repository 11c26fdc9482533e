"""Handoff notices: the function that texts incoming on-call people, run every 15 minutes by EventBridge Scheduler."""

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .config import HANDOFF_NOTICE_PERIOD_MINUTES
from .functions import HandlerFunction, dead_letter_queue


def add_handoff_notices(  # noqa: PLR0917 - what the handoff function shares with the others
    scope: Construct,
    function: Callable[..., HandlerFunction],
    oncall_table: dynamodb.ITable,
    messages: dynamodb.ITable,
    grant_sms: Callable[[iam.IRole], None],
    sms_env: dict[str, str],
    notice_minutes: int,
) -> tuple[HandlerFunction, sqs.Queue]:
    """The function (made by `function`, the stack's factory), its schedule and its dead-letter queue."""
    handoff: HandlerFunction = function(
        "HandoffNotices", "handoff_notices.handler", "Texts the incoming on-call person before a shift",
        HANDOFF_NOTICE_MINUTES=str(notice_minutes), **sms_env,
    )  # fmt: skip
    oncall_table.grant(handoff.function, "dynamodb:GetItem", "dynamodb:Query")
    messages.grant_read_write_data(handoff.function)  # the message log and once-only keys
    grant_sms(handoff.role)
    # A run that meets a fault of ours (throttling, spend limit) raises: retried twice, then kept, and that alarms.
    dead_letters = dead_letter_queue(scope, "HandoffFailures")
    period = Duration.minutes(HANDOFF_NOTICE_PERIOD_MINUTES)
    handoff.function.configure_async_invoke(
        retry_attempts=2, max_event_age=period, on_failure=destinations.SqsDestination(dead_letters)
    )
    scheduler.Schedule(
        scope,
        "HandoffSchedule",
        description="Handoff notices: texts each person whose on-call shift starts soon (once per shift)",
        schedule=scheduler.ScheduleExpression.rate(Duration.minutes(HANDOFF_NOTICE_PERIOD_MINUTES)),
        # A late run is harmless (each notice has a once-only key); one older than a period is superseded.
        target=scheduler_targets.LambdaInvoke(
            handoff.function, retry_attempts=2, max_event_age=period, dead_letter_queue=dead_letters
        ),
    )
    return handoff, dead_letters
