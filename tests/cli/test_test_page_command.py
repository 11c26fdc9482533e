"""`incidents test-page`: the CLI asks the operator function to send a test page, then what became of it.

The function's side is tested on the handlers (tests/unit/test_test_pages.py); here a Stubber answers for it.
"""

from __future__ import annotations

import pytest

from incidents_cli import test_page
from tests.cli.conftest import Deployed, LambdaStub
from tests.cli.test_incident_commands import ok, refused

SENT = {"ok": True, "outcome": "sent", "code": "482193", "message_id": "m-1", "sent_at": "2026-03-01T10:00:00.000Z",
        "to": "+44********01"}  # fmt: skip
DELIVERED = {**SENT, "outcome": "status", "delivery": "delivered", "delivery_event": "TEXT_DELIVERED",
             "delivered_at": "2026-03-01T10:00:03.200Z"}  # fmt: skip
ANSWERED = {**DELIVERED, "replied_at": "2026-03-01T10:00:41.000Z"}


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_page, "POLL_SECONDS", 0.0)  # the answers below come in order, whatever the pause


def test_a_person_is_paged_at_their_number_and_the_round_trip_is_timed(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    for answer in (SENT, DELIVERED, ANSWERED):
        lambda_stub.answer(answer)
    out = ok(deployed.cli("test-page", "alice", "--as", "dana"))
    assert (out["passed"], out["summary"]) == (True, "delivered in 3.2 s, reply received in 41.0 s")
    send, *polls = [request["Payload"] for request in lambda_stub.requests]
    assert (send["action"], send["number"], send["by"]) == ("test_page", "+447700900001", "cli:dana")  # alice's phone
    assert [poll["action"] for poll in polls] == ["test_page_status", "test_page_status"]
    assert {poll["code"] for poll in polls} == {"482193"}
    assert "delivered in 3.2 s, reply received in 41.0 s" in ok_text(deployed, lambda_stub)  # and for a person


def test_no_reply_in_time_fails_and_says_where_to_look(
    deployed: Deployed, lambda_stub: LambdaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(test_page, "POLL_SECONDS", 2.0)  # longer than the time given: one look, then the verdict
    lambda_stub.answer(SENT)
    lambda_stub.answer(DELIVERED)
    result = deployed.cli("test-page", "+447700900002", "--timeout", "1", "--as", "dana")
    assert result.exit_code == 1
    out = ok_json(result.stdout)
    assert out["passed"] is False
    assert out["summary"].startswith("delivered in 3.2 s, no reply within 1 s: check that the number's two-way SMS")


def test_an_undelivered_test_page_fails_at_once(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer(SENT)
    lambda_stub.answer({**SENT, "outcome": "status", "delivery": "failed_contact", "delivery_event": "TEXT_BLOCKED",
                        "delivered_at": "2026-03-01T10:00:01.000Z"})  # fmt: skip
    result = deployed.cli("test-page", "+447700900002", "--as", "dana", json_output=False)
    assert result.exit_code == 1 and "not delivered: TEXT_BLOCKED" in result.stdout
    assert len(lambda_stub.requests) == 2  # it stopped asking once the receipt said the text will not arrive


def test_an_unknown_person_is_refused_naming_the_people(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    message = refused(deployed.cli("test-page", "nobody", "--as", "dana"))
    assert "no person 'nobody'" in message and "alice" in message
    assert lambda_stub.requests == []


def test_a_refused_number_is_one_line(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer({"ok": False, "error": "refused", "message": "number: must be an E.164 number such as +447700900001"})
    assert "number: must be an E.164 number" in refused(deployed.cli("test-page", "+12", "--as", "dana"))


CALLED = {"called_at": "2026-03-01T10:00:01.000Z", "call_message_id": "call-1"}


def test_with_voice_it_waits_for_the_call_too_and_times_it(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer({**SENT, **CALLED})
    lambda_stub.answer({**ANSWERED, **CALLED})  # the reply came before the call's receipt: it waits on
    lambda_stub.answer({**ANSWERED, **CALLED, "call_delivery": "delivered", "call_event": "VOICE_ANSWERED",
                        "call_ended_at": "2026-03-01T10:00:13.000Z"})  # fmt: skip
    out = ok(deployed.cli("test-page", "alice", "--voice", "--as", "dana"))
    assert (out["passed"], out["summary"]) == (True, "delivered in 3.2 s, call answered in 12.0 s, reply received in 41.0 s")
    send = lambda_stub.requests[0]["Payload"]
    assert (send["action"], send["voice"]) == ("test_page", True)
    assert len(lambda_stub.requests) == 3


@pytest.mark.parametrize(
    ("call", "words"),
    [
        ({"call_not_placed": "the daily limit of calls to this number (5 in 24 hours) is reached: texts only"},
         "call not placed: the daily limit of calls"),
        ({**CALLED, "call_delivery": "failed_contact", "call_event": "VOICE_NO_ANSWER",
          "call_ended_at": "2026-03-01T10:00:40.000Z"}, "call not answered: VOICE_NO_ANSWER"),
    ],
)  # fmt: skip
def test_with_voice_a_call_that_did_not_ring_through_fails_even_with_the_reply(
    deployed: Deployed, lambda_stub: LambdaStub, call: dict[str, str], words: str
) -> None:
    lambda_stub.answer({**SENT, **call})
    lambda_stub.answer({**ANSWERED, **call})
    result = deployed.cli("test-page", "alice", "--voice", "--as", "dana")
    assert result.exit_code == 1
    out = ok_json(result.stdout)
    assert out["passed"] is False and words in str(out["summary"]) and "reply received in 41.0 s" in str(out["summary"])


def ok_json(stdout: str) -> dict[str, object]:
    import json  # noqa: PLC0415

    data: dict[str, object] = json.loads(stdout)
    return data


def ok_text(deployed: Deployed, lambda_stub: LambdaStub) -> str:
    """The same round trip, printed for a person (no --json)."""
    for answer in (SENT, DELIVERED, ANSWERED):
        lambda_stub.answer(answer)
    result = deployed.cli("test-page", "alice", "--as", "dana", json_output=False)
    assert result.exit_code == 0, result.output
    return str(result.stdout)
