"""Short ids: a closed id rests 7 days, an unresolved alert's id comes back after 7 days, the pool grows before it fills.

DynamoDB is moto. Random draws are made deterministic where a test needs one id drawn (the randomness is the
standard library's, not ours); the pools are made small by lowering the digit count.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import alert_events
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.alerts import short_ids
from escalation.alerts.integrations import create_integration
from escalation.alerts.short_ids import SHORT_ID_REST_SECONDS, reusable
from tests.conftest import Aws
from tests.unit.alerts_support import INTEGRATIONS_TABLE, api_request, create_integrations_table
from tests.unit.conftest import FIRST, SECOND

NOW = time.time()


def _iso(seconds_ago: float) -> str:
    return short_ids.iso_at(NOW, -int(seconds_ago))


DAY = 86_400


@pytest.mark.parametrize(
    ("item", "free"),
    [
        (None, True),
        ({"incident_stat": "resolved", "stat_date": _iso(DAY)}, False),  # resting
        ({"incident_stat": "resolved", "stat_date": _iso(8 * DAY)}, True),
        ({"incident_stat": "invalid", "stat_date": _iso(8 * DAY)}, True),
        ({"incident_stat": "acknowledged", "stat_date": _iso(8 * DAY), "dedup_key": "k"}, True),  # an alert's, forgotten
        ({"incident_stat": "unacknowledged", "stat_date": _iso(8 * DAY), "dedup_key": "k"}, True),
        ({"incident_stat": "acknowledged", "stat_date": _iso(6 * DAY), "dedup_key": "k"}, False),
        ({"incident_stat": "acknowledged", "stat_date": _iso(30 * DAY)}, False),  # written by hand: never taken
        ({"incident_stat": "escalation", "stat_date": _iso(30 * DAY), "dedup_key": "k"}, False),  # being escalated
        ({"stat_date": _iso(30 * DAY)}, False),  # not started
    ],
)
def test_which_ids_may_name_a_new_incident(item: dict[str, Any] | None, free: bool) -> None:
    assert reusable(item, NOW) is free
    assert SHORT_ID_REST_SECONDS == 7 * DAY


@pytest.fixture
def routing_key(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("INTEGRATIONS_TABLE", INTEGRATIONS_TABLE)
    alert_events.integrations_table.cache_clear()
    return create_integration(create_integrations_table(), "alertmanager", contacts=[FIRST, SECOND])["routing_key"]


def _trigger(context: LambdaContext, routing_key: str, dedup_key: str) -> str:
    body = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": f"{dedup_key} firing", "source": "test", "severity": "critical"},
    }
    response = alert_events.handler(api_request(body, request_id=f"req-{dedup_key}"), context)
    assert response["statusCode"] == 202, response
    return str(json.loads(response["body"])["dedup_key"])


def _id_of(aws: Aws, dedup_key: str) -> str:
    (item,) = [item for item in aws.incidents.scan(ConsistentRead=True)["Items"] if item.get("dedup_key") == dedup_key]
    return str(item["incident_id"])


def _draws(monkeypatch: pytest.MonkeyPatch, values: Iterator[int]) -> None:
    monkeypatch.setattr(short_ids.secrets, "randbelow", lambda _bound: next(values))


def test_a_resolved_id_rests_seven_days_then_is_taken_again(
    routing_key: str, aws: Aws, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(short_ids, "SHORT_ID_DIGITS", 2)
    aws.incidents.put_item(Item={"incident_id": "42", "incident_stat": "resolved", "stat_date": _iso(DAY), "timeline": []})
    _draws(monkeypatch, itertools.count(42))  # 42 is drawn first
    _trigger(lambda_context, routing_key, "first")
    assert _id_of(aws, "first") == "43"  # 42 rests: it was resolved a day ago

    aws.incidents.put_item(Item={"incident_id": "42", "incident_stat": "resolved", "stat_date": _iso(8 * DAY), "timeline": []})
    _draws(monkeypatch, itertools.repeat(42))
    _trigger(lambda_context, routing_key, "second")
    assert _id_of(aws, "second") == "42"


def test_the_pool_grows_a_digit_when_half_used_and_a_trigger_never_fails_for_want_of_an_id(
    routing_key: str, aws: Aws, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(short_ids, "SHORT_ID_DIGITS", 1)
    published: list[float] = []
    original = short_ids.metrics.add_metric

    def add_metric(*, name: str, unit: Any, value: float) -> None:
        if name == short_ids.SHORT_ID_POOL_USED:
            published.append(value)
        original(name=name, unit=unit, value=value)

    monkeypatch.setattr(short_ids.metrics, "add_metric", add_metric)
    for digit in range(10):  # every 1-digit id held by an incident being escalated
        aws.incidents.put_item(Item={"incident_id": str(digit), "incident_stat": "escalation", "execution_arn": "x"})
    _trigger(lambda_context, routing_key, "storm")
    assert len(_id_of(aws, "storm")) == 2
    assert published == [100.0]
