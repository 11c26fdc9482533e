"""Resolving: RESOLVE by SMS and the shared resolve() every entry point calls.

Step Functions calls go through a Stubber (every task completion, and its absence, is checked exactly);
SMS through a Stubber on the SMS client; DynamoDB is moto.
"""

from __future__ import annotations

import json
from typing import Any

import handle_reply
import mark_unacknowledged
import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.incidents.resolve import Outcome, resolve
from escalation.platform.wiring import dependencies
from escalation.replies.grammar import Intent, Reply, parse_reply
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, expect_sms, page_event
from tests.unit.events import sns_event

RESOLVED_TASK = {"taskToken": "token-0", "output": '{"outcome": "resolved"}'}
AT = "2026-01-01T00:10:00.000Z"


def _inbound(payload: dict[str, Any], *, sender: str = FIRST, body: str, message_id: str = "in-1") -> str:
    return json.dumps({**payload, "originationNumber": sender, "messageBody": body, "inboundMessageId": message_id})


def _reply(context: LambdaContext, *messages: str) -> list[str]:
    outcomes: list[str] = handle_reply.handler(sns_event(*messages), context)["outcomes"]
    return outcomes


def _events(aws: Aws, incident_id: str = "123") -> list[str]:
    return [entry["event"] for entry in aws.incident(incident_id)["timeline"]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RESOLVE", Reply(Intent.RESOLVE)),
        (" resolve. ", Reply(Intent.RESOLVE)),
        ("Resolve #123", Reply(Intent.RESOLVE, "123")),
        ("resolve 4821!", Reply(Intent.RESOLVE, "4821")),
        ("resolved", Reply(Intent.UNKNOWN)),
        ("resolve it now", Reply(Intent.UNKNOWN)),
    ],
)
def test_resolve_is_a_whole_message_keyword_with_an_optional_id(text: str, expected: Reply) -> None:
    assert parse_reply(text) == expected


def test_resolve_by_sms_stops_the_escalation_and_confirms(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params=RESOLVED_TASK)
    expect_sms(sms_stub, FIRST, "Incident 123 resolved. Thank you. Escalation stopped.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="Resolve")) == ["resolved"]

    item = paged.incident("123")
    assert (item["incident_stat"], item["resolved_by"], item["resolved_via"]) == ("resolved", FIRST, "in-1")
    assert item["resolved_at"] == item["stat_date"]
    assert "task_token" not in item
    assert _events(paged)[-2:] == ["reply", "resolved"]
    assert item["timeline"][-1]["by"] == "+44********01"  # masked on the audit log


def test_resolve_from_an_earlier_contact_tells_everyone_else_paged_once(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={**RESOLVED_TASK, "taskToken": "token-1"})
    expect_sms(sms_stub, FIRST, "Incident 123 resolved. Thank you. Escalation stopped.")
    expect_sms(sms_stub, SECOND, f"Incident 123 was resolved by {FIRST}. No action needed.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="RESOLVE 123")) == ["resolved"]
    # A second RESOLVE (another message) changes nothing and sends nothing to the resolver; others hear who, once.
    expect_sms(sms_stub, SECOND, f"Incident 123 is already resolved by {FIRST}. No action needed.")
    outcomes = _reply(
        lambda_context,
        _inbound(inbound_payload, body="resolve", message_id="in-2"),
        _inbound(inbound_payload, sender=SECOND, body="resolve", message_id="in-3"),
        _inbound(inbound_payload, sender=SECOND, body="yes", message_id="in-4"),
    )
    assert outcomes == ["already_yours", "already_resolved", "already_resolved_already_sent"]
    assert _events(escalated).count("resolved") == 1


def test_resolve_of_an_acknowledged_incident_completes_nothing_more(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": "token-0", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********01"}'},
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="yes")) == ["acknowledged"]

    expect_sms(sms_stub, FIRST, "Incident 123 resolved. Thank you. Escalation stopped.")
    # A bare RESOLVE takes the acknowledged incident (YES, fix it, RESOLVE); no task is left to complete.
    assert _reply(lambda_context, _inbound(inbound_payload, body="resolve", message_id="in-2")) == ["resolved"]
    item = paged.incident("123")
    assert (item["incident_stat"], item["acknowledged_by"], item["resolved_by"]) == ("resolved", FIRST, FIRST)


def test_resolving_twice_changes_nothing_the_second_time(paged: Aws, sms_stub: Stubber, sfn_stub: Stubber) -> None:
    deps = dependencies()
    sfn_stub.add_response("send_task_success", {}, expected_params=RESOLVED_TASK)
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by alertmanager. No action needed.")

    assert resolve(deps, "123", by="alertmanager", via="event-1", at=AT) == Outcome.RESOLVED
    assert resolve(deps, "123", by="cli", via="event-2", at=AT) == Outcome.ALREADY_RESOLVED
    item = paged.incident("123")
    assert (item["resolved_by"], item["resolved_at"]) == ("alertmanager", AT)
    assert _events(paged).count("resolved") == 1


def test_a_retried_resolve_sends_only_what_is_missing(escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber) -> None:
    deps = dependencies()
    sfn_stub.add_response("send_task_success", {}, expected_params={**RESOLVED_TASK, "taskToken": "token-1"})
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    expect_sms(sms_stub, SECOND, "Incident 123 was resolved by api. No action needed.")
    with pytest.raises(Exception, match="ThrottlingException"):
        resolve(deps, "123", by="api", via="event-1", at=AT)
    assert escalated.incident("123")["incident_stat"] == "resolved"  # the state change stands

    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by api. No action needed.")  # only the one that failed
    assert resolve(deps, "123", by="api", via="event-1", at=AT) == Outcome.RESOLVED
    assert _events(escalated).count("resolved") == 1
    assert "task_token" not in escalated.incident("123")


def test_a_resolve_racing_a_yes_completes_the_token_once(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    deps = dependencies()
    # The YES wrote its acknowledgement but has not completed the task yet when the resolve runs.
    assert deps.incidents.acknowledge_by_reply("123", by=FIRST, at=AT, via="in-1", entries=[]) is not None
    sfn_stub.add_response("send_task_success", {}, expected_params=RESOLVED_TASK)
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by api. No action needed.")
    assert resolve(deps, "123", by="api", via="event-1", at=AT) == Outcome.RESOLVED

    # The YES is retried after the resolve: it completes no task (resolved wins) and is told so, once.
    expect_sms(sms_stub, FIRST, "Incident 123 is already resolved by api. No action needed.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="yes")) == ["already_resolved"]
    item = paged.incident("123")
    assert (item["incident_stat"], item["acknowledged_by"], item["resolved_by"]) == ("resolved", FIRST, "api")
    assert "task_token" not in item


def test_a_yes_after_the_resolve_is_told_it_is_resolved_once(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    deps = dependencies()
    sfn_stub.add_response("send_task_success", {}, expected_params={**RESOLVED_TASK, "taskToken": "token-1"})
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by api. No action needed.")
    expect_sms(sms_stub, SECOND, "Incident 123 was resolved by api. No action needed.")
    assert resolve(deps, "123", by="api", via="event-1", at=AT) == Outcome.RESOLVED

    expect_sms(sms_stub, SECOND, "Incident 123 is already resolved by api. No action needed.")
    outcomes = _reply(
        lambda_context,
        _inbound(inbound_payload, sender=SECOND, body="yes 123", message_id="in-1"),
        _inbound(inbound_payload, sender=SECOND, body="no 123", message_id="in-2"),
        _inbound(inbound_payload, sender=SECOND, body="resolve 123", message_id="in-3"),
    )
    assert outcomes == ["already_resolved", "already_resolved_already_sent", "already_resolved_already_sent"]
    assert escalated.incident("123")["resolved_by"] == "api"


def test_a_page_task_that_finds_the_incident_resolved_does_not_page(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    deps = dependencies()
    sfn_stub.add_response("send_task_success", {}, expected_params=RESOLVED_TASK)
    expect_sms(sms_stub, FIRST, "Incident 123 was resolved by api. No action needed.")
    resolve(deps, "123", by="api", via="event-1", at=AT)

    # The next level's page (say a timeout raced the resolve) ends its wait with the status; no SMS.
    sfn_stub.add_response("send_task_success", {}, expected_params=RESOLVED_TASK | {"taskToken": "token-1"})
    assert page_contact.handler(page_event(level=1, token="token-1"), lambda_context) == {"outcome": "resolved"}
    closing = {"incident_id": "123", "contacts": [FIRST, SECOND], "level": 1, "error": None, "execution": EXECUTION_ARN}
    assert mark_unacknowledged.handler(closing, lambda_context) == {"outcome": "closed"}
    assert paged.incident("123")["incident_stat"] == "resolved"


def test_an_incident_not_started_yet_is_resolved_where_it_stands_and_an_invalid_one_is_not(
    aws: Aws, seed_item: dict[str, Any]
) -> None:
    deps = dependencies()
    assert resolve(deps, "missing", by="api", via="e", at=AT) == Outcome.NOT_FOUND
    aws.put_incident(seed_item)  # written, not started yet: the start handler will find it resolved and page nobody
    assert resolve(deps, "123", by="api", via="e", at=AT) == Outcome.RESOLVED
    assert (aws.incident("123")["incident_stat"], aws.incident("123")["resolved_via"]) == ("resolved", "e")
    assert not deps.incidents.record_started("123", [FIRST], EXECUTION_ARN, AT)
    assert not deps.incidents.mark_invalid("123", "contacts: bad", AT)  # the late start's check cannot reopen it either
    aws.put_incident({**seed_item, "incident_id": {"S": "124"}})
    assert deps.incidents.mark_invalid("124", "contacts: bad", AT)
    assert resolve(deps, "124", by="api", via="e", at=AT) == Outcome.NOT_RESOLVABLE
