"""Storm digests: in a storm, notices to one person go out as one text naming the ids; outside one, each goes alone.

DynamoDB is moto; SMS goes through a Stubber, so every text is counted exactly. The opener's wait for its
digest to close is released by the test, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import threading
import time

import pytest
from botocore.stub import Stubber

from escalation.paging.storms import STORM_BUCKET_SECONDS, STORM_LINGER_SECONDS, Storms
from escalation.platform import wiring
from escalation.sms import messages
from escalation.sms import outbox as notifications
from tests.conftest import Aws
from tests.unit.conftest import FIRST, SECOND, sms_request


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
    assert storms.note(FIRST, "3", at=start + STORM_BUCKET_SECONDS + 1) is True  # the previous bucket counts too
    assert storms.in_storm(FIRST, at=start + STORM_BUCKET_SECONDS + STORM_LINGER_SECONDS) is True
    assert storms.in_storm(FIRST, at=start + STORM_BUCKET_SECONDS + STORM_LINGER_SECONDS + 2) is False


def test_notices_outside_a_storm_go_alone(digests: None, aws: Aws, sms_stub: Stubber) -> None:
    notifier = wiring.dependencies().notifier
    for incident_id in ("4821", "4822"):
        notice = messages.escalated_notice(incident_id)
        sms_stub.add_response("send_text_message", {"MessageId": f"m-{incident_id}"}, expected_params=None)
        assert notifier.send_courtesy(FIRST, notice, incident_id=incident_id, kind="escalated_notice") == f"m-{incident_id}"
    sms_stub.assert_no_pending_responses()


def test_in_a_storm_sixty_notices_are_one_digest_and_a_confirmation_is_never_held(
    digests: None, released: threading.Event, aws: Aws, sms_stub: Stubber
) -> None:
    notifier = wiring.dependencies().notifier
    assert notifier.storms is not None
    notifier.storms.extend(FIRST)
    ids = [str(4000 + number) for number in range(60)]
    sent: list[str | None] = []

    def notice(incident_id: str, kind: str) -> None:
        sms = messages.exhausted_notice(incident_id) if kind == "exhausted_notice" else messages.escalated_notice(incident_id)
        sent.append(notifier.send_courtesy(FIRST, sms, incident_id=incident_id, kind=kind, execution=f"exec-{incident_id}"))

    digest = messages.storm_digest(
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
    released.set()  # the digest closes
    opener.join()
    sms_stub.assert_no_pending_responses()  # two texts in all: the confirmation and one digest
    assert sorted(sent, key=str) == sorted([None] * 59 + ["m-digest"], key=str)
    assert digest.body.startswith("Storm update: 40 moved to the next contact: 4000 +39 more. 20 UNACKNOWLEDGED")
    assert "20 UNACKNOWLEDGED, escalation stopped" in digest.body and digest.body.endswith("YES ALL for all.")


def test_a_digest_whose_opener_died_is_sent_by_the_next_notice(digests: None, aws: Aws, sms_stub: Stubber) -> None:
    storms = Storms(aws.messages, window_seconds=20)
    storms.extend(FIRST)
    flush_at, opener = storms.hold(FIRST, {"key": "k1", "kind": "resolved_notice", "incident_id": "4821"}, at_ms=1_000)
    assert (flush_at, opener) == (21_000, True)  # ... and its function died before sending it
    notifier = wiring.dependencies().notifier
    digest = messages.storm_digest(
        [{"incident_id": "4821", "kind": "resolved_notice"}, {"incident_id": "4822", "kind": "resolved_notice"}], 1
    )
    sms_stub.add_response("send_text_message", {"MessageId": "m-digest"}, expected_params=sms_request(FIRST, digest.body, "4821"))
    notice = messages.resolved_notice("4822", "alertmanager")
    assert notifier.send_courtesy(FIRST, notice, incident_id="4822", kind="resolved_notice") == "m-digest"
    assert digest.body == "Storm update: 2 resolved: 4821, 4822. No action needed."
