"""The operator function: the CLI's acknowledge and resolve, with the effects of a YES and a RESOLVE by SMS.

DynamoDB is moto; Step Functions and SMS go through Stubbers, so every task completion and every text (and
their absence) is checked exactly.
"""

from __future__ import annotations

import json
from typing import Any

import handle_reply
import operator_actions
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.incidents import operator
from escalation.platform.wiring import dependencies
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, expect_sms
from tests.unit.events import sns_event

ALICE = "cli:alice"
ACKNOWLEDGED_BY_ALICE = '{"outcome": "acknowledged", "acknowledged_by": "cli:alice"}'
RESOLVED = '{"outcome": "resolved"}'
NOTICE = "Incident 123 was acknowledged by cli:alice. No action needed."


def _call(action: str, *, by: str = ALICE, request_id: str = "req-1", incident_id: str = "123") -> dict[str, Any]:
    return operator.handle({"action": action, "incident_id": incident_id, "by": by, "request_id": request_id}, dependencies)


def _yes(payload: dict[str, Any], context: LambdaContext, *, body: str = "YES", message_id: str = "in-1") -> list[str]:
    message = {**payload, "originationNumber": FIRST, "messageBody": body, "inboundMessageId": message_id}
    outcomes: list[str] = handle_reply.handler(sns_event(json.dumps(message)), context)["outcomes"]
    return outcomes


def _sent(aws: Aws) -> list[tuple[str, str]]:
    """Who got which courtesy text about the incident's close (pages and escalation notices left out)."""
    kinds = ("acknowledged_notice", "resolved_notice")
    return [(item["contact"], item["kind"]) for item in aws.sent_messages() if item["kind"] in kinds]


# -- acknowledge -----------------------------------------------------------------------------------


def test_acknowledge_stops_the_escalation_and_tells_the_contact_paged_as_a_yes_would(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": ACKNOWLEDGED_BY_ALICE})
    expect_sms(sms_stub, FIRST, NOTICE)

    result = _call("acknowledge")

    item = paged.incident("123")
    assert result == {
        "ok": True,
        "outcome": "acknowledged",
        "incident_id": "123",
        "acknowledged_by": ALICE,
        "acknowledged_at": item["acknowledged_at"],
        "escalation_stopped": True,
    }
    assert (item["incident_stat"], item["acknowledged_by"], item["acknowledged_via"]) == ("acknowledged", ALICE, "req-1")
    assert "task_token" not in item
    assert {key: item["timeline"][-1][key] for key in ("event", "by")} == {"event": "acknowledged", "by": ALICE}
    assert "phone" not in item["timeline"][-1]


def test_acknowledge_after_escalation_tells_everyone_paged_once_and_a_retry_of_the_request_does_nothing_again(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-1", "output": ACKNOWLEDGED_BY_ALICE})
    expect_sms(sms_stub, FIRST, NOTICE, "out-1")
    expect_sms(sms_stub, SECOND, NOTICE, "out-2")

    first = _call("acknowledge")
    retried = _call("acknowledge")  # the CLI retries with the same request id: nothing more is sent or completed

    assert first["outcome"] == retried["outcome"] == "acknowledged"
    assert retried["acknowledged_at"] == first["acknowledged_at"]
    assert sorted(_sent(escalated)) == [(FIRST, "acknowledged_notice"), (SECOND, "acknowledged_notice")]
    assert [entry["event"] for entry in escalated.incident("123")["timeline"]].count("acknowledged") == 1


def test_a_retry_after_a_failed_notice_sends_only_what_is_owed(escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-1", "output": ACKNOWLEDGED_BY_ALICE})
    expect_sms(sms_stub, FIRST, NOTICE)
    sms_stub.add_client_error("send_text_message", "ThrottlingException", "Rate exceeded")

    with pytest.raises(Exception, match="Rate exceeded"):  # a fault of ours: the function fails, the CLI retries
        _call("acknowledge")
    expect_sms(sms_stub, SECOND, NOTICE, "out-2")
    result = _call("acknowledge")

    assert result["ok"] is True and result["outcome"] == "acknowledged"
    assert sorted(_sent(escalated)) == [(FIRST, "acknowledged_notice"), (SECOND, "acknowledged_notice")]


def test_the_same_person_asking_again_is_told_it_is_theirs_and_nothing_is_sent_twice(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": ACKNOWLEDGED_BY_ALICE})
    expect_sms(sms_stub, FIRST, NOTICE)
    _call("acknowledge")

    again = _call("acknowledge", request_id="req-2")

    assert again["ok"] is True and again["outcome"] == "already_yours"
    assert again["escalation_stopped"] is False  # nothing was waiting any more
    assert paged.incident("123")["acknowledged_via"] == "req-1"


def test_a_yes_by_sms_first_wins_and_the_operator_is_told_who_has_it(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": "token-0", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********01"}'},
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    assert _yes(inbound_payload, lambda_context) == ["acknowledged"]

    result = _call("acknowledge")  # no task completed, no text: the stubs have nothing more queued

    item = paged.incident("123")
    assert result == {
        "ok": False,
        "error": "already_acknowledged",
        "message": f"incident 123 was already acknowledged by {FIRST} at {item['acknowledged_at']}",
        "incident_id": "123",
        "acknowledged_by": FIRST,
        "acknowledged_at": item["acknowledged_at"],
    }
    assert item["acknowledged_by"] == FIRST


def test_an_operator_first_wins_and_a_later_yes_is_told_who_has_it(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": ACKNOWLEDGED_BY_ALICE})
    expect_sms(sms_stub, FIRST, NOTICE)
    assert _call("acknowledge")["outcome"] == "acknowledged"
    expect_sms(sms_stub, FIRST, "Incident 123 is already acknowledged by cli:alice.")

    assert _yes(inbound_payload, lambda_context, body="YES 123") == ["already_acknowledged"]
    assert paged.incident("123")["acknowledged_by"] == ALICE


def test_acknowledge_after_the_chain_was_exhausted_completes_no_task(paged: Aws, sms_stub: Stubber, sfn_stub: Stubber) -> None:
    deps = dependencies()
    deps.incidents.forget_token("123", "token-0")
    assert deps.incidents.exhaust("123", execution=EXECUTION_ARN, at="2026-01-01T00:10:00.000Z", entries=[]) is not None
    expect_sms(sms_stub, FIRST, NOTICE)

    result = _call("acknowledge")  # sfn_stub has nothing queued: a completion would fail the test

    assert result["ok"] is True and result["escalation_stopped"] is False
    assert paged.incident("123")["incident_stat"] == "acknowledged"


# -- resolve ---------------------------------------------------------------------------------------


def test_resolve_stops_the_escalation_and_tells_everyone_paged_who_resolved_it(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-1", "output": RESOLVED})
    notice = "Incident 123 was resolved by cli:alice. No action needed."
    expect_sms(sms_stub, FIRST, notice, "out-1")
    expect_sms(sms_stub, SECOND, notice, "out-2")

    result = _call("resolve")
    retried = _call("resolve")  # the same request again: nothing more

    item = escalated.incident("123")
    assert result == {
        "ok": True,
        "outcome": "resolved",
        "incident_id": "123",
        "resolved_by": ALICE,
        "resolved_at": item["resolved_at"],
        "status_before": "escalation",
    }
    assert retried["outcome"] == "resolved"
    assert (item["incident_stat"], item["resolved_by"], item["resolved_via"]) == ("resolved", ALICE, "req-1")
    assert {key: item["timeline"][-1][key] for key in ("event", "by")} == {"event": "resolved", "by": ALICE}
    assert sorted(_sent(escalated)) == [(FIRST, "resolved_notice"), (SECOND, "resolved_notice")]


def test_resolving_a_resolved_incident_says_who_resolved_it(paged: Aws, sms_stub: Stubber, sfn_stub: Stubber) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": RESOLVED})
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by cli:alice. No action needed.")
    _call("resolve")
    resolved_at = paged.incident("123")["resolved_at"]

    by_bob = _call("resolve", by="cli:bob", request_id="req-2")
    ack_by_bob = _call("acknowledge", by="cli:bob", request_id="req-3")
    again_by_alice = _call("resolve", request_id="req-4")

    expected = {
        "ok": False,
        "error": "already_resolved",
        "message": f"incident 123 was already resolved by cli:alice at {resolved_at}",
        "incident_id": "123",
        "resolved_by": ALICE,
        "resolved_at": resolved_at,
    }
    assert by_bob == expected
    assert ack_by_bob == expected
    assert again_by_alice["ok"] is True and again_by_alice["outcome"] == "already_yours"


def test_resolve_of_an_acknowledged_incident_closes_it(paged: Aws, sms_stub: Stubber, sfn_stub: Stubber) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": ACKNOWLEDGED_BY_ALICE})
    expect_sms(sms_stub, FIRST, NOTICE)
    _call("acknowledge")
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by cli:alice. No action needed.")

    result = _call("resolve", request_id="req-2")  # the token is gone: nothing to complete

    assert result["outcome"] == "resolved" and result["status_before"] == "acknowledged"
    assert paged.incident("123")["incident_stat"] == "resolved"


# -- errors the person can act on ------------------------------------------------------------------


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_an_unknown_incident_is_an_answer_not_a_failure(aws: Aws, action: str) -> None:
    assert _call(action, incident_id="nope") == {
        "ok": False,
        "error": "not_found",
        "message": "no incident 'nope'",
        "incident_id": "nope",
    }


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_an_incident_not_started_yet_says_to_try_again(aws: Aws, seed_item: dict[str, Any], action: str) -> None:
    aws.put_incident(seed_item)
    result = _call(action)
    assert (result["ok"], result["error"]) == (False, "not_started")
    assert "try again in a few seconds" in result["message"]
    assert "incident_stat" not in aws.incident("123") or aws.incident("123")["incident_stat"] == "not_acknowledged"


def test_an_invalid_incident_cannot_be_acknowledged_or_resolved(aws: Aws, seed_item: dict[str, Any]) -> None:
    aws.put_incident({**seed_item, "incident_stat": {"S": "invalid"}, "error": {"S": "contacts: missing"}})
    acked, resolved = _call("acknowledge"), _call("resolve")
    assert (acked["error"], acked["message"]) == (
        "not_acknowledgeable",
        "incident 123 is invalid: there is nothing to acknowledge",
    )
    assert (resolved["error"], resolved["message"]) == (
        "not_resolvable",
        "incident 123 is invalid: there is no escalation to resolve",
    )


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"action": "delete", "incident_id": "123", "by": ALICE, "request_id": "r"}, "action"),
        ({"action": "resolve", "incident_id": "", "by": ALICE, "request_id": "r"}, "incident_id"),
        ({"action": "resolve", "incident_id": "123", "by": FIRST, "request_id": "r"}, "by"),  # never a phone number
        ({"action": "resolve", "incident_id": "123", "by": "cli:", "request_id": "r"}, "by"),
        ({"action": "resolve", "incident_id": "123", "by": ALICE}, "request_id"),
        (["resolve"], "the request"),
    ],
)
def test_a_malformed_request_names_the_field_and_changes_nothing(aws: Aws, request_: Any, field: str) -> None:
    result = operator.handle(request_, dependencies)
    assert (result["ok"], result["error"]) == (False, "invalid_request")
    assert result["message"].startswith(field)


def test_the_entry_point_answers_the_request(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": RESOLVED})
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by cli:bob. No action needed.")
    request = {"action": "resolve", "incident_id": "123", "by": "cli:bob", "request_id": "6d0c4f52-0000-4000-8000-000000000001"}

    result = operator_actions.handler(request, lambda_context)

    assert result["ok"] is True and result["outcome"] == "resolved"
    assert paged.incident("123")["resolved_via"] == request["request_id"]
