"""Heartbeat monitors on moto: beats, deadlines as one-time schedules, expiry paging through trigger, the next beat resolving.

DynamoDB and EventBridge Scheduler are moto (moto keeps schedules but never fires them: a test fires one by
reading its input and calling the checker, as Scheduler would). Time is a fake clock handed to beat and
check; the trigger and the resolve are the events API's own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import heartbeat_check
import heartbeat_events
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.alerts import heartbeat_deadlines as deadlines
from escalation.alerts import heartbeat_monitors, heartbeat_schedules, heartbeats
from escalation.alerts.integrations import create_integration
from escalation.incidents.resolve import RESOLVED_OUTPUT
from escalation.platform.wiring import dependencies
from tests.conftest import ACCOUNT_ID, REGION, Aws
from tests.unit.alerts_support import INTEGRATIONS_TABLE, create_integrations_table
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, run_page, sms_request

GROUP = "IncidentEscalation-heartbeats"
CHECK_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:heartbeat-check"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/heartbeat-scheduler"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:heartbeat-failures"
INTERVAL, GRACE = 300, 60
NAME = "nightly-backup"


@dataclass
class Clock:
    """The time beat and check see; starts now (claims and short ids use real time), moves when told."""

    at: float = field(default_factory=lambda: float(int(time.time())))
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds

    def advance(self, seconds: float) -> None:
        self.at += seconds


@dataclass
class Monitors:
    """A monitor's world: its table, its schedule group, the clock."""

    table: Any
    scheduler: Any
    schedules: heartbeat_schedules.Schedules
    clock: Clock
    token: str

    def beat(self, token: str | None = None) -> heartbeats.Beat:
        return heartbeats.beat(dependencies(), self.table, self.schedules, token or self.token, now=self.clock)

    def pending(self) -> list[dict[str, Any]]:
        """Every schedule in the group, with its input decoded."""
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        found = [self.scheduler.get_schedule(GroupName=GROUP, Name=name) for name in names]
        return [{**schedule, "payload": json.loads(schedule["Target"]["Input"])} for schedule in found]

    def fire(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """What Scheduler does at a schedule's time: invoke the checker with its input (then delete it)."""
        if payload is None:
            (schedule,) = self.pending()
            payload = schedule["payload"]
            self.scheduler.delete_schedule(GroupName=GROUP, Name=schedule["Name"])
        return deadlines.check(dependencies(), self.table, payload, now=self.clock, sleep=self.clock.sleep)

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = self.table.get_item(Key=heartbeat_monitors.monitor_key(NAME), ConsistentRead=True)["Item"]
        return item


@pytest.fixture
def monitors(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Monitors]:
    """An integration paging FIRST then SECOND, and a monitor on it (5 min, 1 min grace), not armed yet."""
    monkeypatch.setenv("INTEGRATIONS_TABLE", INTEGRATIONS_TABLE)
    heartbeat_schedules.scheduler_client.cache_clear()
    table = create_integrations_table()
    create_integration(table, "batch-jobs", contacts=[FIRST, SECOND])
    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name=GROUP)
    schedules = heartbeat_schedules.Schedules(scheduler, GROUP, CHECK_ARN, ROLE_ARN, DLQ_ARN)
    created = heartbeat_monitors.create_monitor(
        table, NAME, integration="batch-jobs", interval_seconds=INTERVAL, grace_seconds=GRACE
    )
    yield Monitors(table, scheduler, schedules, Clock(), created["token"])
    heartbeat_schedules.scheduler_client.cache_clear()


def _incidents(aws: Aws) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.incidents.scan(ConsistentRead=True)["Items"]
    return items


def test_the_token_is_stored_only_as_its_hash(monitors: Monitors) -> None:
    stored = json.dumps(monitors.table.scan()["Items"], default=str)
    assert monitors.token not in stored and heartbeat_monitors.token_hash(monitors.token) in stored


def test_a_monitor_is_armed_by_its_first_beat(monitors: Monitors) -> None:
    assert monitors.item()["state"] == "waiting" and monitors.pending() == []  # created: nothing to miss yet

    beat = monitors.beat()

    deadline = int(monitors.clock.at) + INTERVAL + GRACE
    assert (beat.outcome, beat.state, beat.deadline) == ("armed", "up", deadline)
    item = monitors.item()
    assert (item["state"], item["beat_seq"], item["deadline"]) == ("up", 1, deadline)
    (schedule,) = monitors.pending()
    minute = time.strftime("%Y-%m-%dT%H:%M:00", time.gmtime(deadline))
    assert schedule["ScheduleExpression"] == f"at({minute})"  # the minute the deadline falls in
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == CHECK_ARN and schedule["Target"]["RoleArn"] == ROLE_ARN
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    assert schedule["payload"] == {"monitor": NAME, "monitor_id": item["monitor_id"], "beat_seq": 1, "deadline": deadline}
    assert schedule["Name"] == item["schedule"]


def test_beats_on_time_never_page_and_leave_one_schedule(monitors: Monitors, aws: Aws) -> None:
    monitors.beat()
    (first,) = monitors.pending()
    for _ in range(3):
        monitors.clock.advance(INTERVAL)
        assert monitors.beat().outcome == "beat"
    (latest,) = monitors.pending()  # each beat deleted the schedule of the deadline it moved
    assert latest["payload"]["beat_seq"] == 4

    monitors.clock.at = first["payload"]["deadline"]  # had the first schedule stayed, it fires now: it does nothing
    assert monitors.fire(first["payload"])["outcome"] == "superseded"
    assert _incidents(aws) == [] and monitors.item()["state"] == "up"


def test_a_late_beat_pages_once_through_the_integration_with_the_monitors_dedup_key(monitors: Monitors, aws: Aws) -> None:
    monitors.beat()
    last_beat = time.strftime("%H:%M", time.gmtime(monitors.clock.at))
    monitors.clock.advance(INTERVAL + GRACE)  # the deadline: no beat since

    result = monitors.fire()

    assert result["outcome"] == "opened"
    (incident,) = _incidents(aws)
    assert incident["incident_id"] == result["incident_id"]
    assert incident["dedup_key"] == "heartbeat:nightly-backup" and incident["integration"] == "batch-jobs"
    assert incident["contacts"] == [FIRST, SECOND] and incident["incident_stat"] == "not_acknowledged"
    assert incident["description"] == f"Heartbeat nightly-backup expired: last beat {last_beat} UTC"
    assert incident["source"] == "heartbeat:nightly-backup"
    item = monitors.item()
    assert (item["state"], item["alerting"], item["incident_id"]) == ("expired", 1, incident["incident_id"])
    assert monitors.pending() == []  # nothing more is armed until the job beats again

    # Scheduler or Lambda delivering the same deadline again pages nobody again.
    payload = {"monitor": NAME, "monitor_id": item["monitor_id"], "beat_seq": 1, "deadline": int(item["deadline"])}
    assert monitors.fire(payload)["outcome"] == "already_paged"
    assert len(_incidents(aws)) == 1


def test_a_checker_invoked_within_the_deadlines_minute_waits_for_the_deadline(monitors: Monitors, aws: Aws) -> None:
    monitors.beat()
    (schedule,) = monitors.pending()
    monitors.clock.advance(INTERVAL + GRACE - 200)
    with pytest.raises(RuntimeError, match="before its deadline"):  # far too early: a fault, retried, never a page
        monitors.fire(schedule["payload"])
    assert _incidents(aws) == [] and monitors.item()["state"] == "up"

    monitors.clock.advance(160)  # Scheduler fired 40 s before the deadline, within its minute
    assert monitors.fire(schedule["payload"])["outcome"] == "opened"
    assert monitors.clock.slept == [40]


def test_the_beat_after_expiry_resolves_the_incident_through_the_resolve_path(
    monitors: Monitors, aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    monitors.beat()
    monitors.clock.advance(INTERVAL + GRACE)
    incident_id = monitors.fire()["incident_id"]
    # The stream starts the escalation and the first contact is paged, as for any alert.
    assert dependencies().incidents.record_started(incident_id, [FIRST, SECOND], EXECUTION_ARN, "2026-01-01T00:00:00.000Z")
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1", incident_id=incident_id)
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": RESOLVED_OUTPUT})
    sms_stub.add_response("send_text_message", {"MessageId": "out-1"}, expected_params=sms_request(FIRST, ANY, incident_id))

    monitors.clock.advance(600)
    beat = monitors.beat()

    assert (beat.outcome, beat.state, beat.resolved) == ("recovered", "up", "resolved")
    incident = aws.incident(incident_id)
    assert (incident["incident_stat"], incident["resolved_by"]) == ("resolved", "batch-jobs")
    item = monitors.item()
    assert item["state"] == "up" and "alerting" not in item
    assert [s["payload"]["beat_seq"] for s in monitors.pending()] == [2]  # armed again

    monitors.clock.advance(INTERVAL + GRACE)  # silent again: a new incident (the last one is resolved)
    assert monitors.fire()["outcome"] == "opened"
    assert len(_incidents(aws)) == 2


def test_a_paused_monitor_never_pages_and_resuming_waits_for_a_beat(monitors: Monitors, aws: Aws) -> None:
    monitors.beat()
    (schedule,) = monitors.pending()

    paused = heartbeat_monitors.pause_monitor(monitors.table, NAME, monitors.schedules)

    assert paused == {"name": NAME, "state": "paused", "was": "up"}
    assert monitors.pending() == []  # its pending deadline is deleted
    monitors.clock.advance(INTERVAL + GRACE)
    assert monitors.fire(schedule["payload"])["outcome"] == "superseded"  # had it fired anyway
    beat = monitors.beat()  # a beat while paused is recorded, arms nothing
    assert (beat.outcome, beat.state, beat.deadline) == ("paused", "paused", None)
    assert monitors.pending() == [] and _incidents(aws) == []
    assert heartbeat_monitors.get_monitor(monitors.table, NAME)["last_beat_at"] == heartbeat_schedules.iso(monitors.clock.at)  # type: ignore[index]

    assert heartbeat_monitors.resume_monitor(monitors.table, NAME) == {"name": NAME, "state": "waiting"}
    assert monitors.pending() == []
    assert monitors.beat().outcome == "armed"
    with pytest.raises(heartbeat_monitors.HeartbeatError, match="is not paused"):
        heartbeat_monitors.resume_monitor(monitors.table, NAME)


def test_pausing_between_a_deadline_and_its_check_pages_nobody(monitors: Monitors, aws: Aws) -> None:
    monitors.beat()
    (schedule,) = monitors.pending()
    monitors.clock.advance(INTERVAL + GRACE)
    monitors.table.update_item(  # paused as the schedule fires (its deadline kept, as if the delete had not happened)
        Key=heartbeat_monitors.monitor_key(NAME), UpdateExpression="SET #s = :p", ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":p": "paused"},
    )  # fmt: skip
    assert monitors.fire(schedule["payload"])["outcome"] == "paused"
    assert _incidents(aws) == []


def test_a_deleted_monitor_loses_its_schedule_and_its_url_answers_410(monitors: Monitors, aws: Aws) -> None:
    monitors.beat()
    (schedule,) = monitors.pending()

    deleted = heartbeat_monitors.delete_monitor(monitors.table, NAME, monitors.schedules)

    assert deleted["name"] == NAME
    assert monitors.pending() == []
    with pytest.raises(heartbeat_monitors.DeletedMonitor):
        monitors.beat()
    with pytest.raises(heartbeat_monitors.UnknownToken):
        monitors.beat("0" * 32)
    with pytest.raises(heartbeat_monitors.UnknownToken):
        monitors.beat("not-a-token")
    monitors.clock.advance(INTERVAL + GRACE)
    assert monitors.fire(schedule["payload"])["outcome"] == "deleted"
    assert heartbeat_monitors.list_monitors(monitors.table) == [] and _incidents(aws) == []
    # A new monitor of the same name is a new monitor: the old schedule's input names another monitor id.
    again = heartbeat_monitors.create_monitor(monitors.table, NAME, integration="batch-jobs", interval_seconds=INTERVAL)
    monitors.token = again["token"]
    monitors.beat()
    assert monitors.fire(schedule["payload"])["outcome"] == "deleted"


def test_a_beat_twice_is_one_beat(monitors: Monitors) -> None:
    first = monitors.beat()
    monitors.clock.advance(1)
    second = monitors.beat()  # a retried curl, a job beating twice

    assert (second.outcome, second.deadline) == ("coalesced", first.deadline)
    assert monitors.item()["beat_seq"] == 1 and len(monitors.pending()) == 1


@pytest.mark.usefixtures("atomic_moto")
def test_concurrent_beats_leave_one_armed_deadline(monitors: Monitors) -> None:
    monitors.beat()
    monitors.clock.advance(60)
    barrier = threading.Barrier(4)
    results: list[heartbeats.Beat] = []

    def beat() -> None:
        barrier.wait()
        results.append(monitors.beat())

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4 and {r.outcome for r in results} <= {"beat", "coalesced"}
    item = monitors.item()
    (schedule,) = monitors.pending()  # the losers deleted their own schedules; the winner its predecessor's
    assert schedule["Name"] == item["schedule"] and schedule["payload"]["beat_seq"] == item["beat_seq"]
    assert item["state"] == "up" and int(item["deadline"]) == int(monitors.clock.at) + INTERVAL + GRACE


@pytest.mark.usefixtures("atomic_moto")
@pytest.mark.parametrize("round_", range(6))
def test_a_beat_racing_its_deadline_never_leaves_an_open_incident(monitors: Monitors, aws: Aws, round_: int) -> None:
    monitors.beat()
    (schedule,) = monitors.pending()
    monitors.clock.advance(INTERVAL + GRACE)  # the deadline, and a beat arriving at the same instant
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def fire() -> None:
        barrier.wait()
        outcomes["check"] = monitors.fire(schedule["payload"])

    def beat() -> None:
        barrier.wait()
        time.sleep(0.002 * round_)  # lands at different points of the checker's work
        outcomes["beat"] = monitors.beat()

    threads = [threading.Thread(target=fire), threading.Thread(target=beat)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    incidents = _incidents(aws)
    assert len(incidents) <= 1
    assert all(incident["incident_stat"] == "resolved" for incident in incidents), (outcomes, incidents)
    if outcomes["check"]["outcome"] == "superseded":  # the beat came first: nobody was paged
        assert incidents == [] and outcomes["beat"].outcome == "beat"
    else:  # the deadline came first: the beat (or the checker, after its trigger) resolved what it opened
        assert outcomes["beat"].outcome == "recovered"
    item = monitors.item()
    assert item["state"] == "up" and "alerting" not in item and item["beat_seq"] == 2
    (armed,) = monitors.pending()
    assert armed["payload"]["beat_seq"] == 2


def test_an_integration_gone_makes_the_checker_fail_loudly(monitors: Monitors) -> None:
    monitors.beat()
    monitors.table.delete_item(Key={"pk": "integration#batch-jobs"})
    monitors.clock.advance(INTERVAL + GRACE)
    with pytest.raises(heartbeat_monitors.NotRouted, match="no integration named 'batch-jobs'"):
        monitors.fire()


def test_create_refuses_what_cannot_work(monitors: Monitors) -> None:
    create = heartbeat_monitors.create_monitor
    with pytest.raises(heartbeat_monitors.HeartbeatError, match="interval: must be from 1 minute"):
        create(monitors.table, "fast", integration="batch-jobs", interval_seconds=30)
    with pytest.raises(heartbeat_monitors.HeartbeatError, match="grace: must be from 0"):
        create(monitors.table, "x", integration="batch-jobs", interval_seconds=60, grace_seconds=-1)
    with pytest.raises(heartbeat_monitors.HeartbeatError, match="integration: no integration 'nope'"):
        create(monitors.table, "x", integration="nope", interval_seconds=60)
    with pytest.raises(heartbeat_monitors.HeartbeatError, match="exists already"):
        create(monitors.table, NAME, integration="batch-jobs", interval_seconds=60)
    with pytest.raises(heartbeat_monitors.HeartbeatError, match="name: must be 1-64"):
        create(monitors.table, "no spaces", integration="batch-jobs", interval_seconds=60)
    assert [m["name"] for m in heartbeat_monitors.list_monitors(monitors.table)] == [NAME]


def test_the_summary_names_the_day_when_the_last_beat_was_not_today() -> None:
    now = 1_772_000_000.0  # 2026-02-25 06:13:20 UTC
    assert deadlines.summary("db", "2026-02-25T06:03:10.000Z", now) == "Heartbeat db expired: last beat 06:03 UTC"
    assert deadlines.summary("db", "2026-02-24T23:58:00.000Z", now) == "Heartbeat db expired: last beat 2026-02-24 23:58 UTC"


# -- the handlers ------------------------------------------------------------------------------------


def _request(token: str, method: str = "POST") -> dict[str, Any]:
    """A REST API proxy-integration event for /v2/heartbeat/{token}."""
    return {
        "resource": "/heartbeat/{token}",
        "path": f"/heartbeat/{token}",
        "httpMethod": method,
        "headers": {},
        "pathParameters": {"token": token},
        "requestContext": {"requestId": "req-1", "stage": "v2", "httpMethod": method},
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.fixture
def endpoint(monitors: Monitors, monkeypatch: pytest.MonkeyPatch) -> Monitors:
    """The handlers' environment, as the stack sets it."""
    for name, value in {
        "HEARTBEAT_SCHEDULE_GROUP": GROUP, "HEARTBEAT_CHECK_ARN": CHECK_ARN, "HEARTBEAT_SCHEDULER_ROLE_ARN": ROLE_ARN,
        "HEARTBEAT_DEAD_LETTER_ARN": DLQ_ARN,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for cached in (heartbeat_events.integrations_table, heartbeat_events.schedules, heartbeat_check.integrations_table):
        cached.cache_clear()
    return monitors


def test_the_endpoint_takes_a_post_and_refuses_a_get(endpoint: Monitors, lambda_context: LambdaContext) -> None:
    got = heartbeat_events.handler(_request(endpoint.token, "GET"), lambda_context)
    assert (got["statusCode"], got["headers"]["Allow"]) == (405, "POST")
    assert endpoint.item()["state"] == "waiting"  # a link preview beats nothing

    posted = heartbeat_events.handler(_request(endpoint.token), lambda_context)

    assert posted["statusCode"] == 200
    body = json.loads(posted["body"])
    assert (body["status"], body["monitor"], body["outcome"], body["state"]) == ("ok", NAME, "armed", "up")
    assert len(endpoint.pending()) == 1
    assert heartbeat_events.handler(_request("f" * 32), lambda_context)["statusCode"] == 404
    heartbeat_monitors.delete_monitor(endpoint.table, NAME, endpoint.schedules)
    assert heartbeat_events.handler(_request(endpoint.token), lambda_context)["statusCode"] == 410


def test_the_checker_handler_pages_for_a_schedules_input(endpoint: Monitors, aws: Aws, lambda_context: LambdaContext) -> None:
    endpoint.beat()
    (schedule,) = endpoint.pending()
    item = endpoint.item()
    endpoint.table.update_item(  # the deadline has passed (the handler reads the real clock)
        Key=heartbeat_monitors.monitor_key(NAME), UpdateExpression="SET deadline = :d", ExpressionAttributeValues={":d": 1}
    )
    payload = {**schedule["payload"], "deadline": 1}

    result = heartbeat_check.handler(payload, lambda_context)

    assert result["outcome"] == "opened" and item["monitor_id"] == payload["monitor_id"]
    assert len(_incidents(aws)) == 1
