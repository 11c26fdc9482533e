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
    assert spend_check.text_spend_limit(spend_check._sms()) == expected


def test_no_text_limit_is_an_error(stubs: tuple[Stubber, Stubber]) -> None:
    sms, _ = stubs
    sms.add_response("describe_spend_limits", limits(("VOICE_MESSAGE_MONTHLY_SPEND_LIMIT", 5, 10, True)))
    with pytest.raises(spend_check.NoTextSpendLimit):
        spend_check.text_spend_limit(spend_check._sms())


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
    assert spend_check.month_to_date_cost(aws_clients.cloudwatch(), now) == Decimal("12.75")


@pytest.mark.parametrize(
    ("cost", "limit", "percent"),
    [(Decimal("0.8"), 1, 80.0), (Decimal("12.75"), 100, 12.75), (Decimal(0), 0, 0.0), (Decimal("0.01"), 0, 100.0)],
)
def test_spend_percent(cost: Decimal, limit: int, percent: float) -> None:
    assert spend_check.spend_percent(cost, limit) == percent


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
