"""The sandbox's Lambda runtime: worker processes per function, concurrency, asynchronous deliveries, SMS over HTTP."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from sandbox.cloud_assembly import zip_directory
from sandbox.executions import MOTO_CONFIG
from sandbox.local_lambda import LocalLambdaRuntime
from sandbox.runtime import LocalEndpoint, LocalFunction
from sandbox.server import reply
from sandbox.sms_gateway import SmsGateway

REGION = "us-east-1"
SLOW = """
import json, os, time

def handler(event, context):
    started = time.time()
    if "touch" in event:  # says it is running
        open(event["touch"], "w").close()
    if "Records" in event:
        time.sleep(0.8)
    else:
        time.sleep(float(event.get("sleep", 0)))
    return {"pid": os.getpid(), "started": started, "ended": time.time(), "table": os.environ.get("TABLE")}
"""


class Stack:
    """One function ("slow") on moto, run by a runtime with two workers."""

    def __init__(self, endpoint: LocalEndpoint, runtime: LocalLambdaRuntime, arn: str) -> None:
        self.endpoint = endpoint
        self.runtime = runtime
        self.arn = arn
        self.lam = boto3.client("lambda", region_name=REGION)

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.lam.invoke(FunctionName="slow", Payload=json.dumps(payload))
        body: dict[str, Any] = json.loads(response["Payload"].read())
        if "FunctionError" in response:
            return {"error": body["errorType"]}
        return body


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    code = tmp_path / "code"
    code.mkdir()
    (code / "slow.py").write_text(textwrap.dedent(SLOW))
    with mock_aws(config=MOTO_CONFIG), LocalEndpoint() as endpoint:
        role = boto3.client("iam").create_role(
            RoleName="slow",
            AssumeRolePolicyDocument=json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
            ),
        )["Role"]["Arn"]
        arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="slow",
            Runtime="python3.12",
            Role=role,
            Handler="slow.handler",
            Code={"ZipFile": zip_directory(code)},
            Timeout=2,
        )["FunctionArn"]
        runtime = LocalLambdaRuntime(endpoint_url=endpoint.url, region_name=REGION, max_workers=2).install()
        try:
            runtime.register(
                "slow", LocalFunction(code_dir=code, handler="slow.handler", timeout_s=2, environment={"TABLE": "t"})
            )
            runtime.initialize(workers=2)
            yield Stack(endpoint, runtime, arn)
        finally:
            runtime.uninstall()


def test_invocations_run_concurrently_up_to_the_workers_of_the_function(stack: Stack) -> None:
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(stack.invoke({"sleep": 1.0}))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 3 and all("pid" in r for r in results), results
    first, second, third = sorted(results, key=lambda r: r["started"])
    assert second["started"] < first["ended"]  # two at once, in two processes
    assert len({first["pid"], second["pid"], third["pid"]}) == 2  # never a third process
    assert third["started"] >= min(first["ended"], second["ended"])  # the third waited for a free worker
    assert {r["table"] for r in results} == {"t"}  # the function's own environment


def test_a_write_returns_before_the_stream_handler_runs(stack: Stack) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    stream_arn = ddb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    stack.lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName="slow", StartingPosition="LATEST")
    ddb.put_item(TableName="items", Item={"pk": {"S": "a"}})
    assert stack.runtime.invocations == []  # the handler sleeps 0.8 s: a synchronous delivery would be recorded
    assert stack.runtime.pending() == 1
    assert stack.runtime.wait_settled(20)
    (invocation,) = stack.runtime.invocations
    assert (invocation.source, invocation.error_type) == ("dynamodb-stream", None)


def test_a_publish_returns_before_the_subscribed_handler_runs(stack: Stack) -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=stack.arn)
    sns.publish(TopicArn=topic, Message="hello")
    assert stack.runtime.invocations == []
    assert stack.runtime.wait_settled(20)
    (invocation,) = stack.runtime.invocations
    assert (invocation.source, invocation.error_type) == ("sns", None)


def test_a_handler_past_its_timeout_is_killed_and_the_next_call_gets_a_fresh_process(stack: Stack) -> None:
    assert stack.invoke({"sleep": 5}) == {"error": "Sandbox.Timedout"}
    before = stack.runtime.worker_processes("slow")
    assert "pid" in stack.invoke({"sleep": 0})
    assert stack.runtime.worker_processes("slow") in (before, before + 1)  # an idle warm one, or a cold start
    assert [e.error_type for e in stack.runtime.errors] == ["Sandbox.Timedout"]


def test_stopping_the_runtime_ends_a_handler_still_sleeping_at_once(stack: Stack, tmp_path: Path) -> None:
    # A function that sleeps for minutes (a call waiting for its second, a digest for its window) must not hold
    # the sandbox's stop: Ctrl-C on `make sandbox` stops it now, not when the handler wakes.
    role = boto3.client("iam").get_role(RoleName="slow")["Role"]["Arn"]
    stack.lam.create_function(
        FunctionName="sleeper", Runtime="python3.12", Role=role, Handler="slow.handler",
        Code={"ZipFile": zip_directory(tmp_path / "code")}, Timeout=300,
    )  # fmt: skip
    stack.runtime.register("sleeper", LocalFunction(code_dir=tmp_path / "code", handler="slow.handler", timeout_s=300))
    running = tmp_path / "running"
    stack.lam.invoke(FunctionName="sleeper", InvocationType="Event", Payload=json.dumps({"sleep": 240, "touch": str(running)}))
    deadline = time.monotonic() + 60
    while not running.exists():
        assert time.monotonic() < deadline, "the handler never started"
        time.sleep(0.05)
    stopping = time.monotonic()
    stack.runtime.uninstall()
    assert stack.runtime.wait_settled(30)  # the invocation ended (as a crash) instead of sleeping on for 240 s
    assert time.monotonic() - stopping < 30


def test_sms_gateway_answers_over_http_and_replies_name_the_last_message(stack: Stack) -> None:
    gateway = SmsGateway(origination_numbers={"phone-1": "+15555550199"})
    stack.endpoint.serve_sms(gateway)
    sns = boto3.client("sns", region_name=REGION)
    gateway.inbound_topic_arn = sns.create_topic(Name="inbound")["TopicArn"]
    # a separate session: nothing in-process intercepts it, it goes over HTTP like a worker's call
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION)
    sms = session.client("pinpoint-sms-voice-v2", endpoint_url=stack.endpoint.url)
    page = sms.send_text_message(DestinationPhoneNumber="+15555550100", OriginationIdentity="phone-1", MessageBody="page")
    later = sms.send_text_message(DestinationPhoneNumber="+15555550100", OriginationIdentity="phone-1", MessageBody="fyi")
    assert [m.message_id for m in gateway.sent] == [page["MessageId"], later["MessageId"]]
    gateway.fail_next("ThrottlingException", to="+15555550100")
    with pytest.raises(sms.exceptions.ThrottlingException):
        sms.send_text_message(DestinationPhoneNumber="+15555550100", MessageBody="x")
    gateway.fail_next("ConflictException", "opted out", to="+15555550100", reason="DESTINATION_PHONE_NUMBER_OPTED_OUT")
    with pytest.raises(sms.exceptions.ConflictException) as conflict:
        sms.send_text_message(DestinationPhoneNumber="+15555550100", MessageBody="x")
    assert conflict.value.response["Reason"] == "DESTINATION_PHONE_NUMBER_OPTED_OUT"  # as the service sends it
    with pytest.raises(ValueError, match="no Reason"):
        gateway.fail_next("ConflictException", to="+15555550100", reason="NOT_A_REASON")
    unvalidated = session.client(
        "pinpoint-sms-voice-v2", endpoint_url=stack.endpoint.url, config=Config(parameter_validation=False)
    )
    with pytest.raises(unvalidated.exceptions.ValidationException):  # the gateway validates, as the service does
        unvalidated.send_text_message(DestinationPhoneNumber="+15555550100", MessageBody=42)  # type: ignore[arg-type]
    payload = reply(stack.endpoint.url, "+15555550100", "YES")
    # SMS has no threads: the reply names the last message sent to that phone, not the page
    assert payload["previousPublishedMessageId"] == later["MessageId"]
    assert payload["destinationNumber"] == "+15555550199"
    with pytest.raises(LookupError, match="nothing was sent"):
        reply(stack.endpoint.url, "+15555550111", "YES")
