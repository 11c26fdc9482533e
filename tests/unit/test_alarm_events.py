"""CloudWatch alarm state changes (EventBridge) open, repeat and resolve incidents with no glue code.

DynamoDB and CloudWatch (the alarm and its tags) are moto; the events are CloudWatch's documented
`CloudWatch Alarm State Change` shape (tests/data/cloudwatch_alarm_state_change.json).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import alert_events
import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.alerts.alarm_incidents import AlarmNotRouted
from escalation.alerts.alarms import INTEGRATION_TAG, URGENCY_TAG, InvalidAlarmEvent, parse_alarm_event, utc_timestamp
from escalation.alerts.integrations import create_integration
from escalation.platform.wiring import dependencies
from tests.conftest import REGION, Aws
from tests.unit.alerts_support import INTEGRATIONS_TABLE, create_integrations_table
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND

T1 = "2026-03-01T10:00:00.000+0000"
T2 = "2026-03-01T10:05:00.000+0000"
T3 = "2026-03-01T10:10:00.000+0000"


@pytest.fixture
def integrations(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two integrations: `dbteam` (FIRST, SECOND) and `fallback` (SECOND)."""
    monkeypatch.setenv("INTEGRATIONS_TABLE", INTEGRATIONS_TABLE)
    monkeypatch.delenv("ALARM_INTEGRATION", raising=False)
    alert_events.integrations_table.cache_clear()
    table = create_integrations_table()
    create_integration(table, "dbteam", contacts=[FIRST, SECOND])
    create_integration(table, "fallback", contacts=[SECOND])
    return table


def make_alarm(name: str, integration: str | None = "dbteam") -> str:
    """A metric alarm in moto, tagged with the integration it pages; its ARN."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    tags = [{"Key": INTEGRATION_TAG, "Value": integration}] if integration else []
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="CPUUtilization",
        Namespace="AWS/RDS",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=90,
        ComparisonOperator="GreaterThanThreshold",
        Tags=tags,
    )
    arn: str = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    return arn


@pytest.fixture
def sample(fixtures_dir: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((fixtures_dir / "cloudwatch_alarm_state_change.json").read_text())
    return event


def state_change(sample: dict[str, Any], arn: str, state: str, at: str, event_id: str) -> dict[str, Any]:
    """The sample event for another alarm, state and time (as EventBridge would deliver it)."""
    event = copy.deepcopy(sample)
    event["id"] = event_id
    event["region"] = REGION
    event["resources"] = [arn]
    event["detail"]["alarmName"] = arn.rsplit(":", 1)[-1]
    event["detail"]["state"]["value"] = state
    event["detail"]["state"]["timestamp"] = at
    event["time"] = at[:19] + "Z"
    return event


def deliver(context: LambdaContext, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = alert_events.handler(event, context)
    return result


def start(incident_id: str) -> None:
    """What the start handler does for the new item (the stream is not part of a unit test)."""
    assert dependencies().incidents.record_started(incident_id, [FIRST, SECOND], EXECUTION_ARN, "2026-03-01T10:00:01.000Z")


def incidents(aws: Aws) -> list[dict[str, Any]]:
    return sorted(aws.incidents.scan(ConsistentRead=True)["Items"], key=lambda item: str(item["opened_at"]))


def test_the_documented_event_parses_with_the_alarm_arn_name_state_and_utc_time(sample: dict[str, Any]) -> None:
    change = parse_alarm_event(sample)
    assert change.alarm_arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
    assert (change.alarm_name, change.state, change.changed_at) == ("ServerCpuTooHigh", "ALARM", "2019-10-02T17:04:40.989Z")
    assert change.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [99.50160229693434")


def test_alarm_opens_one_incident_keyed_by_its_arn_on_the_integration_its_tag_names(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu")
    result = deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))
    (item,) = incidents(aws)
    assert result["outcome"] == "opened" and result["incident_id"] == item["incident_id"]
    assert (item["dedup_key"], item["integration"], item["contacts"]) == (arn, "dbteam", [FIRST, SECOND])
    assert item["description"].startswith("db-cpu: Threshold Crossed: 1 out of the last 1 datapoints")
    assert item["url"] == f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#alarmsV2:alarm/db-cpu"
    assert (item["incident_stat"], item["alert_count"], item["severity"]) == ("not_acknowledged", 1, "critical")
    assert item["urgency"] == "high"  # an alarm is high urgency unless its tag says low


def test_an_alarm_tagged_low_urgency_opens_a_low_urgency_incident(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("disk-warning")
    boto3.client("cloudwatch", region_name=REGION).tag_resource(ResourceARN=arn, Tags=[{"Key": URGENCY_TAG, "Value": "Low"}])
    deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))
    (item,) = incidents(aws)
    assert (item["urgency"], item["severity"]) == ("low", "critical")


def test_a_repeated_alarm_counts_as_a_repeat_and_ok_resolves(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu")
    alarm = state_change(sample, arn, "ALARM", T1, "e1")
    deliver(lambda_context, alarm)
    (item,) = incidents(aws)
    start(item["incident_id"])
    assert deliver(lambda_context, alarm)["outcome"] == "repeated"  # delivered twice (at least once)
    assert aws.incident(item["incident_id"])["alert_count"] == 2

    result = deliver(lambda_context, state_change(sample, arn, "OK", T2, "e2"))
    assert (result["outcome"], result["incident_id"]) == ("resolved", item["incident_id"])
    item = aws.incident(item["incident_id"])
    assert (item["incident_stat"], item["resolved_by"], item["resolved_via"]) == ("resolved", "dbteam", "alarm-e2")
    assert deliver(lambda_context, state_change(sample, arn, "OK", T2, "e2"))["outcome"] == "resolved"  # a retry of itself
    assert len(incidents(aws)) == 1


def test_a_late_alarm_after_its_ok_does_not_reopen_but_a_newer_alarm_does(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu")
    deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))
    (first,) = incidents(aws)
    start(first["incident_id"])
    deliver(lambda_context, state_change(sample, arn, "OK", T2, "e2"))

    assert deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))["outcome"] == "stale"
    (item,) = incidents(aws)
    assert (item["incident_stat"], item["alert_count"]) == ("resolved", 1)

    assert deliver(lambda_context, state_change(sample, arn, "ALARM", T3, "e3"))["outcome"] == "opened"
    assert [i["incident_stat"] for i in incidents(aws)][-1] == "not_acknowledged"


def test_an_ok_delivered_before_its_alarm_leaves_the_late_alarm_stale(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu")
    deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))
    (first,) = incidents(aws)
    start(first["incident_id"])
    # The alarm fired again (T3) and its OK (T2, before it) is delivered last: the newer incident stays open.
    deliver(lambda_context, state_change(sample, arn, "OK", T2, "e2"))
    assert deliver(lambda_context, state_change(sample, arn, "ALARM", T3, "e3"))["outcome"] == "opened"
    second = incidents(aws)[-1]
    start(second["incident_id"])
    assert deliver(lambda_context, state_change(sample, arn, "OK", T2, "e2"))["outcome"] == "stale"
    assert aws.incident(second["incident_id"])["incident_stat"] == "not_acknowledged"


def test_a_redelivered_alarm_does_not_reopen_an_incident_a_person_resolved(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu")
    alarm = state_change(sample, arn, "ALARM", T1, "e1")
    deliver(lambda_context, alarm)
    (item,) = incidents(aws)
    start(item["incident_id"])
    deps = dependencies()
    deps.incidents.resolve(item["incident_id"], by=FIRST, at="2026-03-01T10:01:00.000Z", via="sms-1", entries=[])
    assert deliver(lambda_context, alarm)["outcome"] == "already_closed"
    assert len(incidents(aws)) == 1


def test_insufficient_data_changes_nothing(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu")
    deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))
    (item,) = incidents(aws)
    start(item["incident_id"])
    assert deliver(lambda_context, state_change(sample, arn, "INSUFFICIENT_DATA", T2, "e2"))["outcome"] == "ignored"
    assert aws.incident(item["incident_id"])["incident_stat"] == "not_acknowledged"
    assert deliver(lambda_context, state_change(sample, arn, "OK", T3, "e3"))["outcome"] == "resolved"


def test_an_untagged_alarm_pages_the_default_integration_or_is_ignored_without_one(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = make_alarm("api-5xx", integration=None)
    assert deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))["outcome"] == "not_routed"
    assert incidents(aws) == []
    monkeypatch.setenv("ALARM_INTEGRATION", "fallback")
    assert deliver(lambda_context, state_change(sample, arn, "ALARM", T2, "e2"))["outcome"] == "opened"
    (item,) = incidents(aws)
    assert (item["integration"], item["contacts"]) == ("fallback", [SECOND])


def test_a_tag_naming_no_integration_is_an_error_naming_the_tag(
    integrations: Any, aws: Aws, sample: dict[str, Any], lambda_context: LambdaContext
) -> None:
    arn = make_alarm("db-cpu", integration="no-such-team")
    with pytest.raises(AlarmNotRouted, match=f"tag {INTEGRATION_TAG}: no integration named 'no-such-team'"):
        deliver(lambda_context, state_change(sample, arn, "ALARM", T1, "e1"))
    assert incidents(aws) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda event: event["detail"]["state"].update(value="PANIC"), "detail.state.value: must be one of ALARM, OK"),
        (lambda event: event["detail"].pop("alarmName"), "detail.alarmName: is required"),
        (lambda event: event.update(resources=[]), "resources: must list the alarm's ARN"),
        (lambda event: event["detail"]["state"].update(timestamp="yesterday"), "detail.state.timestamp: 'yesterday' is not"),
        (lambda event: event.update(detail=None), "detail: must be an object"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(sample: dict[str, Any], change: Any, error: str) -> None:
    event = copy.deepcopy(sample)
    change(event)
    with pytest.raises(InvalidAlarmEvent, match=error.replace("(", r"\(").replace(".", r"\.")):
        parse_alarm_event(event)


def test_state_timestamps_compare_in_utc() -> None:
    assert utc_timestamp("2026-03-01T11:00:00.5+0100", "t") == "2026-03-01T10:00:00.500Z"
    assert utc_timestamp("2026-03-01T10:00:00Z", "t") < utc_timestamp("2026-03-01T10:00:00.001+0000", "t")
