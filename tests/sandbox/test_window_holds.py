"""Task timeouts that wait for the scenario (sandbox.windows.WindowHolds), on a real state machine.

No assertion here is about how fast anything is: a held timeout cannot fire, however slow the
machine, and a released one must fire, however long that takes (bounded only by a generous limit).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from sandbox.executions import MOTO_CONFIG, drain_executions, wait_for_executions
from sandbox.local_lambda import LocalLambdaRuntime
from sandbox.windows import WINDOWS, WindowHolds

REGION = "us-east-1"
# A one-second acknowledgement window: a token sent to a queue, then waited for.
DEFINITION = {
    "StartAt": "Wait for token",
    "States": {
        "Wait for token": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl.$": "$.queue", "MessageBody": {"token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 1,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Timed out"}],
            "Next": "Answered",
        },
        "Timed out": {"Type": "Pass", "Result": {"outcome": "timed out"}, "End": True},
        "Answered": {"Type": "Pass", "Result": {"outcome": "answered"}, "End": True},
    },
}


@pytest.fixture
def runtime() -> Iterator[LocalLambdaRuntime]:
    """The local Lambda runtime, installed (it installs the seams)."""
    local = LocalLambdaRuntime(endpoint_url="http://127.0.0.1:9").install()
    try:
        yield local
    finally:
        local.uninstall()


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, runtime: LocalLambdaRuntime) -> Iterator[tuple[str, str]]:
    """(state machine ARN, queue URL) on moto with the sandbox's seams installed."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config=MOTO_CONFIG):
        try:
            queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="tokens")["QueueUrl"]
            arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name="window",
                definition=json.dumps(DEFINITION),
                roleArn="arn:aws:iam::123456789012:role/sfn",
            )["stateMachineArn"]
            yield arn, queue
        finally:
            drain_executions(60, region_name=REGION)  # a hang guard: moto's worker threads end late on a busy machine


def _start(machine: tuple[str, str], name: str) -> str:
    arn, queue = machine
    sfn = boto3.client("stepfunctions", region_name=REGION)
    execution_arn: str = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"queue": queue}))["executionArn"]
    return execution_arn


def _token(queue: str) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    for _ in range(200):  # the task sends its token when it starts; each receive waits up to 0.1 s
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])
        if messages:
            token: str = json.loads(messages[0]["Body"])["token"]
            return token
        threading.Event().wait(0.1)
    raise AssertionError("the task never sent its token")


def _output(execution_arn: str) -> str:
    (execution,) = wait_for_executions(60, region_name=REGION, execution_arns=[execution_arn])
    assert execution["status"] == "SUCCEEDED", execution
    outcome: str = json.loads(execution["output"])["outcome"]
    return outcome


def test_an_unheld_window_times_out(machine: tuple[str, str]) -> None:
    assert _output(_start(machine, "unheld")) == "timed out"


def test_a_held_window_waits_for_the_answer_however_late(machine: tuple[str, str]) -> None:
    WINDOWS.acquire()
    execution_arn = _start(machine, "held")
    token = _token(machine[1])
    # Three times the window: the timeout came due long ago, yet the task still takes its answer.
    threading.Event().wait(3)
    boto3.client("stepfunctions", region_name=REGION).send_task_success(taskToken=token, output="{}")
    WINDOWS.release()
    assert _output(execution_arn) == "answered"


def test_a_timeout_that_came_due_while_held_fires_on_release(machine: tuple[str, str]) -> None:
    WINDOWS.acquire()
    execution_arn = _start(machine, "released")
    _token(machine[1])
    threading.Event().wait(2)
    WINDOWS.release()
    assert _output(execution_arn) == "timed out"


def test_work_in_flight_holds_the_window_until_it_ends(machine: tuple[str, str], runtime: LocalLambdaRuntime) -> None:
    runtime.work_started(1)  # a handler running (a slow cold start, say) while the window comes due
    execution_arn = _start(machine, "busy")
    _token(machine[1])
    threading.Event().wait(2)
    status = boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=execution_arn)["status"]
    assert status == "RUNNING"
    runtime.work_finished(1)
    assert _output(execution_arn) == "timed out"


def test_holds_count_and_a_set_event_is_never_held() -> None:
    holds = WindowHolds()
    due = threading.Event()
    results: list[bool] = []
    holds.acquire()
    holds.acquire()
    waiter = threading.Thread(target=lambda: results.append(holds.wait(due, 0.01)))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and holds.held == 2  # came due, held
    holds.release()
    waiter.join(0.5)
    assert waiter.is_alive()  # one hold is still taken
    holds.release()
    waiter.join(30)
    assert results == [False]  # timed out once nothing held it
    holds.acquire()
    answered = threading.Event()
    answered.set()
    assert holds.wait(answered, 0.01) is True  # an answered wait returns at once, held or not
    holds.reset()
    assert holds.held == 0
