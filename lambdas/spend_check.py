"""Scheduled hourly: this month's spend as a percentage of the account's monthly spend limits, and of our budget.

End User Messaging stops sending once a month's spend reaches the limit (the enforced limit when one is set, else
the account limit): from then on every page fails until the limit is raised or the month ends. Texts and calls have
separate limits (DescribeSpendLimits: TEXT_MESSAGE_MONTHLY_SPEND_LIMIT, VOICE_MESSAGE_MONTHLY_SPEND_LIMIT). The
spend is what the receipts function published since the start of the calendar month (UTC): SmsCost for texts,
VoiceCost for calls, i.e. what this stack's messages cost, as their final receipts said.

Published: SmsSpendPercent; VoiceSpendPercent when this stack places calls (CALLS=1); BudgetSpendPercent (texts
and calls together) when the deployment set spendBudgetUsd (SPEND_BUDGET_USD). Alarms tell ops at 80% and 100%
of each (stacks/spend_check.py).

What it cannot see: messages sent by anything else in the account and region (they count against the same limits),
and messages whose final receipt has not come yet (up to 72 hours).
"""

import os
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.platform import aws_clients
from escalation.platform.observability import (
    BUDGET_SPEND_PERCENT,
    SMS_COST,
    SMS_SPEND_PERCENT,
    VOICE_COST,
    VOICE_SPEND_PERCENT,
    logger,
    metrics,
)
from escalation.sms.spend import TEXT_LIMIT, VOICE_LIMIT, limit_named, month_to_date_cost, spend_limits, spend_percent

WARN_AT_PERCENT = 80  # stacks/spend_check.py alarms at this and at 100


@cache
def _sms() -> Any:
    """End User Messaging SMS for reading the limits (retried by the SDK, unlike the clients that send)."""
    return boto3.client("pinpoint-sms-voice-v2", config=aws_clients.SDK_CONFIG)


def _publish(name: str, cost: Decimal, limit: int) -> dict[str, Any]:
    percent = spend_percent(cost, limit)
    metrics.add_metric(name=name, unit=MetricUnit.Percent, value=percent)
    return {"month_to_date_usd": str(cost), "limit_usd": limit, "percent": percent}


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: an EventBridge schedule's event (its content is not used)."""
    now = datetime.now(UTC)
    limits = spend_limits(_sms())
    calls = os.environ.get("CALLS") == "1"
    budget = int(os.environ.get("SPEND_BUDGET_USD") or 0)
    text_limit = limit_named(limits, TEXT_LIMIT)
    voice_limit = limit_named(limits, VOICE_LIMIT) if calls else 0  # both known before anything is published
    text_cost = month_to_date_cost(aws_clients.cloudwatch(), now, SMS_COST)
    result = _publish(SMS_SPEND_PERCENT, text_cost, text_limit)
    voice_cost = Decimal(0)
    if calls:
        voice_cost = month_to_date_cost(aws_clients.cloudwatch(), now, VOICE_COST)
        result["voice"] = _publish(VOICE_SPEND_PERCENT, voice_cost, voice_limit)
    if budget > 0:
        result["budget"] = _publish(BUDGET_SPEND_PERCENT, text_cost + voice_cost, budget)
    highest = max(result["percent"], result.get("voice", {}).get("percent", 0), result.get("budget", {}).get("percent", 0))
    log = logger.warning if highest >= WARN_AT_PERCENT else logger.info
    log("spend this month", extra=result)
    return result
