"""Once-only side effects: done once, redone after a failure, taken over when a holder died."""

import threading
from typing import Any

import pytest

from escalation.store.once import OnceOnly, SideEffectInProgress
from tests.conftest import Aws


def _once(aws: Aws, lease_seconds: int = 90, wait_seconds: float = 0.0) -> OnceOnly:
    return OnceOnly(aws.messages, ttl_days=1, lease_seconds=lease_seconds, wait_seconds=wait_seconds)


def test_an_action_runs_once_however_often_it_is_asked(aws: Aws) -> None:
    calls: list[str] = []
    once = _once(aws)
    assert once.once("notice#1#+447700900001", lambda: calls.append("sent")) is True
    assert once.once("notice#1#+447700900001", lambda: calls.append("sent")) is False
    assert calls == ["sent"]
    assert once.done("notice#1#+447700900001")


def test_a_failed_action_is_redone_on_retry(aws: Aws) -> None:
    calls: list[str] = []
    once = _once(aws)

    def fails() -> None:
        raise RuntimeError("SMS API down")

    with pytest.raises(RuntimeError):
        once.once("ops#1", fails)
    assert not once.done("ops#1")
    assert once.once("ops#1", lambda: calls.append("published")) is True
    assert calls == ["published"]


def test_a_key_held_by_a_live_invocation_is_not_done_twice(aws: Aws) -> None:
    once = _once(aws)
    # Another invocation claimed the key and is still inside its lease.
    aws.messages.put_item(Item={"message_id": "ops#2", "once": "pending", "lease_until": 10**12, "expires_at": 10**12})
    with pytest.raises(SideEffectInProgress):
        once.once("ops#2", lambda: None)


def test_a_key_whose_holder_died_is_taken_over_after_its_lease(aws: Aws) -> None:
    calls: list[Any] = []
    once = _once(aws)
    aws.messages.put_item(Item={"message_id": "ops#3", "once": "pending", "lease_until": 1, "expires_at": 10**12})
    assert once.once("ops#3", lambda: calls.append(1)) is True
    assert calls == [1]


def test_keys_expire_with_the_message_table_ttl(aws: Aws) -> None:
    _once(aws).once("k", lambda: None)
    item = aws.messages.get_item(Key={"message_id": "k"})["Item"]
    assert item["once"] == "done"
    assert int(item["expires_at"]) > 0
    assert "lease_until" not in item


def test_a_concurrent_holder_that_finishes_is_waited_for_and_not_repeated(aws: Aws) -> None:
    calls: list[str] = []
    aws.messages.put_item(Item={"message_id": "ack#1", "once": "pending", "lease_until": 10**12, "expires_at": 10**12})

    def finish() -> None:  # the other invocation completes its side effect half a second later
        aws.messages.update_item(
            Key={"message_id": "ack#1"}, UpdateExpression="SET #o = :d", ExpressionAttributeNames={"#o": "once"},
            ExpressionAttributeValues={":d": "done"},
        )  # fmt: skip

    timer = threading.Timer(0.5, finish)
    timer.start()
    assert _once(aws, wait_seconds=5).once("ack#1", lambda: calls.append("again")) is False
    timer.join()
    assert calls == []
