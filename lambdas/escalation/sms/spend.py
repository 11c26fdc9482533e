"""Monthly spend: the account's End User Messaging spend limits, this stack's cost so far this month, the percentage.

End User Messaging stops sending once a month's spend reaches a limit (the enforced limit when one is set, else
the account limit). Texts and calls have separate limits. The cost is what the receipts function
(escalation.sms.receipts) published since the start of the calendar month (UTC): SmsCost for texts, VoiceCost for
calls. lambdas/spend_check.py puts these together hourly.
"""

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from escalation.platform.observability import NAMESPACE, SERVICE, SMS_COST

TEXT_LIMIT = "TEXT_MESSAGE_MONTHLY_SPEND_LIMIT"
VOICE_LIMIT = "VOICE_MESSAGE_MONTHLY_SPEND_LIMIT"


class NoSpendLimit(RuntimeError):
    """DescribeSpendLimits listed no text limit (nor a voice limit, for a stack that calls): the check cannot say how close."""


def spend_limits(client: Any) -> dict[str, int]:
    """Each monthly limit listed, in US dollars: the enforced limit when it is overridden, else the account's."""
    limits: dict[str, int] = {}
    for page in client.get_paginator("describe_spend_limits").paginate():
        for limit in page.get("SpendLimits", []):
            limits[limit["Name"]] = int(limit["EnforcedLimit"] if limit.get("Overridden") else limit["MaxLimit"])
    return limits


def limit_named(limits: dict[str, int], name: str) -> int:
    """The listed limit called name (TEXT_LIMIT, VOICE_LIMIT), in US dollars; NoSpendLimit when it is not listed."""
    if name not in limits:
        raise NoSpendLimit(f"DescribeSpendLimits has no {name}")
    return limits[name]


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of now's month."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_to_date_cost(cloudwatch: Any, now: datetime, metric: str = SMS_COST) -> Decimal:
    """The metric's sum since the start of the month, in one period (whole hours, as CloudWatch needs past 15 days)."""
    start = month_start(now)
    period = max(3600, math.ceil((now - start).total_seconds() / 3600) * 3600)
    response = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
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
