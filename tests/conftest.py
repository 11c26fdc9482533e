"""Shared fixtures: reference data, the handlers' environment, and moto-backed AWS resources.

Only AWS is faked: moto for DynamoDB / SNS / SQS / Step Functions, botocore ``Stubber`` for the
SMS APIs (moto has no End User Messaging) and, where a test wants exact requests, Step Functions.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber
from moto import mock_aws

from escalation.platform import (
    aws_clients,  # lambdas/ is on sys.path (pytest pythonpath)
    observability,
    wiring,
)

# jsii prints a Node.js end-of-life banner on every start-up unless told not to.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-2"
ACCOUNT_ID = "123456789012"  # moto's default account
INCIDENTS_TABLE = "Incidents"
MESSAGES_TABLE = "Messages"
STATE_MACHINE_NAME = "IncidentEscalation"
ORIGINATION_IDENTITY = "+447700900999"
OPS_TOPIC_NAME = "incident-ops"


@pytest.fixture(autouse=True)
def _no_metrics_from_an_earlier_test() -> Iterator[None]:
    """Powertools keeps metrics on the class until a handler flushes them: a test that calls domain code
    directly leaves its counts behind, and the next handler in that worker would publish them as its own."""
    observability.metrics.clear_metrics()
    yield
    observability.metrics.clear_metrics()


# --- reference data ------------------------------------------------------------------------


FIXTURES_DIR = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/data``: the reference data (byte-identical copies; see tests/data/README.md)."""
    assert FIXTURES_DIR.is_dir(), f"reference fixtures not found at {FIXTURES_DIR}"
    return FIXTURES_DIR


@pytest.fixture
def seed_item(fixtures_dir: Path) -> dict[str, Any]:
    """The sample's incident item in DynamoDB JSON (a fresh copy per test)."""
    item: dict[str, Any] = json.loads((fixtures_dir / "seed_incident_item.json").read_text())
    return item


@pytest.fixture
def inbound_payload(fixtures_dir: Path) -> dict[str, Any]:
    """AWS's documented two-way SMS payload, as a dict (a fresh copy per test)."""
    payload: dict[str, Any] = json.loads((fixtures_dir / "inbound_sms_payload.json").read_text())
    return payload


# --- the handlers' environment -------------------------------------------------------------


class FakeLambdaContext:
    """The attributes Powertools (Logger, idempotency) reads from a Lambda context."""

    function_name = "unit-test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:unit-test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/unit-test-function"
    log_stream_name = "unit"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return cast(LambdaContext, FakeLambdaContext())


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Fake credentials and every variable the stack sets on the handlers; caches cleared around the test."""
    env = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "INCIDENTS_TABLE": INCIDENTS_TABLE,
        "MESSAGES_TABLE": MESSAGES_TABLE,
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{STATE_MACHINE_NAME}",
        "SMS_API": "v2",
        "ORIGINATION_IDENTITY": ORIGINATION_IDENTITY,
        "MAX_SMS_SEGMENTS": "1",
        # A short code's rate: a unit test about something else never waits for a send slot in real time
        # (the tests about the rate build their own SendRate, or set the variable).
        "SMS_PARTS_PER_SECOND": "100",
        "OPS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{OPS_TOPIC_NAME}",
        "POWERTOOLS_SERVICE_NAME": "incident-escalation",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_LAMBDA_FUNCTION_NAME": "unit-test-function",
    }
    for name in ("AWS_PROFILE", "CONFIGURATION_SET", "PINPOINT_APPLICATION_ID", "REPEAT", "MESSAGE_TTL_DAYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    yield env
    wiring.reset()


# --- AWS on moto ---------------------------------------------------------------------------


@dataclass
class Aws:
    """The moto resources matching the stack, with handles for assertions."""

    dynamodb: Any  # boto3 DynamoDB client
    incidents: Any  # boto3 Table resource
    messages: Any  # boto3 Table resource
    stepfunctions: Any
    sqs: Any
    state_machine_arn: str
    ops_topic_arn: str
    ops_queue_url: str

    def put_incident(self, item: dict[str, Any]) -> None:
        """Write an item given in DynamoDB JSON (as a user pastes it in the console)."""
        self.dynamodb.put_item(TableName=INCIDENTS_TABLE, Item=item)

    def incident(self, incident_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self.incidents.get_item(Key={"incident_id": incident_id}, ConsistentRead=True)["Item"]
        return item

    def sent_messages(self) -> list[dict[str, Any]]:
        """The outbound message log (the messages table also holds once-only keys, counters and the send slot)."""
        return [item for item in self.messages.scan()["Items"] if "kind" in item]

    def executions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.stepfunctions.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return result

    def ops_messages(self) -> list[dict[str, Any]]:
        """SNS envelopes published to the ops topic (drained through an SQS subscription)."""
        response = self.sqs.receive_message(QueueUrl=self.ops_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(message["Body"]) for message in response.get("Messages", [])]


def create_tables(dynamodb: Any) -> None:
    """The two tables, keyed as in stacks/storage.py."""
    dynamodb.create_table(
        TableName=INCIDENTS_TABLE,
        KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "incident_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    dynamodb.create_table(
        TableName=MESSAGES_TABLE,
        KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "message_id", "AttributeType": "S"},
            {"AttributeName": "contact", "AttributeType": "S"},
            {"AttributeName": "sent_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_contact",
                "KeySchema": [
                    {"AttributeName": "contact", "KeyType": "HASH"},
                    {"AttributeName": "sent_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=MESSAGES_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


_PLACEHOLDER_DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})


@pytest.fixture
def aws(aws_env: dict[str, str]) -> Iterator[Aws]:
    """moto with the incidents and messages tables, a state machine and the ops topic (+ a queue on it)."""
    # Keeping boto3's default session across tests keeps its loaded service models: ~10x faster clients.
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb)
        role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/escalation-workflow"  # moto does not check it
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine_arn = sfn.create_state_machine(name=STATE_MACHINE_NAME, definition=_PLACEHOLDER_DEFINITION, roleArn=role_arn)[
            "stateMachineArn"
        ]
        assert machine_arn == aws_env["STATE_MACHINE_ARN"]
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name=OPS_TOPIC_NAME)["TopicArn"]
        assert topic_arn == aws_env["OPS_TOPIC_ARN"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        resource = boto3.resource("dynamodb", region_name=REGION)
        yield Aws(
            dynamodb=dynamodb,
            incidents=resource.Table(INCIDENTS_TABLE),
            messages=resource.Table(MESSAGES_TABLE),
            stepfunctions=sfn,
            sqs=sqs,
            state_machine_arn=machine_arn,
            ops_topic_arn=topic_arn,
            ops_queue_url=queue_url,
        )


# --- stubbed AWS clients -------------------------------------------------------------------


def _stubbed(monkeypatch: pytest.MonkeyPatch, service: str, factory_name: str) -> Iterator[Stubber]:
    client = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    stubber = Stubber(client)
    # A cached factory like the real one, so wiring.reset() can still clear it.
    monkeypatch.setattr(aws_clients, factory_name, functools.cache(lambda: client))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def sms_stub(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """Stubber on the End User Messaging SMS client the handlers get; any unexpected send fails the test."""
    yield from _stubbed(monkeypatch, "pinpoint-sms-voice-v2", "sms_v2")


@pytest.fixture
def pinpoint_stub(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """Stubber on the legacy Pinpoint client the handlers get."""
    yield from _stubbed(monkeypatch, "pinpoint", "pinpoint")


@pytest.fixture
def sfn_stub(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """Stubber on the Step Functions client the handlers get (exact task-token calls)."""
    yield from _stubbed(monkeypatch, "stepfunctions", "stepfunctions")
