"""Scheduled hourly: this month's text spend as a percentage of the account's monthly text spend limit.

End User Messaging SMS stops sending once a month's spend reaches the limit (the enforced limit when one is set,
else the account limit): from then on every page fails until the limit is raised or the month ends. The limit comes
from DescribeSpendLimits (TEXT_MESSAGE_MONTHLY_SPEND_LIMIT); the spend is the SmsCost the receipts function
published since the start of the calendar month (UTC), i.e. what this stack's texts cost, as their final receipts
said. The result is published as SmsSpendPercent, on which two alarms tell ops at 80% and at 100%.

What it cannot see: texts sent by anything else in the account and region (they count against the same limit), and
texts whose final receipt has not come yet (up to 72 hours).
"""

import math
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.platform import aws_clients
from escalation.platform.observability import NAMESPACE, SERVICE, SMS_COST, SMS_SPEND_PERCENT, logger, metrics

TEXT_LIMIT = "TEXT_MESSAGE_MONTHLY_SPEND_LIMIT"
WARN_AT_PERCENT = 80  # stacks/spend_check.py alarms at this and at 100


class NoTextSpendLimit(RuntimeError):
    """DescribeSpendLimits listed no text limit: the check cannot say how close the spend is."""


@cache
def _sms() -> Any:
    """End User Messaging SMS for reading the limits (retried by the SDK, unlike the clients that send)."""
    return boto3.client("pinpoint-sms-voice-v2", config=aws_clients.SDK_CONFIG)


def text_spend_limit(client: Any) -> int:
    """The monthly text limit in US dollars: the enforced limit when it is overridden, else the account's."""
    for page in client.get_paginator("describe_spend_limits").paginate():
        for limit in page.get("SpendLimits", []):
            if limit["Name"] == TEXT_LIMIT:
                return int(limit["EnforcedLimit"] if limit.get("Overridden") else limit["MaxLimit"])
    raise NoTextSpendLimit(f"DescribeSpendLimits has no {TEXT_LIMIT}")


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of now's month."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_to_date_cost(cloudwatch: Any, now: datetime) -> Decimal:
    """The SmsCost published since the start of the month, in one period (whole hours, as CloudWatch needs past 15 days)."""
    start = month_start(now)
    period = max(3600, math.ceil((now - start).total_seconds() / 3600) * 3600)
    response = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=SMS_COST,
        Dimensions=[{"Name": "service", "Value": SERVICE}],
        StartTime=start,
        EndTime=now,
        Period=period,
        Statistics=["Sum"],
    )
    return sum((Decimal(str(point["Sum"])) for point in response.get("Datapoints", [])), Decimal(0))


def spend_percent(cost: Decimal, limit: int) -> float:
    """The cost as a percentage of the limit (a limit of 0 is reached by any spend)."""
    if limit <= 0:
        return 100.0 if cost > 0 else 0.0
    return round(float(cost * 100 / limit), 3)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: an EventBridge schedule's event (its content is not used)."""
    now = datetime.now(UTC)
    limit = text_spend_limit(_sms())
    cost = month_to_date_cost(aws_clients.cloudwatch(), now)
    percent = spend_percent(cost, limit)
    metrics.add_metric(name=SMS_SPEND_PERCENT, unit=MetricUnit.Percent, value=percent)
    result = {"month_to_date_usd": str(cost), "limit_usd": limit, "percent": percent}
    log = logger.warning if percent >= WARN_AT_PERCENT else logger.info
    log("text spend this month", extra=result)
    return result
