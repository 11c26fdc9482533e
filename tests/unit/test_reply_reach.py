"""Which incidents a reply can reach: all of them however many (YES ALL after 200 pages), and only the incarnation
that paged (a late `YES <id>` after the id was reused acts on nothing).

DynamoDB is moto; SMS and Step Functions go through Stubbers, so every text and task completion is counted exactly.
"""

from __future__ import annotations

import json
from typing import Any

import handle_reply
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.platform.wiring import dependencies
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, sms_request
from tests.unit.events import sns_event

AT = "2026-01-01T00:00:00.000Z"


def _inbound(payload: dict[str, Any], *, sender: str, body: str, message_id: str) -> str:
    return json.dumps({**payload, "originationNumber": sender, "messageBody": body, "inboundMessageId": message_id})


def _reply(context: LambdaContext, message: str) -> list[str]:
    outcomes: list[str] = handle_reply.handler(sns_event(message), context)["outcomes"]
    return outcomes


def _paged_item(incident_id: str, *, execution: str, level: int, token: str | None = None) -> dict[str, Any]:
    """A started incident of the chain FIRST, SECOND, paged up to level (the timeline says so)."""
    item: dict[str, Any] = {
        "incident_id": incident_id,
        "description": f"Disk full on db-{incident_id}",
        "contacts": [FIRST, SECOND],
        "escalation_chain": [FIRST, SECOND],
        "escalation_level": level,
        "execution_arn": execution,
        "incident_stat": "escalation" if level else "not_acknowledged",
        "stat_date": AT,
        "timeline": [{"at": AT, "event": "created"}]
        + [{"at": AT, "event": "paged", "level": paged, "phone": "masked"} for paged in range(level + 1)],
    }
    if token:
        item["task_token"] = token
    return item


def test_yes_all_takes_every_one_of_200_incidents_with_one_confirmation_and_one_digest(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    deps = dependencies()
    ids = [f"{1000 + number}" for number in range(200)]
    for index, incident_id in enumerate(ids):
        execution = f"{EXECUTION_ARN}-{incident_id}"
        aws.incidents.put_item(Item=_paged_item(incident_id, execution=execution, level=1, token=f"token-{incident_id}"))
        for level, contact in enumerate((FIRST, SECOND)):
            deps.message_log.record(
                f"msg-{incident_id}-{level}", incident_id=incident_id, contact=contact, level=level, kind="page",
                at=f"2026-01-01T00:{index // 60:02d}:{index % 60:02d}.000Z", execution=execution,
            )  # fmt: skip
    for _ in ids:
        sfn_stub.add_response("send_task_success", {})
    newest_first = ids[::-1]
    confirmation = f"Acknowledged: {', '.join(newest_first[:5])} +195 more. Thank you, they are yours."
    sms_stub.add_response("send_text_message", {"MessageId": "out-1"}, expected_params=sms_request(SECOND, confirmation, ids[-1]))
    digest = f"Incidents {', '.join(newest_first[:5])} +195 more were acknowledged by {SECOND}. No action needed."
    sms_stub.add_response("send_text_message", {"MessageId": "out-2"}, expected_params=sms_request(FIRST, digest, ids[-1]))

    assert _reply(lambda_context, _inbound(inbound_payload, sender=SECOND, body="YES ALL", message_id="in-1")) == [
        "acknowledged_all:200"
    ]
    sfn_stub.assert_no_pending_responses()  # every parked task completed: none escalates further
    sms_stub.assert_no_pending_responses()  # two texts in all, not 201
    statuses = {aws.incident(incident_id)["incident_stat"] for incident_id in ids}
    assert statuses == {"acknowledged"}


def test_a_late_yes_with_a_reused_id_never_acts_on_the_new_incident(
    aws: Aws, sms_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    deps = dependencies()
    old_execution, new_execution = f"{EXECUTION_ARN}-old", f"{EXECUTION_ARN}-new"
    deps.message_log.record("msg-old", incident_id="4821", contact=FIRST, level=0, kind="page", at=AT, execution=old_execution)
    # 4821 was resolved and its id reused: the new 4821 is being escalated, its page to FIRST not sent yet (queued).
    aws.incidents.put_item(Item=_paged_item("4821", execution=new_execution, level=0, token="token-new"))
    deps.message_log.record("msg-other", incident_id="77", contact=FIRST, level=0, kind="page", at=AT, execution=old_execution)
    aws.incidents.put_item(Item={**_paged_item("77", execution=old_execution, level=0), "incident_stat": "resolved"})

    sms_stub.add_response(
        "send_text_message",
        {"MessageId": "out-1"},
        expected_params=sms_request(FIRST, "No incident 4821 was paged to you, and nothing is open for you. Nothing done.", "77"),
    )
    assert _reply(lambda_context, _inbound(inbound_payload, sender=FIRST, body="YES 4821", message_id="in-1")) == [
        "unknown_incident"
    ]
    item = aws.incident("4821")
    assert (item["incident_stat"], item["task_token"]) == ("not_acknowledged", "token-new")


def test_a_bare_yes_after_a_batch_text_acts_on_none_and_asks_which(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    deps = dependencies()
    for index, incident_id in enumerate(("4821", "4822", "4823")):
        execution = f"{EXECUTION_ARN}-{incident_id}"
        aws.incidents.put_item(Item=_paged_item(incident_id, execution=execution, level=0, token=f"token-{incident_id}"))
        deps.message_log.record(
            f"batch#{incident_id}", incident_id=incident_id, contact=FIRST, level=0, kind="page",
            at=f"2026-01-01T00:00:00.00{index}Z", execution=execution, batch=f"{FIRST}#1",
        )  # fmt: skip
    deps.message_log.record(
        "out-batch", incident_id="4823", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:01.000Z",
        execution=f"{EXECUTION_ARN}-4823", batch=f"{FIRST}#1",
    )  # fmt: skip
    sms_stub.add_response(
        "send_text_message",
        {"MessageId": "out-1"},
        expected_params=sms_request(
            FIRST,
            "Your last text listed 3 incidents: 4823, 4822, 4821. Nothing done. Reply YES ALL, or YES 4823 for one.",
            "4823",
        ),
    )
    assert _reply(lambda_context, _inbound(inbound_payload, sender=FIRST, body="YES", message_id="in-1")) == ["batch_needs_id"]
    assert {aws.incident(incident_id)["incident_stat"] for incident_id in ("4821", "4822", "4823")} == {"not_acknowledged"}
    sms_stub.assert_no_pending_responses()

    # A page on its own after the batch: a bare YES takes that one.
    aws.incidents.put_item(Item=_paged_item("4824", execution=f"{EXECUTION_ARN}-4824", level=0, token="token-4824"))
    deps.message_log.record(
        "out-single", incident_id="4824", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:02.000Z",
        execution=f"{EXECUTION_ARN}-4824",
    )  # fmt: skip
    sfn_stub.add_response("send_task_success", {})
    sms_stub.add_response("send_text_message", {"MessageId": "out-2"})
    assert _reply(lambda_context, _inbound(inbound_payload, sender=FIRST, body="YES", message_id="in-2")) == ["acknowledged"]
    assert aws.incident("4824")["incident_stat"] == "acknowledged"
    assert aws.incident("4823")["incident_stat"] == "not_acknowledged"
