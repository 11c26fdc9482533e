"""Storm digests: in a storm, notices to one person go out as one text naming the ids; outside one, each goes alone.

DynamoDB is moto; SMS goes through a Stubber, so every text is counted exactly. The opener's wait for its
digest to close is released by the test, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import send_digest
from botocore.stub import ANY, Stubber

from escalation.paging import digests as digests_module
from escalation.paging import storms as storms_module
from escalation.paging.batching import Batches
from escalation.paging.digests import Digests
from escalation.paging.storms import (
    MAX_DIGEST_SECONDS,
    MAX_PAGE_BATCH_SECONDS,
    STORM_BUCKET_SECONDS,
    STORM_BUCKETS,
    STORM_LINGER_SECONDS,
    Storms,
)
from escalation.paging.storms import now_ms as storm_now_ms
from escalation.platform import aws_clients, wiring
from escalation.sms import messages, storm_messages
from escalation.sms import outbox as notifications
from escalation.sms.client import SmsThrottled
from escalation.sms.digest_flush import parse_flush_event
from tests.conftest import Aws, FakeLambdaContext
from tests.unit.conftest import DIGEST_FUNCTION, FIRST, SECOND, sms_request


@pytest.fixture
def digests(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> None:
    monkeypatch.setenv("STORM_BATCH_SECONDS", "20")  # the longest a digest stays open
    wiring.reset()


@pytest.fixture
def released(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The opener's wait for its digest to close ends when the test sets this (not when the clock says)."""
    release, real_sleep = threading.Event(), time.sleep

    def sleep(seconds: float) -> None:
        if seconds > 1:  # the digest's wait (a send slot's is at most a second)
            release.wait(60)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(notifications.time, "sleep", sleep)
    return release


def test_texts_about_three_incidents_within_a_bucket_make_a_storm_that_lingers(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    start = 1_000 * STORM_BUCKET_SECONDS
    assert storms.note(FIRST, "1", at=start) is False
    assert storms.note(FIRST, "2", at=start + 5) is False  # a second incident alone is no storm
    assert storms.note(FIRST, "2", at=start + 6) is False  # nor its notices: texts about the same incident count once
    assert storms.note(SECOND, "3", at=start + 6) is False  # texts to someone else do not count
    later = start + (STORM_BUCKETS - 1) * STORM_BUCKET_SECONDS + 1
    assert storms.note(FIRST, "3", at=later) is True  # the two buckets before count too
    assert storms.in_storm(FIRST, at=later + STORM_LINGER_SECONDS - 1) is True
    assert storms.in_storm(FIRST, at=later + STORM_LINGER_SECONDS + 1) is False


def test_texts_spread_wider_than_the_buckets_make_no_storm(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    start = 1_000 * STORM_BUCKET_SECONDS
    assert storms.note(FIRST, "1", at=start) is False
    assert storms.note(FIRST, "2", at=start + STORM_BUCKET_SECONDS) is False
    assert storms.note(FIRST, "3", at=start + STORM_BUCKETS * STORM_BUCKET_SECONDS) is False  # the first fell out


def test_notices_outside_a_storm_go_alone(digests: None, aws: Aws, sms_stub: Stubber) -> None:
    notifier = wiring.dependencies().notifier
    for incident_id in ("4821", "4822"):
        notice = messages.escalated_notice(incident_id)
        sms_stub.add_response("send_text_message", {"MessageId": f"m-{incident_id}"}, expected_params=None)
        assert notifier.send_courtesy(FIRST, notice, incident_id=incident_id, kind="escalated_notice") == f"m-{incident_id}"
    sms_stub.assert_no_pending_responses()


def test_in_a_storm_sixty_notices_are_one_digest_and_a_confirmation_is_never_held(
    digests: None, released: threading.Event, aws: Aws, sms_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whether a notice joins is decided on the wall clock (the digest's flush_at). Under load sixty joins took 20 s,
    # and the last ones missed a 20 s digest, so this test gives its digest 300 s to collect them. The opener's wait
    # still ends when the test says, not the clock.
    monkeypatch.setattr(storms_module, "MAX_HOLD_SECONDS", 300)
    monkeypatch.setenv("STORM_BATCH_SECONDS", "300")
    wiring.reset()
    notifier = wiring.dependencies().notifier
    assert notifier.storms is not None
    notifier.storms.extend(FIRST)
    ids = [str(4000 + number) for number in range(60)]
    sent: list[str | None] = []

    def notice(incident_id: str, kind: str) -> None:
        sms = messages.exhausted_notice(incident_id) if kind == "exhausted_notice" else messages.escalated_notice(incident_id)
        sent.append(notifier.send_courtesy(FIRST, sms, incident_id=incident_id, kind=kind, execution=f"exec-{incident_id}"))

    digest = storm_messages.storm_digest(
        [{"incident_id": incident_id, "kind": "escalated_notice"} for incident_id in ids[:40]]
        + [{"incident_id": incident_id, "kind": "exhausted_notice"} for incident_id in ids[40:]],
        1,
    )
    assert digest.segments == 1
    sms_stub.add_response("send_text_message", {"MessageId": "m-confirm"}, expected_params=None)
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "4000"))
    opener = threading.Thread(target=notice, args=(ids[0], "escalated_notice"))
    opener.start()
    while not aws.messages.get_item(Key={"message_id": f"digest#{FIRST}"}).get("Item"):
        threading.Event().wait(0.01)  # the opener has opened the digest
    # A confirmation (an answer to the person's own reply) goes at once, storm or not.
    confirmation = messages.acknowledged_confirmation("4000")
    assert notifier.send_courtesy(FIRST, confirmation, incident_id="4000", kind="confirmation") == "m-confirm"
    for incident_id in ids[1:40]:
        notice(incident_id, "escalated_notice")
    for incident_id in ids[40:]:
        notice(incident_id, "exhausted_notice")
    # The digest closes: its time has come (the opener waits on the clock in steps, each released by the test).
    monkeypatch.setattr(notifications, "storm_now_ms", lambda: storm_now_ms() + 3_600_000)
    released.set()
    opener.join()
    sms_stub.assert_no_pending_responses()  # two texts in all: the confirmation and one digest
    assert sorted(sent, key=str) == sorted([None] * 59 + ["m-digest"], key=str)
    assert digest.body.startswith("Storm update: 40 moved to the next contact: 4000 +39 more. 20 UNACKNOWLEDGED")
    assert "20 UNACKNOWLEDGED, escalation stopped" in digest.body and digest.body.endswith("YES ALL for all.")


def test_a_digest_whose_opener_died_is_sent_by_the_next_notice(digests: None, aws: Aws, sms_stub: Stubber) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    storms.extend(FIRST)
    flush_at, opener = Digests(storms).hold(FIRST, {"key": "k1", "kind": "resolved_notice", "incident_id": "4821"}, at_ms=1_000)
    assert (flush_at, opener) == (21_000, True)  # ... and its function died before sending it
    notifier = wiring.dependencies().notifier
    digest = storm_messages.storm_digest(
        [{"incident_id": "4821", "kind": "resolved_notice"}, {"incident_id": "4822", "kind": "resolved_notice"}], 1
    )
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "4821"))
    notice = messages.resolved_notice("4822", "alertmanager")
    assert notifier.send_courtesy(FIRST, notice, incident_id="4822", kind="resolved_notice") == "m-digest"
    assert digest.body == "Storm update: 2 resolved: 4821, 4822. No action needed."


# --- the storm digest function: the opener hands its digest over instead of waiting -----------------------------


def capture_invokes(handed_over: Stubber) -> list[dict[str, object]]:
    """The payload of each Invoke the handlers make (the Stubber checks the request against the Lambda model)."""
    payloads: list[dict[str, object]] = []

    def capture(params: dict[str, object], **_: object) -> None:
        payloads.append(json.loads(params["Payload"]))  # type: ignore[arg-type]

    aws_clients.lambda_().meta.events.register("before-parameter-build.lambda.Invoke", capture)
    return payloads


def test_the_opener_hands_its_digest_to_the_digest_function_which_sends_it_once(
    handed_over: Stubber, aws: Aws, sms_stub: Stubber
) -> None:
    notifier = wiring.dependencies().notifier
    assert notifier.storms is not None
    notifier.storms.extend(FIRST)
    key = f"escalated_notice#5001#exec-5001#{FIRST}"
    # The opener returns at once: nothing sent, the digest function invoked asynchronously with what to send.
    invoked = capture_invokes(handed_over)
    handed_over.add_response(
        "invoke",
        {"StatusCode": 202},
        expected_params={"FunctionName": DIGEST_FUNCTION, "InvocationType": "Event", "Payload": ANY},
    )
    before = storm_now_ms()
    assert notifier.send_courtesy(FIRST, messages.escalated_notice("5001"), incident_id="5001", kind="escalated_notice",
                                  execution="exec-5001") is None  # fmt: skip
    handed_over.assert_no_pending_responses()
    digest_item = aws.messages.get_item(Key={"message_id": f"digest#{FIRST}"})["Item"]
    flush_at = int(digest_item["flush_at"])
    assert before + 20_000 <= flush_at <= storm_now_ms() + 20_000
    assert invoked == [{"number": FIRST, "flush_at": flush_at, "taker": key}]
    # The storm lasts until well after the digest closes: a notice while it is open is never sent alone.
    storm = aws.messages.get_item(Key={"message_id": f"storm#{FIRST}"})["Item"]
    assert int(storm["until"]) >= flush_at // 1000 + STORM_LINGER_SECONDS
    for incident_id in ("5002", "5003"):
        assert notifier.send_courtesy(FIRST, messages.exhausted_notice(incident_id), incident_id=incident_id,
                                      kind="exhausted_notice", execution=f"exec-{incident_id}") is None  # fmt: skip
    # The function sends it (the test hands it a closing time already past: no wait) and a retry sends nothing.
    aws.messages.update_item(
        Key={"message_id": f"digest#{FIRST}"}, UpdateExpression="SET flush_at = :past", ExpressionAttributeValues={":past": 1}
    )
    digest = storm_messages.storm_digest(
        [
            {"incident_id": "5001", "kind": "escalated_notice"},
            {"incident_id": "5002", "kind": "exhausted_notice"},
            {"incident_id": "5003", "kind": "exhausted_notice"},
        ],
        1,
    )
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "5001"))
    event = {"number": FIRST, "flush_at": 1, "taker": key}
    assert send_digest.handler(event, FakeLambdaContext()) == {"outcome": "sent", "message_id": "m-digest"}
    assert send_digest.handler(event, FakeLambdaContext()) == {"outcome": "sent_by_another", "message_id": None}
    sms_stub.assert_no_pending_responses()  # one digest text, however often the function runs
    handed_over.assert_no_pending_responses()  # and the later notices joined it without another hand-over


def test_the_digest_function_waits_for_the_digest_to_close(handed_over: Stubber, aws: Aws, sms_stub: Stubber) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    storms.extend(FIRST)
    flush_at = storm_now_ms() + 400  # closes in 0.4 s
    aws.messages.put_item(
        Item={
            "message_id": f"digest#{FIRST}",
            "flush_at": flush_at,
            "opener": "k1",
            "members": [{"key": "k1", "kind": "resolved_notice", "incident_id": "4821"}],
        }
    )
    digest = storm_messages.storm_digest([{"incident_id": "4821", "kind": "resolved_notice"}], 1)
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "4821"))
    send_digest.handler({"number": FIRST, "flush_at": flush_at, "taker": "k1"}, FakeLambdaContext())
    assert storm_now_ms() >= flush_at  # it never sends before the digest has closed
    sms_stub.assert_no_pending_responses()


def test_each_digest_of_a_storm_stays_open_twice_as_long_as_the_last_and_a_new_storm_starts_afresh(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    now = time.time()
    storms.extend(FIRST, at=now)
    windows = []
    for _ in range(6):
        windows.append(storms.digest_window_ms(FIRST, at=now))
        storms.digest_sent(FIRST)
    assert windows == [20_000, 40_000, 80_000, 160_000, 300_000, 300_000]  # capped at MAX_DIGEST_SECONDS
    assert MAX_DIGEST_SECONDS == 300
    later = now + STORM_LINGER_SECONDS + 1  # the storm ended; the next one counts its digests afresh
    assert storms.digest_window_ms(FIRST, at=later) == 20_000
    storms.extend(FIRST, at=later)
    assert storms.digest_window_ms(FIRST, at=later) == 20_000


def test_each_page_batch_of_a_storm_stays_open_twice_as_long_up_to_two_minutes(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    now = time.time()
    storms.extend(FIRST, at=now)
    windows = []
    for _ in range(5):
        windows.append(storms.batch_window_ms(FIRST, 20_000, at=now))
        storms.batch_sent(FIRST)
    assert windows == [20_000, 40_000, 80_000, 120_000, 120_000]  # a page waits less than a notice
    assert MAX_PAGE_BATCH_SECONDS == 120
    assert storms.batch_window_ms(FIRST, 300_000, at=now) == 300_000  # a longer stormBatchSeconds is never cut
    assert storms.batch_window_ms(SECOND, 20_000, at=now) == 20_000  # each person's storm counts alone
    later = now + STORM_LINGER_SECONDS + 1
    assert storms.batch_window_ms(FIRST, 20_000, at=later) == 20_000  # the storm ended


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ([], "event"),
        ({"number": "447700900001", "flush_at": 1, "taker": "k"}, "number"),
        ({"number": FIRST, "flush_at": "1", "taker": "k"}, "flush_at"),
        ({"number": FIRST, "flush_at": True, "taker": "k"}, "flush_at"),
        ({"number": FIRST, "flush_at": 1, "taker": ""}, "taker"),
    ],
)
def test_a_digest_event_that_names_no_digest_is_refused_naming_the_field(event: object, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        parse_flush_event(event)


def test_a_storm_never_ends_while_something_is_held_for_the_person(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    now = time.time()
    storms.extend(FIRST, at=now, beyond=now + MAX_DIGEST_SECONDS)  # a digest that closes in five minutes
    assert storms.in_storm(FIRST, at=now + MAX_DIGEST_SECONDS + STORM_LINGER_SECONDS - 1) is True
    assert storms.in_storm(FIRST, at=now + MAX_DIGEST_SECONDS + STORM_LINGER_SECONDS + 1) is False
    storms.extend(FIRST, at=now)  # a later, shorter extension never cuts it short
    assert storms.in_storm(FIRST, at=now + MAX_DIGEST_SECONDS + STORM_LINGER_SECONDS - 1) is True


# --- a page batch takes a digest along: the lease, the give-back, the wait ---------------------------------------------


def _due_digest(aws: Aws, key: str = "k1", incident_id: str = "4821") -> int:
    """FIRST's digest, opened by notice key, closed a moment ago and not sent yet."""
    flush_at = storm_now_ms() - 100
    aws.messages.put_item(
        Item={
            "message_id": f"digest#{FIRST}",
            "flush_at": flush_at,
            "opener": key,
            "members": [{"key": key, "kind": "resolved_notice", "incident_id": incident_id}],
        }
    )
    return flush_at


def test_a_digest_taken_along_by_a_batch_that_died_is_taken_back_when_its_lease_ends(
    digests: None, aws: Aws, sms_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests_module, "MERGE_LEASE_SECONDS", 1)
    flush_at = _due_digest(aws)
    notifier = wiring.dependencies().notifier
    along = notifier.take_digest_along(FIRST, taker="batch#b1")
    assert along is not None and along[0] == flush_at  # ... and the batch's function died before its text went
    assert notifier.take_digest_along(FIRST, taker="batch#b2") is None  # taken once
    digest = storm_messages.storm_digest([{"incident_id": "4821", "kind": "resolved_notice"}], 1)
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "4821"))
    started = storm_now_ms()
    assert send_digest.handler({"number": FIRST, "flush_at": flush_at, "taker": "k1"}, FakeLambdaContext()) == {
        "outcome": "sent",
        "message_id": "m-digest",
    }
    assert storm_now_ms() - started >= 1000  # not before the lease ended
    sms_stub.assert_no_pending_responses()
    # The batch, had it only been slow, can no longer mark it sent as its own or give it back: the function has it.
    assert aws.messages.get_item(Key={"message_id": f"digest#{FIRST}"})["Item"]["taken_by"] == "k1"
    assert notifier.digests is not None
    assert notifier.digests.give_back(FIRST, flush_at, along[1], taker="batch#b1") is None


def test_a_digest_given_back_after_a_newer_one_opened_joins_it(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    storms.extend(FIRST)
    digests = Digests(storms)
    flush_at = _due_digest(aws, key="k1", incident_id="4821")
    along = digests.take_along(FIRST, "batch#b1")
    assert along is not None
    # While the batch's text is going, a notice opens FIRST's next digest ...
    newer, opened = digests.hold(FIRST, {"key": "k2", "kind": "escalated_notice", "incident_id": "4822"})
    assert opened and newer > flush_at
    # ... and the text fails: the taken notice joins the newer digest, whose opener sends both.
    assert digests.give_back(FIRST, flush_at, along[1], taker="batch#b1") is None
    assert digests.take(FIRST, newer, taker="k2") == [
        {"key": "k2", "kind": "escalated_notice", "incident_id": "4822"},
        {"key": "k1", "kind": "resolved_notice", "incident_id": "4821"},
    ]


def test_a_digest_given_back_after_its_item_was_sent_over_opens_the_next_for_the_batch(aws: Aws) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    storms.extend(FIRST)
    digests = Digests(storms)
    flush_at = _due_digest(aws)
    along = digests.take_along(FIRST, "batch#b1")
    assert along is not None
    newer, _ = digests.hold(FIRST, {"key": "k2", "kind": "escalated_notice", "incident_id": "4822"})
    digests.take(FIRST, newer, taker="k2")
    digests.sent(FIRST, newer)  # the newer digest went out before the batch's text failed
    reopened = digests.give_back(FIRST, flush_at, along[1], taker="batch#b1")
    assert reopened is not None  # the batch hands this one to the digest function as its opener
    assert digests.take(FIRST, reopened, taker="batch#b1") == [{"key": "k1", "kind": "resolved_notice", "incident_id": "4821"}]


def test_the_digest_function_waits_for_a_page_batch_about_to_close_which_takes_the_digest_along(
    digests: None, aws: Aws, sms_stub: Stubber
) -> None:
    flush_at = _due_digest(aws)
    batch_closes = Batches(aws.messages, window_seconds=2).join(FIRST, "page-1", {"page_key": "page-1"})
    outcome: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(
            send_digest.handler({"number": FIRST, "flush_at": flush_at, "taker": "k1"}, FakeLambdaContext())
        )
    )
    thread.start()  # the digest is due: without a batch closing in 2 s, its function would send it now
    while storm_now_ms() < batch_closes:
        time.sleep(0.1)
    notifier = wiring.dependencies().notifier  # the batch closes and its text takes the digest along
    along = notifier.take_digest_along(FIRST, taker=f"batch#{FIRST}#{batch_closes}")
    assert along is not None and along[0] == flush_at
    notifier.digest_sent_along(FIRST, flush_at)
    thread.join(60)
    assert outcome == {"outcome": "sent_by_another", "message_id": None}
    sms_stub.assert_no_pending_responses()  # the function sent nothing: the notice went with the batch


def test_a_digest_given_back_goes_to_the_digest_function_which_sends_it_for_the_batch(
    handed_over: Stubber, aws: Aws, sms_stub: Stubber
) -> None:
    flush_at = _due_digest(aws)
    notifier = wiring.dependencies().notifier
    along = notifier.take_digest_along(FIRST, taker="batch#b1")
    assert along is not None
    invoked = capture_invokes(handed_over)
    handed_over.add_response(
        "invoke",
        {"StatusCode": 202},
        expected_params={"FunctionName": DIGEST_FUNCTION, "InvocationType": "Event", "Payload": ANY},
    )
    notifier.give_digest_back(FIRST, flush_at, along[1], taker="batch#b1")  # the batch's text failed
    assert invoked == [{"number": FIRST, "flush_at": flush_at, "taker": "batch#b1"}]
    digest = storm_messages.storm_digest([{"incident_id": "4821", "kind": "resolved_notice"}], 1)
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "4821"))
    assert send_digest.handler(invoked[0], FakeLambdaContext()) == {"outcome": "sent", "message_id": "m-digest"}
    # The digest's own function, waking after, finds it no longer its own and not held by a batch: nothing more.
    assert send_digest.handler({"number": FIRST, "flush_at": flush_at, "taker": "k1"}, FakeLambdaContext())["outcome"] == (
        "sent_by_another"
    )
    sms_stub.assert_no_pending_responses()


def test_a_digest_whose_text_was_throttled_is_given_back_so_a_notice_meanwhile_joins_it_instead_of_replacing_it(
    digests: None, aws: Aws, sms_stub: Stubber
) -> None:
    flush_at = _due_digest(aws, key="k1", incident_id="4821")
    first = storm_messages.storm_digest([{"incident_id": "4821", "kind": "resolved_notice"}], 1)
    sms_stub.add_client_error(
        "send_text_message", service_error_code="ThrottlingException", service_message="Rate exceeded",
        expected_params=sms_request(FIRST, first.body, "4821"),
    )  # fmt: skip
    with pytest.raises(SmsThrottled):  # the function fails: Lambda retries it a minute or two later
        send_digest.handler({"number": FIRST, "flush_at": flush_at, "taker": "k1"}, FakeLambdaContext())
    # Meanwhile another notice for FIRST: it finds the digest due and not taken, joins it and sends both.
    storms = Storms(aws.messages, window_seconds=20)
    storms.extend(FIRST)
    assert Digests(storms).hold(FIRST, {"key": "k2", "kind": "resolved_notice", "incident_id": "4822"}) == (flush_at, True)
    both = storm_messages.storm_digest(
        [{"incident_id": "4821", "kind": "resolved_notice"}, {"incident_id": "4822", "kind": "resolved_notice"}], 1
    )
    sms_stub.add_response("send_text_message", {"MessageId": "m-both"}, expected_params=sms_request(FIRST, both.body, "4821"))
    assert wiring.dependencies().notifier.flush_digest(FIRST, flush_at, "k2") == "m-both"
    # The retry of the first function finds it sent by the notice: one text with both, nothing lost, nothing twice.
    event = {"number": FIRST, "flush_at": flush_at, "taker": "k1"}
    assert send_digest.handler(event, FakeLambdaContext())["outcome"] == "sent_by_another"
    sms_stub.assert_no_pending_responses()
