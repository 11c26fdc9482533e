"""The CLI against moto: the stack's tables and outputs as CloudFormation resources; a workflow parks real task tokens."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws
from typer.testing import CliRunner

from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry
from escalation.oncall.store import OncallStore, definitions_item
from escalation.store.repository import IncidentRepository
from incidents_cli.main import app
from sandbox.executions import drain_executions
from stacks.oncall_config import load_oncall
from stacks.storage import HISTORY_SORT_KEY
from tests.conftest import ACCOUNT_ID, REGION

STACK = "IncidentEscalation"
FIRST = "+447700900001"
SECOND = "+447700900002"
STARTED_AT = "2026-03-01T10:00:00.000Z"
EVENTS_API_URL = "https://abc123.execute-api.eu-west-2.amazonaws.com/v2/enqueue"
HEARTBEATS_URL = "https://abc123.execute-api.eu-west-2.amazonaws.com/v2/heartbeat"
HEARTBEAT_SCHEDULE_GROUP = "IncidentEscalation-heartbeats"
OPERATOR_FUNCTION = "IncidentEscalation-OperatorFunction-AbC123"
ALLOWED_CALLING_CODES = "353,44"  # allowedCountries GB,IE as the stack's output gives them
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "core": {"reset_boto3_session": False}}


def _table(keys: list[tuple[str, str]], stream: bool = False) -> dict[str, Any]:
    """A table resource keyed as in stacks/storage.py."""
    properties: dict[str, Any] = {
        "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if stream:
        properties["StreamSpecification"] = {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    return {"Type": "AWS::DynamoDB::Table", "Properties": properties}


def stack_template(*, oncall: bool = True, allowed_calling_codes: str | None = ALLOWED_CALLING_CODES) -> str:
    """The deployed stack as the CLI sees it: the tables and the outputs that name them (None: an output left out)."""
    resources = {
        "Incidents": _table([("incident_id", "HASH")], stream=True),
        "IncidentHistory": _table([("incident_id", "HASH"), (HISTORY_SORT_KEY, "RANGE")]),
    }
    resources["Integrations"] = _table([("pk", "HASH")])
    outputs: dict[str, Any] = {
        "IncidentsTableName": {"Value": {"Ref": "Incidents"}},
        "IncidentHistoryTableName": {"Value": {"Ref": "IncidentHistory"}},
        "StateMachineArn": {"Value": {"Ref": "StateMachineArn"}},
        "IntegrationsTableName": {"Value": {"Ref": "Integrations"}},
        "EventsApiUrl": {"Value": EVENTS_API_URL},
        "HeartbeatsUrl": {"Value": HEARTBEATS_URL},
        "HeartbeatScheduleGroup": {"Value": HEARTBEAT_SCHEDULE_GROUP},
        "OperatorFunctionName": {"Value": OPERATOR_FUNCTION},
    }
    if allowed_calling_codes is not None:
        outputs["AllowedCallingCodes"] = {"Value": allowed_calling_codes}
    if oncall:
        resources["Oncall"] = _table([("pk", "HASH"), ("sk", "RANGE")])
        outputs["OncallTableName"] = {"Value": {"Ref": "Oncall"}}
    return json.dumps(
        {
            "Parameters": {"StateMachineArn": {"Type": "String"}},
            "Resources": resources,
            "Outputs": outputs,
        }
    )


@dataclass
class Deployed:
    """The stack on moto, with handles to drive it as the functions would."""

    runner: CliRunner
    cloudformation: Any
    stepfunctions: Any
    sqs: Any
    queue_url: str
    state_machine_arn: str
    incidents: Any  # Table resource
    oncall: Any  # Table resource
    integrations: Any  # Table resource

    def cli(self, *args: str, json_output: bool = True) -> Any:
        """Run `incidents` with args (and --json unless told otherwise)."""
        root = ["--region", REGION, "--stack", STACK, *(["--json"] if json_output else [])]
        return self.runner.invoke(app, [*root, *args])

    def start(self, incident_id: str, contacts: tuple[str, ...] = (FIRST, SECOND), *, at: str = STARTED_AT) -> str:
        """Do what the stream handler and the first page do: start an execution, record it, park its real task token."""
        name = f"incident-{incident_id}-{uuid.uuid4().hex[:16]}"  # moto names every unnamed execution "None"
        started = self.stepfunctions.start_execution(stateMachineArn=self.state_machine_arn, name=name, input="{}")
        execution: str = started["executionArn"]
        token = self._next_token()
        repository = IncidentRepository(self.incidents)
        assert repository.record_started(incident_id, list(contacts), execution, at)
        assert repository.park_token(incident_id, execution=execution, level=0, contacts=[contacts[0]], token=token, at=at)
        repository.record_sent(incident_id, timeline_entry(Event.PAGED, at, level=0, phone=contacts[0], segments=1))
        return execution

    def _next_token(self) -> str:
        deadline = time.monotonic() + 60  # a hang guard only: a busy machine may take seconds
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1).get("Messages", [])
            if messages:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
                token: str = json.loads(messages[0]["Body"])["token"]
                return token
            time.sleep(0.05)
        raise AssertionError("the workflow parked no task token")

    def item(self, incident_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self.incidents.get_item(Key={"incident_id": incident_id}, ConsistentRead=True)["Item"]
        return item


def _wait_for_token_definition(queue_url: str) -> str:
    """A one-state workflow whose task waits for its token, like "Page contact" (here the token goes to a queue)."""
    page = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
        "TimeoutSeconds": 300,
        "End": True,
    }
    return json.dumps({"StartAt": "Page contact", "States": {"Page contact": page}})


@pytest.fixture
def deployed(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    """The stack deployed on moto with the repository's oncall.yaml in its on-call table."""
    monkeypatch.setenv("COLUMNS", "200")  # tables as wide as a terminal would show them
    with mock_aws(config=MOTO_CONFIG):
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="pages")["QueueUrl"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name=f"{STACK}-escalation",
            definition=_wait_for_token_definition(queue_url),
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/escalation-workflow",
        )["stateMachineArn"]
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=stack_template(),
            Parameters=[{"ParameterKey": "StateMachineArn", "ParameterValue": machine}],
        )
        outputs = {
            output["OutputKey"]: output["OutputValue"]
            for output in cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
        }
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        oncall = dynamodb.Table(outputs["OncallTableName"])
        oncall.put_item(Item=definitions_item(load_oncall()))
        OncallStore._cache.clear()
        yield Deployed(
            runner=CliRunner(),
            cloudformation=cloudformation,
            stepfunctions=sfn,
            sqs=sqs,
            queue_url=queue_url,
            state_machine_arn=machine,
            incidents=dynamodb.Table(outputs["IncidentsTableName"]),
            oncall=oncall,
            integrations=dynamodb.Table(outputs["IntegrationsTableName"]),
        )
        # Executions still waiting for a token would outlive the test in moto's worker threads (and trip the next
        # test in this process that waits for every execution to finish): stop them and wait for their threads.
        drain_executions(region_name=REGION)


@dataclass
class LambdaStub:
    """The Stubber on the CLI's Lambda client, and every Invoke request the CLI made (its payload decoded)."""

    stubber: Stubber
    requests: list[dict[str, Any]]

    def answer(self, body: Any, *, function_error: str | None = None) -> None:
        """Queue one Invoke response carrying body; the request must name the operator function, synchronously."""
        data = json.dumps(body).encode()
        response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(data), len(data))}
        if function_error:
            response["FunctionError"] = function_error
        expected = {"FunctionName": OPERATOR_FUNCTION, "InvocationType": "RequestResponse", "Payload": ANY}
        self.stubber.add_response("invoke", response, expected_params=expected)

    def fail(self, code: str, message: str = "") -> None:
        self.stubber.add_client_error("invoke", service_error_code=code, service_message=message)


@pytest.fixture
def lambda_stub(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaStub]:
    """A Stubber on every Lambda client the CLI makes (moto runs functions only in Docker); other services stay on moto."""
    client = boto3.client("lambda", region_name=REGION)
    stub = LambdaStub(Stubber(client), [])

    def record(params: dict[str, Any], **_: Any) -> None:
        stub.requests.append({**params, "Payload": json.loads(params["Payload"])})

    client.meta.events.register("provide-client-params.lambda.Invoke", record)
    make_client = boto3.session.Session.client

    def session_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        return client if service_name == "lambda" else make_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", session_client)
    with stub.stubber:
        yield stub
    stub.stubber.assert_no_pending_responses()
