"""`incidents ack` and `incidents resolve`: the CLI asks the stack's operator function (a Stubber answers for it).

What the function does is tested on the handler itself (tests/unit/test_operator_actions.py); here: the exact
request, one request id reused on retries, and how each answer is shown.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from incidents_cli import operator_function
from tests.cli.conftest import OPERATOR_FUNCTION, STACK, Deployed, LambdaStub
from tests.cli.test_incident_commands import ok, refused

ACKNOWLEDGED = {
    "ok": True,
    "outcome": "acknowledged",
    "incident_id": "INC-5",
    "acknowledged_by": "cli:dana",
    "acknowledged_at": "2026-03-01T10:01:00.000Z",
    "escalation_stopped": True,
}
RESOLVED = {
    "ok": True,
    "outcome": "resolved",
    "incident_id": "INC-5",
    "resolved_by": "cli:dana",
    "resolved_at": "2026-03-01T10:02:00.000Z",
    "status_before": "acknowledged",
}
TAKEN = {
    "ok": False,
    "error": "already_acknowledged",
    "message": "incident INC-5 was already acknowledged by +447700900001 at 2026-03-01T10:01:00.000Z",
    "incident_id": "INC-5",
    "acknowledged_by": "+447700900001",
    "acknowledged_at": "2026-03-01T10:01:00.000Z",
}


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operator_function.time, "sleep", lambda _seconds: None)  # retries without waiting


def _request_id(request: dict[str, Any]) -> str:
    request_id = request["Payload"]["request_id"]
    assert str(uuid.UUID(request_id)) == request_id
    return str(request_id)


@pytest.mark.parametrize(
    ("command", "action", "answer"), [("ack", "acknowledge", ACKNOWLEDGED), ("resolve", "resolve", RESOLVED)]
)
def test_the_command_asks_the_operator_function_as_the_cli_user(
    deployed: Deployed, lambda_stub: LambdaStub, command: str, action: str, answer: dict[str, Any]
) -> None:
    lambda_stub.answer(answer)

    out = ok(deployed.cli(command, "INC-5", "--as", "dana"))

    assert out == answer
    (request,) = lambda_stub.requests
    assert request["FunctionName"] == OPERATOR_FUNCTION and request["InvocationType"] == "RequestResponse"
    assert request["Payload"] == {"action": action, "incident_id": "INC-5", "by": "cli:dana", "request_id": _request_id(request)}


def test_the_user_defaults_to_incidents_user(
    deployed: Deployed, lambda_stub: LambdaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENTS_USER", "erin")
    lambda_stub.answer({**ACKNOWLEDGED, "acknowledged_by": "cli:erin"})
    ok(deployed.cli("ack", "INC-5"))
    assert lambda_stub.requests[0]["Payload"]["by"] == "cli:erin"


def test_each_command_sends_a_new_request_id(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer(ACKNOWLEDGED)
    lambda_stub.answer({**ACKNOWLEDGED, "outcome": "already_yours", "escalation_stopped": False})
    ok(deployed.cli("ack", "INC-5", "--as", "dana"))
    again = ok(deployed.cli("ack", "INC-5", "--as", "dana", json_output=False))
    assert "Already acknowledged by you (cli:dana)" in again
    first, second = (_request_id(request) for request in lambda_stub.requests)
    assert first != second


def test_a_failed_function_is_retried_with_the_same_request_id(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer({"errorType": "SmsThrottled", "errorMessage": "Rate exceeded"}, function_error="Unhandled")
    lambda_stub.fail("TooManyRequestsException", "Rate exceeded")
    lambda_stub.answer(RESOLVED)

    text = ok(deployed.cli("resolve", "INC-5", "--as", "dana", json_output=False))

    assert "Resolved incident INC-5 as cli:dana (it was acknowledged)" in text
    assert len({_request_id(request) for request in lambda_stub.requests}) == 1
    assert len(lambda_stub.requests) == 3


def test_a_function_failing_every_time_says_to_run_the_command_again(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    for _ in range(operator_function.ATTEMPTS):
        lambda_stub.answer({"errorType": "SideEffectInProgress", "errorMessage": "ack_task#INC-5"}, function_error="Unhandled")

    message = refused(deployed.cli("ack", "INC-5", "--as", "dana"))

    assert "the operator function failed 3 times (SideEffectInProgress: ack_task#INC-5)" in message
    assert "run the same command again to finish" in message


def test_someone_else_having_it_is_one_line_and_the_answer_as_json(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer(TAKEN)

    result = deployed.cli("ack", "INC-5", "--as", "dana")

    assert refused(result) == f"error: {TAKEN['message']}\n"
    assert json.loads(result.stdout) == TAKEN
    assert len(lambda_stub.requests) == 1  # an answer, not a failure: never retried


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ({"ok": False, "error": "not_found", "message": "no incident 'INC-404'"}, "error: no incident 'INC-404'"),
        (
            {"ok": False, "error": "invalid_request", "message": "by: must be cli:<name>"},
            "error: by: must be cli:<name> (pass --as NAME or set INCIDENTS_USER)",
        ),
    ],
)
def test_refusals_are_printed_as_the_function_words_them(
    deployed: Deployed, lambda_stub: LambdaStub, answer: dict[str, Any], shown: str
) -> None:
    lambda_stub.answer(answer)
    assert refused(deployed.cli("resolve", "INC-404", "--as", "dana", json_output=False)).strip() == shown


def test_a_stack_without_the_operator_function_says_to_deploy(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.fail("ResourceNotFoundException", f"Function not found: {OPERATOR_FUNCTION}")
    message = refused(deployed.cli("ack", "INC-5", "--as", "dana"))
    assert f"the operator function {OPERATOR_FUNCTION} does not exist: deploy the current version" in message


def test_no_permission_to_invoke_names_the_permission(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.fail("AccessDeniedException", "not authorized")
    message = refused(deployed.cli("resolve", "INC-5", "--as", "dana"))
    assert f"you need lambda:InvokeFunction on {OPERATOR_FUNCTION} (OperatorFunctionName)" in message


def test_an_older_stack_without_the_output_says_to_deploy(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    body = deployed.cloudformation.get_template(StackName=STACK)["TemplateBody"]
    template = dict(body) if not isinstance(body, str) else json.loads(body)
    del template["Outputs"]["OperatorFunctionName"]
    deployed.cloudformation.update_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "StateMachineArn", "UsePreviousValue": True}],
    )
    message = refused(deployed.cli("ack", "INC-5"))
    assert f"stack {STACK} has no output OperatorFunctionName: deploy the current version" in message
    assert lambda_stub.requests == []
