"""Honest send slots: a slot is reserved only for a text that goes out at its time.

The send-rate module's clock is a fake one whose sleeps advance it, so no test here waits in real time.
Concurrent functions are played one after another, each starting at the instant they all started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from escalation.platform import aws_clients, wiring
from escalation.platform.wiring import Dependencies
from escalation.sms import messages, send_rate
from escalation.sms.send_rate import SLOT_KEY, SendRate
from tests.conftest import Aws

START = 1_800_000_000.0  # the fake clock's first instant (epoch seconds)
NOTICES = 20


class Clock:
    """Time as the send-rate module sees it: sleeping moves it on, nothing else does."""

    def __init__(self) -> None:
        self.now = START

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(send_rate, "time", fake)
    return fake


@pytest.fixture
def deps(aws: Aws, sms_stub: Stubber, monkeypatch: pytest.MonkeyPatch) -> Dependencies:
    """The handlers' dependencies on a US 10DLC number: one message part per second."""
    monkeypatch.setenv("SMS_PARTS_PER_SECOND", "1")
    wiring.reset()
    return wiring.dependencies()


@pytest.fixture
def sent_at(sms_stub: Stubber, clock: Clock) -> Iterator[list[float]]:
    """The instant (fake clock) each text reaches the SMS API; every send is answered."""
    instants: list[float] = []

    def record(**_: Any) -> None:
        instants.append(clock.now)
        sms_stub.add_response("send_text_message", {"MessageId": f"out-{len(instants)}"})

    client = aws_clients.sms_v2()
    client.meta.events.register("provide-client-params.pinpoint-sms-voice-v2.SendTextMessage", record)
    yield instants
    client.meta.events.unregister("provide-client-params.pinpoint-sms-voice-v2.SendTextMessage", record)


def _notice(deps: Dependencies, index: int) -> None:
    deps.notifier.send_courtesy(
        f"+4477009002{index:02d}", messages.acknowledged_notice(f"n{index}", "+447700900001"), incident_id=f"n{index}",
        kind="acknowledged_notice",
    )  # fmt: skip


def _next_at(aws: Aws) -> float:
    """Where the slot queue ends (epoch seconds)."""
    return int(aws.messages.get_item(Key={"message_id": SLOT_KEY})["Item"]["next_at"]) / 1000


def _page_wait(deps: Dependencies) -> float:
    """The wait of a one-part page arriving now: what the page task's slot look-up answers."""
    page = messages.page("900", "disk full", None, level=0, max_segments=1)
    assert page.segments == 1
    return deps.notifier.seconds_to_slot(page)


def test_twenty_notices_at_once_leave_a_page_waiting_only_what_the_rate_requires(
    aws: Aws, deps: Dependencies, clock: Clock, sent_at: list[float]
) -> None:
    # Twenty functions send a notice at the same instant (twenty incidents acknowledged at once).
    for index in range(NOTICES):
        clock.now = START
        _notice(deps, index)
    assert len(sent_at) == NOTICES
    last_sent = max(sent_at)
    assert last_sent - START <= 1.0  # none waited more than a moment: the service throttles a burst, not our queue
    assert _next_at(aws) <= last_sent + 1.0  # the queue never runs ahead of what was sent
    clock.now = last_sent  # a page arrives as the last notice goes out
    wait = _page_wait(deps)
    print(f"page wait after {NOTICES} notices sent at once: {wait:.1f} s")
    assert wait <= 1.0


def test_notices_from_one_function_are_paced_and_a_page_after_them_waits_one_slot(
    aws: Aws, deps: Dependencies, clock: Clock, sent_at: list[float]
) -> None:
    for index in range(NOTICES):  # one function telling twenty people, one after another
        _notice(deps, index)
    assert sent_at == [START + index for index in range(NOTICES)]  # each waited for its slot: one part per second
    wait = _page_wait(deps)
    print(f"page wait after {NOTICES} notices sent one by one: {wait:.1f} s")
    assert wait <= 1.0


def test_a_notice_neither_waits_behind_queued_pages_nor_pushes_them_back(
    aws: Aws, deps: Dependencies, clock: Clock, sent_at: list[float]
) -> None:
    SendRate(aws.messages, parts_per_second=1).reserve(30)  # thirty pages hold the next 30 s
    _notice(deps, 0)
    assert sent_at == [START]  # out at once (the service may throttle it; the pages keep their slots)
    assert _next_at(aws) == START + 30
    assert _page_wait(deps) == 30.0  # the next page queues behind the thirty pages only


def test_a_slot_further_than_the_allowed_wait_is_not_reserved(aws: Aws) -> None:
    rate = SendRate(aws.messages, parts_per_second=1)
    assert rate.reserve_within(1, 1000, at_ms=1_000_000) == 1_000_000  # idle: now
    assert rate.reserve_within(1, 1000, at_ms=1_000_000) == 1_001_000  # a second away: reserved
    assert rate.reserve_within(1, 1000, at_ms=1_000_000) is None  # two seconds away: nothing reserved
    assert _next_at(aws) == 1_002  # the queue did not move
    assert rate.reserve(1, at_ms=1_000_000) == 1_002_000  # a page still gets the next slot, however far
