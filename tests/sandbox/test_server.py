"""`make sandbox`: the emulated account served on a local port, driven over HTTP like the AWS CLI would."""

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from escalation.alerts.integrations import create_integration
from sandbox.server import Sandbox, put_item, reply
from sandbox.sms_messages import SentSms

pytestmark = pytest.mark.xdist_group("sandbox-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {limit_s} s")
        time.sleep(0.05)


@pytest.fixture
def running() -> Iterator[tuple[Sandbox, list[SentSms]]]:
    sent: list[SentSms] = []
    sandbox = Sandbox(port=_free_port(), settings={"ackTimeoutSeconds": 30}, on_sms=sent.append, events_port=_free_port()).start()
    try:
        yield sandbox, sent
    finally:
        sandbox.stop()


def test_incident_written_over_http_is_paged_and_a_phone_reply_acknowledges_it(
    running: tuple[Sandbox, list[SentSms]], fixtures_dir: Path
) -> None:
    sandbox, sent = running
    table = put_item(sandbox.endpoint, json.loads((fixtures_dir / "seed_incident_item.json").read_text()))
    _wait_for(lambda: len(sent) == 1, "the page")
    assert sent[0].to == "+447700900001"
    assert sent[0].body.startswith("INCIDENT 123:")

    payload = reply(sandbox.endpoint, "+447700900001", "yes")
    assert payload["previousPublishedMessageId"] == sent[0].message_id  # answers the page, as a phone would

    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-2")
    incidents = session.resource("dynamodb", endpoint_url=sandbox.endpoint).Table(table)
    _wait_for(lambda: incidents.get_item(Key={"incident_id": "123"})["Item"]["incident_stat"] == "acknowledged", "the ack")
    item = incidents.get_item(Key={"incident_id": "123"})["Item"]
    assert item["acknowledged_by"] == "+447700900001"
    assert "aws --endpoint-url" in sandbox.instructions()


def _post(url: str, body: object) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_events_endpoint_serves_alertmanager_through_the_deployed_function(
    running: tuple[Sandbox, list[SentSms]], fixtures_dir: Path
) -> None:
    sandbox, sent = running
    assert sandbox.events_url in sandbox.instructions()
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-2")
    assert sandbox.deployed is not None
    table = session.resource("dynamodb", endpoint_url=sandbox.endpoint).Table(sandbox.deployed.outputs["IntegrationsTableName"])
    key = create_integration(table, "alertmanager", contacts=["+447700900001"])["routing_key"]
    firing = json.loads((fixtures_dir / "alertmanager_firing.json").read_text()) | {"routing_key": key}

    status, body = _post(sandbox.events_url, firing)
    assert (status, body) == (202, {"status": "success", "message": "Event processed", "dedup_key": firing["dedup_key"]})
    _wait_for(lambda: len(sent) == 1, "the page")
    assert sent[0].body.startswith("INCIDENT ") and "HighRequestLatency" in sent[0].body

    status, body = _post(sandbox.events_url, {**firing, "event_action": "snooze"})
    assert status == 400 and body["errors"] == ["event_action: must be one of trigger, acknowledge, resolve"]

    # Not UTF-8: an answer from the function (API Gateway hands it over base64-encoded), never a dropped request.
    request = urllib.request.Request(sandbox.events_url, data=b'{"routing_key": "\xff\xfe"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400, refused.value.read()

    # What `incidents integrations create` prints: the stack output is the local endpoint, not `.../None/enqueue`.
    cloudformation = session.client("cloudformation", endpoint_url=sandbox.endpoint)
    [stack] = cloudformation.describe_stacks(StackName=sandbox.deployed.stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    assert outputs["EventsApiUrl"] == sandbox.events_url


def test_reply_without_a_running_sandbox_says_so() -> None:
    with pytest.raises(Exception, match=r"Could not connect|is the sandbox running"):
        reply(f"http://127.0.0.1:{_free_port()}", "+447700900001", "yes")
