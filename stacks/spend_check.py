"""Spend: the hourly check of this month's SMS cost against the account's monthly text spend limit, and its alarms.

lambdas/spend_check.py runs hourly (EventBridge Scheduler), compares the month's SmsCost with the account's monthly
text spend limit and publishes the percentage; alarms at 80% and 100%, and on the check's own errors. The resources
belong to the Receipts construct (stacks/receipts.py), which creates them through these functions.
"""

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Aws, Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from .functions import XRAY_REASON, HandlerFunction

SPEND_CHECK_TIMEOUT_SECONDS = 60
SPEND_CHECK_PERIOD = Duration.hours(1)
SPEND_ALARM_PERCENTS = (80, 100)
NAMESPACE = "IncidentEscalation"  # lambdas/escalation/platform/observability.py
SERVICE_DIMENSION = {"service": "incident-escalation"}
SPEND_PERCENT_METRIC = "SmsSpendPercent"


@dataclass(frozen=True)
class SpendCheck:
    """The spend check function and what runs it hourly."""

    handler: HandlerFunction
    scheduler_role: iam.Role
    schedule: scheduler.CfnSchedule


def add_spend_check(scope: Construct, code: lambda_.Code, layer: lambda_.ILayerVersion) -> SpendCheck:
    """The function, run hourly by EventBridge Scheduler with a role that may invoke it and nothing else."""
    handler = HandlerFunction(
        scope, "SpendCheck", handler="spend_check.handler",
        description="Hourly: this month's SMS cost as a percentage of the monthly text spend limit", code=code,
        layer=layer, environment={}, timeout_seconds=SPEND_CHECK_TIMEOUT_SECONDS,
    )  # fmt: skip
    # Neither action supports resource-level permissions.
    handler.role.add_to_policy(
        iam.PolicyStatement(actions=["sms-voice:DescribeSpendLimits", "cloudwatch:GetMetricStatistics"], resources=["*"])
    )
    # EventBridge Scheduler runs it hourly, with a role that may invoke this function and nothing else.
    scheduler_role = iam.Role(
        scope,
        "SpendCheckSchedulerRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
        ),
        description="EventBridge Scheduler: runs the hourly SMS spend check",
    )
    scheduler_role.add_to_policy(
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[handler.function.function_arn])
    )
    schedule = scheduler.CfnSchedule(
        scope,
        "SpendCheckSchedule",
        description="Hourly check of this month's SMS spend against the monthly text spend limit",
        schedule_expression=f"rate({int(SPEND_CHECK_PERIOD.to_hours())} hour)",
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        target=scheduler.CfnSchedule.TargetProperty(
            arn=handler.function.function_arn,
            role_arn=scheduler_role.role_arn,
            # a missed check is superseded by the next one
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_retry_attempts=2, maximum_event_age_in_seconds=int(SPEND_CHECK_PERIOD.to_seconds())
            ),
        ),
    )
    Validations.of(handler).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            reason=f"{XRAY_REASON} sms-voice:DescribeSpendLimits and cloudwatch:GetMetricStatistics support none either.",
        )
    )
    return SpendCheck(handler=handler, scheduler_role=scheduler_role, schedule=schedule)


def spend_alarms(scope: Construct, spend_check: HandlerFunction) -> list[cloudwatch.Alarm]:
    """The check failing, and the month's spend near and at the limit (no actions: the caller adds them)."""
    alarms = [
        spend_check.function.metric_errors(period=SPEND_CHECK_PERIOD, statistic="Sum").create_alarm(
            scope,
            "SpendCheckErrors",
            alarm_description="SpendCheck: the hourly check of the SMS spend failed (no text spend limit, or "
            "CloudWatch unreadable): nothing warns before the limit stops every page",
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ),
    ]
    spend = cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=SPEND_PERCENT_METRIC,
        dimensions_map=SERVICE_DIMENSION,
        statistic="Maximum",
        period=SPEND_CHECK_PERIOD,
    )
    for percent in SPEND_ALARM_PERCENTS:
        what = (
            "End User Messaging stops sending texts at the limit: every page would fail"
            if percent < 100
            else "End User Messaging stops sending texts now: pages fail until the limit is raised or the month ends"
        )
        alarms.append(
            spend.create_alarm(
                scope,
                f"SmsSpendAt{percent}Percent",
                alarm_description=f"This month's SMS cost reached {percent}% of the account's monthly text spend "
                f"limit: {what}; raise the limit (console, or a quota increase) or find what sends so much",
                threshold=percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
    return alarms
