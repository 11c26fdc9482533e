"""What was accepted is done: an acknowledge or resolve before the escalation starts, repeats of both, and a trigger on an
incident nobody is on (a new pass over the chain, at most once per repeatAfterSeconds).

DynamoDB and Step Functions executions are moto (the stream handler is called with the records DynamoDB would send);
task completions and SMS go through Stubbers where a test checks them exactly.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import alert_events
import page_contact
import pytest
import start_escalation
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber

from escalation.alerts.integrations import create_integration
from escalation.incidents.resolve import Outcome, resolve
from escalation.incidents.timeline import utc_now
from escalation.platform.wiring import dependencies
from tests.conftest import Aws
from tests.unit.alerts_support import INTEGRATIONS_TABLE, api_request, create_integrations_table
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, page_event, sms_request
from tests.unit.events import stream_event, stream_record

_serialize = TypeSerializer().serialize


@pytest.fixture
def integration(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An integration paging FIRST then SECOND; its routing key."""
    monkeypatch.setenv("INTEGRATIONS_TABLE", INTEGRATIONS_TABLE)
    alert_events.integrations_table.cache_clear()
    return create_integration(create_integrations_table(), "alertmanager", contacts=[FIRST, SECOND])


def _image(item: dict[str, Any]) -> dict[str, Any]:
    """An item as a stream record carries it (DynamoDB JSON)."""
    return {name: _serialize(value) for name, value in item.items()}


def _post(context: LambdaContext, body: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
    response = alert_events.handler(api_request(body, request_id=request_id), context)
    return response["statusCode"], json.loads(response["body"])


def _event(integration: dict[str, str], action: str, dedup_key: str = "disk-full-db-1") -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": integration["routing_key"], "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        body["payload"] = {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}
    return body


def _only_incident(aws: Aws) -> dict[str, Any]:
    (item,) = aws.incidents.scan(ConsistentRead=True)["Items"]
    return dict(item)


def _stream_start(context: LambdaContext, item: dict[str, Any], sequence: str = "4200") -> None:
    """The stream handler on the INSERT the alert's put made (it may arrive after anything else)."""
    assert start_escalation.handler(stream_event(stream_record(_image(item), sequence=sequence)), context) == {
        "batchItemFailures": []
    }


@pytest.mark.parametrize("request_gap", ["same sender retry", "another request"])
def test_a_resolve_before_the_escalation_starts_closes_the_incident_and_nobody_is_paged(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext, request_gap: str
) -> None:
    assert _post(lambda_context, _event(integration, "trigger"), "req-trigger")[0] == 202
    written = _only_incident(aws)
    assert "execution_arn" not in written  # the stream has not started it yet

    assert _post(lambda_context, _event(integration, "resolve"), "req-resolve")[0] == 202
    if request_gap == "same sender retry":
        assert _post(lambda_context, _event(integration, "resolve"), "req-resolve-retry")[0] == 202
    _stream_start(lambda_context, written)  # the INSERT's record, processed late

    item = aws.incident(written["incident_id"])
    assert (item["incident_stat"], item["resolved_by"], item["resolved_via"]) == ("resolved", "alertmanager", "req-resolve")
    assert [(entry["event"], entry.get("before_start")) for entry in item["timeline"]] == [("resolved", True)]
    assert aws.executions() == []  # never paged

    # The same alert firing again is a new incident, which pages.
    status, _ = _post(lambda_context, _event(integration, "trigger"), "req-trigger-2")
    assert status == 202
    items = aws.incidents.scan(ConsistentRead=True)["Items"]
    assert len(items) == 2
    (fresh,) = [entry for entry in items if entry["incident_id"] != written["incident_id"]]
    _stream_start(lambda_context, fresh, sequence="4300")
    assert len(aws.executions()) == 1
    assert aws.incident(fresh["incident_id"])["incident_stat"] == "not_acknowledged"


def test_an_acknowledge_before_the_start_holds_the_incident_and_later_triggers_are_repeats(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext
) -> None:
    assert _post(lambda_context, _event(integration, "trigger"), "req-trigger")[0] == 202
    written = _only_incident(aws)
    assert _post(lambda_context, _event(integration, "acknowledge"), "req-ack")[0] == 202
    _stream_start(lambda_context, written)
    assert aws.executions() == []

    # A repeat is counted at once (it used to wait 10 s for a start that never comes, then answer 503).
    status, body = _post(lambda_context, _event(integration, "trigger"), "req-trigger-2")
    assert (status, body["dedup_key"]) == (202, "disk-full-db-1")
    item = aws.incident(written["incident_id"])
    assert (item["incident_stat"], item["acknowledged_by"], item["alert_count"]) == ("acknowledged", "alertmanager", 2)

    assert _post(lambda_context, _event(integration, "resolve"), "req-resolve")[0] == 202
    assert aws.incident(written["incident_id"])["incident_stat"] == "resolved"
    assert aws.executions() == []


def _start_after(
    barrier: threading.Barrier, errors: list[BaseException], context: LambdaContext, item: dict[str, Any], sequence: str
) -> None:
    barrier.wait()
    try:
        _stream_start(context, item, sequence=sequence)
    except BaseException as error:  # reported by the test
        errors.append(error)


@pytest.mark.usefixtures("atomic_moto")
def test_a_resolve_racing_the_start_leaves_the_incident_resolved_either_way(
    integration: dict[str, str], aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    """Twenty rounds of a resolve and the stream's start at the same instant: resolved, never paged open."""
    for round_number in range(20):
        dedup_key = f"flap-{round_number}"
        assert _post(lambda_context, _event(integration, "trigger", dedup_key), f"t-{round_number}")[0] == 202
        (written,) = [item for item in aws.incidents.scan(ConsistentRead=True)["Items"] if item["dedup_key"] == dedup_key]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        thread = threading.Thread(target=_start_after, args=(barrier, errors, lambda_context, written, str(5000 + round_number)))
        thread.start()
        barrier.wait()
        assert _post(lambda_context, _event(integration, "resolve", dedup_key), f"r-{round_number}")[0] == 202
        thread.join()
        assert errors == []
        assert aws.incident(written["incident_id"])["incident_stat"] == "resolved", round_number


def test_a_repeated_resolve_with_a_new_request_id_finishes_the_notices_still_owed(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber
) -> None:
    deps = dependencies()
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"outcome": "resolved"}'})
    sms_stub.add_client_error("send_text_message", "InternalServerException", http_status_code=500)
    with pytest.raises(Exception, match="InternalServerException"):
        resolve(deps, "123", by="alertmanager", via="req-1", at=utc_now())
    assert paged.incident("123")["incident_stat"] == "resolved"

    # The sender retries after the 5xx with a new request id: the notice owed goes out, nothing else changes.
    sms_stub.add_response(
        "send_text_message",
        {"MessageId": "out-2"},
        expected_params=sms_request(FIRST, "Incident 123 was resolved by alertmanager. No action needed."),
    )
    assert resolve(deps, "123", by="alertmanager", via="req-2", at=utc_now()) == Outcome.ALREADY_RESOLVED
    assert resolve(deps, "123", by="alertmanager", via="req-3", at=utc_now()) == Outcome.ALREADY_RESOLVED  # nothing owed
    sms_stub.assert_no_pending_responses()
    assert paged.incident("123")["resolved_via"] == "req-1"


def _exhausted_alert_incident(integration: dict[str, str], aws: Aws, context: LambdaContext) -> str:
    """An alert's incident whose pass went through the chain with nobody answering."""
    assert _post(context, _event(integration, "trigger"), "req-trigger")[0] == 202
    incident_id = str(_only_incident(aws)["incident_id"])
    deps = dependencies()
    assert deps.incidents.record_started(incident_id, [FIRST, SECOND], EXECUTION_ARN, utc_now())
    assert deps.incidents.exhaust(incident_id, execution=EXECUTION_ARN, at=utc_now(), entries=[]) is not None
    return incident_id


def _make_pass_old(aws: Aws, incident_id: str, seconds: int) -> None:
    """The current pass began `seconds` ago (what a wait of that long leaves on the item)."""
    item = aws.incident(incident_id)
    aws.incidents.update_item(
        Key={"incident_id": incident_id},
        UpdateExpression="SET pass_started = :at",
        ExpressionAttributeValues={":at": int(item["pass_started"]) - seconds},
    )


@pytest.mark.usefixtures("atomic_moto")
def test_a_trigger_on_an_incident_nobody_is_on_escalates_it_again_at_most_once_per_repeat_after(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPEAT_AFTER_SECONDS", "3600")
    incident_id = _exhausted_alert_incident(integration, aws, lambda_context)

    # Within the hour: a repeat, nothing is paged.
    assert _post(lambda_context, _event(integration, "trigger"), "req-early")[0] == 202
    item = aws.incident(incident_id)
    assert (item["incident_stat"], item["execution_arn"], item["alert_count"]) == ("unacknowledged", EXECUTION_ARN, 2)

    # An hour on, two triggers at the same instant: one new pass on the same incident, the other a repeat.
    _make_pass_old(aws, incident_id, 3600)
    old = aws.incident(incident_id)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def fire(request_id: str) -> None:
        barrier.wait()
        statuses.append(_post(lambda_context, _event(integration, "trigger"), request_id)[0])

    threads = [threading.Thread(target=fire, args=(f"req-again-{index}",)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202, 202]
    item = aws.incident(incident_id)
    assert item["incident_stat"] == "not_acknowledged"
    assert item["execution_arn"] != EXECUTION_ARN
    assert (item["passes"], item["alert_count"], item["escalation_level"]) == (2, 3, 0)
    assert [entry["event"] for entry in item["timeline"]].count("escalated_again") == 1
    assert "escalated_to" not in item and "task_token" not in item

    # The stream starts the new pass under the execution the item names; a redelivered record starts nothing more.
    record = stream_record(_image(item), sequence="4400", event_name="MODIFY")
    record["dynamodb"]["OldImage"] = _image(old)
    for _ in range(2):
        assert start_escalation.handler(stream_event(record), lambda_context) == {"batchItemFailures": []}
    [execution] = aws.executions()
    assert execution["executionArn"] == item["execution_arn"]
    started = json.loads(aws.stepfunctions.describe_execution(executionArn=execution["executionArn"])["input"])
    assert (started["incident_id"], started["contacts"], started["level"]) == (incident_id, [FIRST, SECOND], 0)

    # While someone holds it, a trigger is a repeat however late.
    deps = dependencies()
    assert deps.incidents.acknowledge_by_reply(incident_id, by=FIRST, at=utc_now(), via="in-1", entries=[]) is not None
    _make_pass_old(aws, incident_id, 86_400)
    assert _post(lambda_context, _event(integration, "trigger"), "req-held")[0] == 202
    item = aws.incident(incident_id)
    assert (item["incident_stat"], item["passes"], item["alert_count"]) == ("acknowledged", 2, 4)


def test_repeat_after_zero_never_escalates_again(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPEAT_AFTER_SECONDS", "0")
    incident_id = _exhausted_alert_incident(integration, aws, lambda_context)
    _make_pass_old(aws, incident_id, 10**6)
    assert _post(lambda_context, _event(integration, "trigger"), "req-late")[0] == 202
    assert aws.incident(incident_id)["incident_stat"] == "unacknowledged"


def test_a_late_write_of_the_first_pass_cannot_touch_the_second(
    integration: dict[str, str], aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass's page task, retried after the new pass began, finds the incident not its own and pages nobody."""
    monkeypatch.setenv("REPEAT_AFTER_SECONDS", "60")
    incident_id = _exhausted_alert_incident(integration, aws, lambda_context)
    _make_pass_old(aws, incident_id, 60)
    assert _post(lambda_context, _event(integration, "trigger"), "req-again")[0] == 202
    assert aws.incident(incident_id)["incident_stat"] == "not_acknowledged"
    outcome = page_contact.handler(page_event(level=1, token="token-old", incident_id=incident_id), lambda_context)
    assert outcome["outcome"] != "paged"  # no SMS either: the Stubber has none queued and would raise
    assert "task_token" not in aws.incident(incident_id)


def test_an_alert_never_overwrites_an_incident_written_by_hand_between_its_check_and_its_put(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IAM cannot require a conditional put: the condition on the alert's put is what protects an open incident."""
    from escalation.alerts import short_ids  # noqa: PLC0415
    from escalation.platform import aws_clients  # noqa: PLC0415

    monkeypatch.setattr(short_ids.secrets, "randbelow", lambda _bound: 4821)  # every draw: 4821, free when checked
    hand_written = {"incident_id": "4821", "description": "written by hand", "contacts": [FIRST]}

    def someone_writes_first(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == "Incidents" and params.get("Item", {}).get("incident_id") in ("4821", {"S": "4821"}):
            aws.incidents.put_item(Item=hand_written)

    events = aws_clients.dynamodb().meta.client.meta.events
    events.register("before-parameter-build.dynamodb.PutItem", someone_writes_first)
    try:
        status, _ = _post(lambda_context, _event(integration, "trigger"), "req-1")
    finally:
        events.unregister("before-parameter-build.dynamodb.PutItem", someone_writes_first)
    assert status == 503  # the sender retries; nothing was overwritten
    assert aws.incident("4821") == hand_written
