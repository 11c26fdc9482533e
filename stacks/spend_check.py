"""Spend: the hourly check of this month's cost against the account's monthly spend limits, and its alarms.

lambdas/spend_check.py runs hourly (EventBridge Scheduler), compares the month's SmsCost with the account's monthly
text spend limit (and VoiceCost with the voice limit when the stack calls, and both with spendBudgetUsd when set)
and publishes the percentages; alarms at 80% and 100% of each, and on the check's own errors. The resources
belong to the Receipts construct (stacks/receipts.py), which creates them through these functions.
"""

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from .functions import XRAY_REASON, HandlerFunction
from .scheduler_roles import invoker_role

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


def add_spend_check(
    scope: Construct, code: lambda_.Code, layer: lambda_.ILayerVersion, *, calls: bool, budget_usd: int
) -> SpendCheck:
    """The function, run hourly by EventBridge Scheduler with a role that may invoke it and nothing else.

    calls: this stack places calls, so the voice limit is checked too; budget_usd: spendBudgetUsd (0: none).
    """
    environment = {"CALLS": "1"} if calls else {}
    if budget_usd:
        environment["SPEND_BUDGET_USD"] = str(budget_usd)
    handler = HandlerFunction(
        scope, "SpendCheck", handler="spend_check.handler",
        description="Hourly: this month's SMS (and call) cost as a percentage of the monthly spend limits", code=code,
        layer=layer, environment=environment, timeout_seconds=SPEND_CHECK_TIMEOUT_SECONDS,
    )  # fmt: skip
    # Neither action supports resource-level permissions.
    handler.role.add_to_policy(
        iam.PolicyStatement(actions=["sms-voice:DescribeSpendLimits", "cloudwatch:GetMetricStatistics"], resources=["*"])
    )
    # EventBridge Scheduler runs it hourly, with a role that may invoke this function and nothing else.
    scheduler_role = invoker_role(
        scope, "SpendCheckSchedulerRole", handler.function, description="EventBridge Scheduler: runs the hourly SMS spend check"
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


# What reaching each percentage means, per metric: (alarm id prefix, metric, what it measures, near, at).
_SPEND_ALARMS = {
    "text": (
        "SmsSpend", SPEND_PERCENT_METRIC, "SMS cost reached {percent}% of the account's monthly text spend limit",
        "End User Messaging stops sending texts at the limit: every page would fail",
        "End User Messaging stops sending texts now: pages fail until the limit is raised or the month ends",
    ),
    "voice": (
        "VoiceSpend", "VoiceSpendPercent", "cost of calls reached {percent}% of the account's monthly voice spend limit",
        "End User Messaging stops placing calls at the limit: people are texted only",
        "End User Messaging places no calls now: people are texted only until the limit is raised or the month ends",
    ),
    "budget": (
        "BudgetSpend", "BudgetSpendPercent", "cost of texts and calls reached {percent}% of spendBudgetUsd",
        "this stack's own budget (nothing stops sending at it)",
        "this stack's own budget is spent (nothing stops sending at it)",
    ),
}  # fmt: skip


def spend_alarms(scope: Construct, spend_check: HandlerFunction, *, calls: bool, budget: bool) -> list[cloudwatch.Alarm]:
    """The check failing, and the month's spend near and at each limit (no actions: the caller adds them)."""
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
    kinds = ["text", *(["voice"] if calls else []), *(["budget"] if budget else [])]
    for kind in kinds:
        prefix, metric_name, reached, near, at = _SPEND_ALARMS[kind]
        spend = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=metric_name,
            dimensions_map=SERVICE_DIMENSION,
            statistic="Maximum",
            period=SPEND_CHECK_PERIOD,
        )
        for percent in SPEND_ALARM_PERCENTS:
            alarms.append(
                spend.create_alarm(
                    scope,
                    f"{prefix}At{percent}Percent",
                    alarm_description=f"This month's {reached.format(percent=percent)}: {near if percent < 100 else at}; "
                    "raise the limit (console, or a quota increase) or find what sends so much",
                    threshold=percent,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
    return alarms
