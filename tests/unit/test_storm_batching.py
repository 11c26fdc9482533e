"""Storm batching: a page to someone who already has a page unanswered waits for the person's batch; one text.

Waits are real (a 4-second window), so the test is a few seconds long; SMS and task tokens are Stubbers.
"""

from __future__ import annotations

import time
from typing import Any

import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.paging.batching import Batches
from escalation.paging.digests import Digests
from escalation.paging.storms import STORM_TEXTS, Storms
from escalation.platform import wiring
from escalation.replies.matching import Inbox
from escalation.sms import storm_messages
from escalation.sms.messages import batch_page
from escalation.store.message_log import MessageLog
from escalation.store.repository import IncidentRepository
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, page_event, run_page, sms_request

WINDOW = 4  # long enough that two joins land in one batch on a busy machine


@pytest.fixture
def batching(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> None:
    monkeypatch.setenv("STORM_BATCH_SECONDS", str(WINDOW))
    wiring.reset()


@pytest.fixture
def storm(batching: None, aws: Aws) -> None:
    """FIRST is in a storm (texts came fast): every first page to them joins a batch."""
    Storms(aws.messages, window_seconds=WINDOW).extend(FIRST)


def paged_then_storm(aws: Aws, sms_stub: Stubber, context: LambdaContext) -> None:
    """FIRST's page of incident 123 went at once, alone; then texts came fast and FIRST is in a storm."""
    run_page(sms_stub, context, level=0, token="t-123", message_id="m-123")
    Storms(aws.messages, window_seconds=WINDOW).extend(FIRST)


def _open(aws: Aws, seed_item: dict[str, Any], incident_id: str, description: str) -> str:
    execution = EXECUTION_ARN.replace("incident-123", f"incident-{incident_id}")
    aws.put_incident(
        {
            **seed_item,
            "incident_id": {"S": incident_id},
            "description": {"S": description},
            "escalation_chain": {"L": [{"S": FIRST}]},
            "escalation_level": {"N": "0"},
            "execution_arn": {"S": execution},
            "stat_date": {"S": "2026-01-01T00:00:00.000Z"},
            "timeline": {"L": []},
        }
    )
    return execution


def _page(incident_id: str, execution: str, token: str, context: LambdaContext) -> dict[str, Any]:
    result: dict[str, Any] = page_contact.handler(
        page_event(level=0, token=token, incident_id=incident_id, execution=execution), context
    )
    return result


def _queued(sfn_stub: Stubber, token: str) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": token, "output": ANY})


def test_pages_to_a_busy_person_go_out_together_once_the_batch_closes(
    aws: Aws, batching: None, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any],
    seed_item: dict[str, Any], lambda_context: LambdaContext,
) -> None:  # fmt: skip
    paged_then_storm(aws, sms_stub, lambda_context)  # the first page goes at once
    runs = {
        incident: _open(aws, seed_item, incident, f"{name} is failing") for incident, name in (("4821", "db"), ("4822", "api"))
    }
    for incident, execution in runs.items():  # both join FIRST's batch and wait for it
        _queued(sfn_stub, f"t-{incident}")
        result = page_contact.handler(
            page_event(level=0, token=f"t-{incident}", incident_id=incident, execution=execution), lambda_context
        )
        assert result["outcome"] == "queued" and 0 < result["wait_seconds"] <= WINDOW
    sfn_stub.assert_no_pending_responses()
    time.sleep(WINDOW)
    # The first page to run again sends the whole batch, in one text, and its own page with it.
    body = batch_page([("4821", "db is failing"), ("4822", "api is failing")], max_segments=1).body
    assert body == "2 new incidents: 4821 db is failing, 4822 api is failing. Reply YES ALL or YES <id>."
    sms_stub.add_response(
        "send_text_message", {"MessageId": "m-batch"}, expected_params=sms_request(FIRST, body, "4821", ttl=300)
    )
    first = _page("4821", runs["4821"], "t-4821b", lambda_context)
    assert first == {"outcome": "page", "message_ids": []}  # sent as the batch, not on its own
    # The other page finds itself sent and waits for the reply: no text, no token call.
    second = page_contact.handler(
        page_event(level=0, token="t-4822b", incident_id="4822", execution=runs["4822"]), lambda_context
    )
    assert second == {"outcome": "page", "message_ids": []}
    sms_stub.assert_no_pending_responses()
    for incident in runs:
        [paged] = [entry for entry in aws.incident(incident)["timeline"] if entry["event"] == "paged"]
        assert (paged["message_id"], paged["batched"], paged["segments"]) == ("m-batch", 2, 1)
        assert aws.incident(incident)["task_token"] == f"t-{incident}b"  # each waits for its reply, fresh window
    # A reply from FIRST finds all three incidents paged to them (YES ALL takes them all).
    inbox = Inbox(IncidentRepository(aws.incidents), MessageLog(aws.messages, 30), FIRST)
    assert set(inbox.open_ids()) == {"123", "4821", "4822"}
    # The storm goes on: FIRST's next batch in it stays open twice as long as this one did.
    storms = Storms(aws.messages, window_seconds=WINDOW)
    assert storms.batch_window_ms(FIRST, WINDOW * 1000) == 2 * WINDOW * 1000


def test_in_a_storm_pages_racing_to_a_person_with_nothing_unanswered_still_go_as_one_text(
    aws: Aws, storm: None, sms_stub: Stubber, sfn_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    # Two escalations reach FIRST at the same instant; neither finds the other's page unanswered yet.
    runs = {
        incident: _open(aws, seed_item, incident, f"{name} is failing") for incident, name in (("4821", "db"), ("4822", "api"))
    }
    for incident, execution in runs.items():
        _queued(sfn_stub, f"t-{incident}")
        result = page_contact.handler(
            page_event(level=0, token=f"t-{incident}", incident_id=incident, execution=execution), lambda_context
        )
        assert result["outcome"] == "queued" and 0 < result["wait_seconds"] <= WINDOW  # the base window: maybe alone
    time.sleep(WINDOW)
    body = batch_page([("4821", "db is failing"), ("4822", "api is failing")], max_segments=1).body
    sms_stub.add_response(
        "send_text_message", {"MessageId": "m-batch"}, expected_params=sms_request(FIRST, body, "4821", ttl=300)
    )
    assert _page("4821", runs["4821"], "t-4821b", lambda_context) == {"outcome": "page", "message_ids": []}
    assert _page("4822", runs["4822"], "t-4822b", lambda_context) == {"outcome": "page", "message_ids": []}
    sms_stub.assert_no_pending_responses()  # one text for both, not two


def test_a_batch_of_one_is_the_ordinary_page(
    aws: Aws, batching: None, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any],
    seed_item: dict[str, Any], lambda_context: LambdaContext,
) -> None:  # fmt: skip
    paged_then_storm(aws, sms_stub, lambda_context)
    execution = _open(aws, seed_item, "4821", "db is failing")
    _queued(sfn_stub, "t-1")
    assert (
        page_contact.handler(page_event(level=0, token="t-1", incident_id="4821", execution=execution), lambda_context)["outcome"]
        == "queued"
    )
    time.sleep(WINDOW)
    sms_stub.add_response("send_text_message", {"MessageId": "m-alone"}, expected_params=None)
    result = _page("4821", execution, "t-2", lambda_context)
    assert result == {"outcome": "page", "message_ids": ["m-alone"]}
    [paged] = [entry for entry in aws.incident("4821")["timeline"] if entry["event"] == "paged"]
    assert "batched" not in paged


def test_without_another_page_unanswered_nothing_waits(
    aws: Aws, batching: None, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    assert run_page(sms_stub, lambda_context, level=0, token="t-123", message_id="m-123")["outcome"] == "page"


def test_an_isolated_second_page_goes_out_at_once_and_a_third_in_quick_succession_starts_a_storm(
    aws: Aws, batching: None, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any],
    seed_item: dict[str, Any], lambda_context: LambdaContext,
) -> None:  # fmt: skip
    assert STORM_TEXTS == 3
    run_page(sms_stub, lambda_context, level=0, token="t-123", message_id="m-123")
    second = _open(aws, seed_item, "4821", "db is failing")
    sms_stub.add_response("send_text_message", {"MessageId": "m-4821"}, expected_params=None)
    assert _page("4821", second, "t-4821", lambda_context) == {"outcome": "page", "message_ids": ["m-4821"]}  # not held
    third = _open(aws, seed_item, "4822", "api is failing")
    _queued(sfn_stub, "t-4822")
    result = _page("4822", third, "t-4822", lambda_context)
    assert result["outcome"] == "queued" and 0 < result["wait_seconds"] <= WINDOW  # the third within the minute: a storm
    sms_stub.assert_no_pending_responses()


def test_a_page_already_going_out_alone_is_left_out_of_the_batch(
    aws: Aws, batching: None, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any],
    seed_item: dict[str, Any], lambda_context: LambdaContext,
) -> None:  # fmt: skip
    paged_then_storm(aws, sms_stub, lambda_context)
    runs = {incident: _open(aws, seed_item, incident, f"{incident} is failing") for incident in ("4821", "4822")}
    for incident, execution in runs.items():
        _queued(sfn_stub, f"t-{incident}")
        assert _page(incident, execution, f"t-{incident}", lambda_context)["outcome"] == "queued"
    time.sleep(WINDOW)
    # Another invocation of 4822's page holds its once-only key (it is sending that page on its own right now).
    key = f"sent#4822#{runs['4822']}#0#0#{FIRST}"
    wiring.dependencies().once.hold(key)
    sms_stub.add_response("send_text_message", {"MessageId": "m-4821"}, expected_params=None)
    assert _page("4821", runs["4821"], "t-4821b", lambda_context) == {"outcome": "page", "message_ids": ["m-4821"]}
    sms_stub.assert_no_pending_responses()  # one text went out: 4821's own page
    [paged] = [entry for entry in aws.incident("4821")["timeline"] if entry["event"] == "paged"]
    assert "batched" not in paged  # its ordinary page, not a batch of one
    assert aws.messages.get_item(Key={"message_id": key})["Item"]["once"] == "pending"  # 4822's own send is untouched


def test_a_batch_still_goes_as_one_text_after_the_first_page_was_acknowledged(
    aws: Aws, batching: None, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any],
    seed_item: dict[str, Any], lambda_context: LambdaContext,
) -> None:  # fmt: skip
    paged_then_storm(aws, sms_stub, lambda_context)
    runs = {incident: _open(aws, seed_item, incident, f"{incident} is failing") for incident in ("4821", "4822", "4823")}
    for incident, execution in runs.items():
        _queued(sfn_stub, f"t-{incident}")
        assert _page(incident, execution, f"t-{incident}", lambda_context)["outcome"] == "queued"
    # Within the window the person takes their first page, and 4823's alert is resolved.
    aws.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET incident_stat = :s", ExpressionAttributeValues={":s": "acknowledged"}
    )
    aws.incidents.update_item(
        Key={"incident_id": "4823"}, UpdateExpression="SET incident_stat = :s", ExpressionAttributeValues={":s": "resolved"}
    )
    time.sleep(WINDOW)
    body = batch_page([("4821", "4821 is failing"), ("4822", "4822 is failing")], max_segments=1).body
    sms_stub.add_response(
        "send_text_message", {"MessageId": "m-batch"}, expected_params=sms_request(FIRST, body, "4821", ttl=300)
    )
    assert _page("4821", runs["4821"], "t-4821b", lambda_context) == {"outcome": "page", "message_ids": []}
    assert _page("4822", runs["4822"], "t-4822b", lambda_context) == {"outcome": "page", "message_ids": []}
    sms_stub.assert_no_pending_responses()  # one text for the two still open; nothing about the resolved one


def test_a_page_of_a_taken_batch_waits_until_its_taker_has_held_the_pages(aws: Aws) -> None:
    # Pages of one batch wake at the same instant: the ones that lose the take must not go out alone
    # before the taker has held their once-only keys (with four CPU hogs beside the suite, one did).
    batches = Batches(aws.messages, window_seconds=1)
    flush_at = batches.join(FIRST, "p1", {"page_key": "p1", "incident_id": "1", "level": 0, "description": "a"}, at_ms=1_000)
    batches.join(FIRST, "p2", {"page_key": "p2", "incident_id": "2", "level": 0, "description": "b"}, at_ms=1_001)
    assert [member["page_key"] for member in batches.take(FIRST, flush_at) or []] == ["p1", "p2"]
    assert batches.take(FIRST, flush_at) is None  # the other page lost the take
    assert batches.wait_held(FIRST, flush_at, timeout_s=0) is False  # the taker has not held the pages yet
    batches.mark_held(FIRST, flush_at)
    assert batches.wait_held(FIRST, flush_at, timeout_s=0) is True
    # a newer batch for the same person replaces the item: nobody waits for the old one
    newer = batches.join(FIRST, "p3", {"page_key": "p3", "incident_id": "3", "level": 0, "description": "c"}, at_ms=5_000)
    assert newer != flush_at
    assert batches.wait_held(FIRST, flush_at, timeout_s=0) is True
    batches.mark_held(FIRST, flush_at)  # a late mark for the old batch changes nothing
    assert batches.wait_held(FIRST, newer, timeout_s=0) is False


def test_in_a_storm_a_reminder_joins_the_digest_instead_of_going_alone(
    aws: Aws, handed_over: Stubber, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    run_page(sms_stub, lambda_context, level=0, token="t-123", message_id="m-123")  # the page itself went at once
    Storms(aws.messages, window_seconds=20).extend(FIRST)  # then FIRST is in a storm
    handed_over.add_response("invoke", {"StatusCode": 202}, expected_params=None)  # the reminder opens a digest
    result = page_contact.handler(page_event(level=0, attempt=1, token="t-123r"), lambda_context)
    assert result == {"outcome": "reminder", "message_ids": []}  # no text of its own
    sms_stub.assert_no_pending_responses()
    handed_over.assert_no_pending_responses()
    [reminded] = [entry for entry in aws.incident("123")["timeline"] if entry["event"] == "reminded"]
    assert reminded["in_digest"] is True
    digest = aws.messages.get_item(Key={"message_id": f"digest#{FIRST}"})["Item"]
    assert [(member["kind"], member["incident_id"]) for member in digest["members"]] == [("reminder", "123")]
    body = storm_messages.storm_digest(digest["members"], 1).body
    assert body == "Storm update: 1 still waiting for your answer: 123. Reply YES <id> to take one, YES ALL for all."


# --- a digest due with the batch goes in the batch's text -------------------------------------------------------------


def _digest_open(aws: Aws) -> tuple[int, str]:
    """A notice for FIRST opened their digest (its function sleeps until it closes, WINDOW s from now)."""
    key = f"exhausted_notice#77#exec-77#{FIRST}"
    flush_at, opened = Digests(Storms(aws.messages, window_seconds=WINDOW)).hold(
        FIRST, {"key": key, "kind": "exhausted_notice", "incident_id": "77"}
    )
    assert opened
    return flush_at, key


def _racing_pages(aws: Aws, sfn_stub: Stubber, seed_item: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    runs = {
        incident: _open(aws, seed_item, incident, f"{name} is failing") for incident, name in (("4821", "db"), ("4822", "api"))
    }
    for incident, execution in runs.items():
        _queued(sfn_stub, f"t-{incident}")
        assert _page(incident, execution, f"t-{incident}", context)["outcome"] == "queued"
    return runs


PAGES = [("4821", "db is failing"), ("4822", "api is failing")]
NOTICE = [{"incident_id": "77", "kind": "exhausted_notice"}]


def test_a_digest_closing_with_the_batch_goes_in_its_text_and_its_function_sends_nothing(
    aws: Aws, storm: None, sms_stub: Stubber, sfn_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    flush_at, key = _digest_open(aws)
    runs = _racing_pages(aws, sfn_stub, seed_item, lambda_context)  # the batch closes about when the digest does
    time.sleep(WINDOW)
    body = storm_messages.batch_page_with_digest(PAGES, NOTICE, max_segments=1).body
    assert body == (
        "2 new incidents: 4821 db is failing, 4822 api is failing. Reply YES ALL or YES <id>. "
        "Also: 1 UNACKNOWLEDGED, escalation stopped: 77."
    )
    sms_stub.add_response(
        "send_text_message", {"MessageId": "m-batch"}, expected_params=sms_request(FIRST, body, "4821", ttl=300)
    )
    assert _page("4821", runs["4821"], "t-4821b", lambda_context) == {"outcome": "page", "message_ids": []}
    assert _page("4822", runs["4822"], "t-4822b", lambda_context) == {"outcome": "page", "message_ids": []}
    # The digest's own function wakes (retried too): the digest went with the batch, it sends nothing.
    notifier = wiring.dependencies().notifier
    assert notifier.flush_digest(FIRST, flush_at, key) is None
    assert notifier.flush_digest(FIRST, flush_at, key) is None
    sms_stub.assert_no_pending_responses()  # one text for two pages and the notice
    assert aws.messages.get_item(Key={"message_id": f"digest#{FIRST}"})["Item"]["sent"] is True


def test_a_batch_text_that_fails_gives_the_digest_back_and_it_goes_alone(
    aws: Aws, storm: None, sms_stub: Stubber, sfn_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    flush_at, key = _digest_open(aws)
    runs = _racing_pages(aws, sfn_stub, seed_item, lambda_context)
    time.sleep(WINDOW)
    with_digest = storm_messages.batch_page_with_digest(PAGES, NOTICE, max_segments=1).body
    sms_stub.add_client_error(
        "send_text_message", service_error_code="ThrottlingException", service_message="Rate exceeded",
        expected_params=sms_request(FIRST, with_digest, "4821", ttl=300),
    )  # fmt: skip
    # Given back, the digest goes on its own at once (this deployment has no digest function: the batch's sends it),
    alone = storm_messages.storm_digest(NOTICE, 1).body
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, alone, "77"))
    # ... and the page, released from the batch, goes out alone as well.
    sms_stub.add_response("send_text_message", {"MessageId": "m-4821"}, expected_params=sms_request(FIRST, ANY, "4821", ttl=300))
    assert _page("4821", runs["4821"], "t-4821b", lambda_context)["message_ids"] == ["m-4821"]
    sms_stub.assert_no_pending_responses()
    # Its own function, waking late, finds it sent: the notice reached the person once.
    assert wiring.dependencies().notifier.flush_digest(FIRST, flush_at, key) is None
    assert aws.messages.get_item(Key={"message_id": f"digest#{FIRST}"})["Item"]["sent"] is True
