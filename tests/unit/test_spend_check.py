"""The hourly spend check: this month's SmsCost against the account's monthly text spend limit."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
import spend_check
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.platform import aws_clients
from escalation.sms import spend
from tests.conftest import REGION
from tests.unit.test_escalation_pages_metric import _counts


def limits(*entries: tuple[str, int, int, bool]) -> dict[str, Any]:
    return {"SpendLimits": [{"Name": n, "EnforcedLimit": e, "MaxLimit": m, "Overridden": o} for n, e, m, o in entries]}


@pytest.fixture
def stubs(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, Stubber]]:
    sms = boto3.client("pinpoint-sms-voice-v2", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    monkeypatch.setattr(spend_check, "_sms", lambda: sms)
    monkeypatch.setattr(aws_clients, "cloudwatch", functools.cache(lambda: cloudwatch))
    with Stubber(sms) as sms_stub, Stubber(cloudwatch) as cloudwatch_stub:
        yield sms_stub, cloudwatch_stub
        sms_stub.assert_no_pending_responses()
        cloudwatch_stub.assert_no_pending_responses()


@pytest.mark.parametrize(("overridden", "expected"), [(True, 50), (False, 100)], ids=["enforced limit", "account limit"])
def test_the_limit_is_the_enforced_one_when_set_else_the_accounts(
    stubs: tuple[Stubber, Stubber], overridden: bool, expected: int
) -> None:
    sms, _ = stubs
    sms.add_response(
        "describe_spend_limits",
        limits(("VOICE_MESSAGE_MONTHLY_SPEND_LIMIT", 5, 10, True), ("TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", 50, 100, overridden)),
    )
    assert spend.limit_named(spend.spend_limits(spend_check._sms()), spend.TEXT_LIMIT) == expected


def test_no_text_limit_is_an_error(stubs: tuple[Stubber, Stubber]) -> None:
    sms, _ = stubs
    sms.add_response("describe_spend_limits", limits(("VOICE_MESSAGE_MONTHLY_SPEND_LIMIT", 5, 10, True)))
    with pytest.raises(spend.NoSpendLimit):
        spend.limit_named(spend.spend_limits(spend_check._sms()), spend.TEXT_LIMIT)


def test_month_to_date_reads_the_sum_of_sms_cost_since_the_first_in_whole_hours(stubs: tuple[Stubber, Stubber]) -> None:
    _, cloudwatch = stubs
    now = datetime(2026, 3, 17, 10, 30, tzinfo=UTC)
    cloudwatch.add_response(
        "get_metric_statistics",
        {"Datapoints": [{"Sum": 12.5}, {"Sum": 0.25}]},
        {
            "Namespace": "IncidentEscalation", "MetricName": "SmsCost",
            "Dimensions": [{"Name": "service", "Value": "incident-escalation"}],
            "StartTime": datetime(2026, 3, 1, tzinfo=UTC), "EndTime": now, "Period": 395 * 3600, "Statistics": ["Sum"],
        },
    )  # fmt: skip
    assert spend.month_to_date_cost(aws_clients.cloudwatch(), now) == Decimal("12.75")


@pytest.mark.parametrize(
    ("cost", "limit", "percent"),
    [(Decimal("0.8"), 1, 80.0), (Decimal("12.75"), 100, 12.75), (Decimal(0), 0, 0.0), (Decimal("0.01"), 0, 100.0)],
)
def test_spend_percent(cost: Decimal, limit: int, percent: float) -> None:
    assert spend.spend_percent(cost, limit) == percent


def test_the_check_publishes_the_percentage(
    stubs: tuple[Stubber, Stubber], lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    sms, cloudwatch = stubs
    sms.add_response("describe_spend_limits", limits(("TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", 0, 10, False)))
    cloudwatch.add_response("get_metric_statistics", {"Datapoints": [{"Sum": 8.5}]}, {
        "Namespace": "IncidentEscalation", "MetricName": "SmsCost", "Dimensions": ANY, "StartTime": ANY, "EndTime": ANY,
        "Period": ANY, "Statistics": ["Sum"],
    })  # fmt: skip
    capsys.readouterr()
    assert spend_check.handler({}, lambda_context) == {"month_to_date_usd": "8.5", "limit_usd": 10, "percent": 85.0}
    assert _counts(capsys)["SmsSpendPercent"] == 85.0


def expect_cost(cloudwatch: Stubber, metric: str, total: float) -> None:
    cloudwatch.add_response("get_metric_statistics", {"Datapoints": [{"Sum": total}]}, {
        "Namespace": "IncidentEscalation", "MetricName": metric, "Dimensions": ANY, "StartTime": ANY, "EndTime": ANY,
        "Period": ANY, "Statistics": ["Sum"],
    })  # fmt: skip


def test_a_stack_that_calls_checks_the_voice_limit_and_a_budget_covers_both(
    stubs: tuple[Stubber, Stubber], lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CALLS", "1")
    monkeypatch.setenv("SPEND_BUDGET_USD", "20")
    sms, cloudwatch = stubs
    sms.add_response(
        "describe_spend_limits",
        limits(("TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", 0, 100, False), ("VOICE_MESSAGE_MONTHLY_SPEND_LIMIT", 5, 10, True)),
    )
    expect_cost(cloudwatch, "SmsCost", 12.0)
    expect_cost(cloudwatch, "VoiceCost", 4.5)
    capsys.readouterr()
    result = spend_check.handler({}, lambda_context)
    assert result["percent"] == 12.0
    assert result["voice"] == {"month_to_date_usd": "4.5", "limit_usd": 5, "percent": 90.0}
    assert result["budget"] == {"month_to_date_usd": "16.5", "limit_usd": 20, "percent": 82.5}
    counts = _counts(capsys)
    assert (counts["SmsSpendPercent"], counts["VoiceSpendPercent"], counts["BudgetSpendPercent"]) == (12.0, 90.0, 82.5)


def test_a_stack_that_calls_without_a_voice_limit_listed_fails_the_check(
    stubs: tuple[Stubber, Stubber], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLS", "1")
    sms, _ = stubs
    sms.add_response("describe_spend_limits", limits(("TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", 0, 100, False)))
    with pytest.raises(spend.NoSpendLimit, match="VOICE_MESSAGE_MONTHLY_SPEND_LIMIT"):
        spend_check.handler({}, lambda_context)
