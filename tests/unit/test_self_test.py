"""The pager self-test: everyone on call gets one test page per run, ops one summary of who did not answer.

DynamoDB, SNS and SQS are moto; SMS goes through a Stubber (checked against the service model). The wait for the
replies is the domain's own loop: its sleep is where the test lets the phones answer (the real reply and receipt
handlers run there), and its clock is the test's, so no test waits minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import delivery_receipts
import handle_reply
import pytest
import self_test as self_test_handler
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.oncall import self_test
from escalation.oncall.definitions import Definitions
from escalation.oncall.store import OncallStore, definitions_item
from escalation.platform import wiring
from escalation.sms import messages
from escalation.sms.test_pages import TTL_SECONDS, code_for
from tests.conftest import REGION, Aws
from tests.unit.conftest import FIRST, SECOND, sms_request
from tests.unit.events import sns_event
from tests.unit.test_handle_reply import _inbound
from tests.unit.test_receipts import event

RUN = "2026-12-07T10:00:00Z"
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
FRANCE = "+33612345678"


def definitions(*, with_carol: bool = False) -> Definitions:
    people = {
        "alice": {"name": "Alice", "phone": FIRST, "zone": "Europe/London"},
        "bob": {"name": "Bob", "phone": SECOND, "zone": "Europe/London"},
        "dana": {"name": "Dana", "phone": "+447700900004", "zone": "Europe/London"},  # off call this week
    }
    levels: list[dict[str, Any]] = [{"targets": [{"rotation": "primary"}]}, {"targets": [{"person": "bob"}]}]
    if with_carol:
        people["carol"] = {"name": "Carol", "phone": FRANCE, "zone": "Europe/Paris"}
        levels.append({"targets": [{"person": "carol"}, {"person": "bob"}]})  # bob twice: tested once
    return Definitions.model_validate(
        {
            "people": people,
            "rotations": {
                "primary": {
                    "layers": [
                        {
                            "participants": ["alice", "dana"],
                            "shift": {"weeks": 1},
                            "handoff": "09:00",
                            "zone": "Europe/London",
                            "start": "2026-12-07",
                        }
                    ]
                }
            },
            "policies": {"main": {"levels": levels}},
        }
    )


@pytest.fixture
def oncall(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> OncallStore:
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="Oncall",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.put_item(Item=definitions_item(definitions()))
    monkeypatch.setenv("ONCALL_TABLE", "Oncall")
    monkeypatch.setenv("ALLOWED_CALLING_CODES", "44")
    wiring.reset()
    return OncallStore(table)


def code(person: str, run: str = RUN) -> str:
    return code_for(f"self-test#{run}#{person}")


def expect_test_page(sms_stub: Stubber, number: str, person: str, message_id: str) -> None:
    body = messages.test_page(code(person)).body
    sms_stub.add_response(
        "send_text_message", {"MessageId": message_id},
        expected_params=sms_request(number, body, f"test-{code(person)}", ttl=TTL_SECONDS),
    )  # fmt: skip


class Phones:
    """The test's clock, and the answers that arrive at the first wait."""

    def __init__(self, at_first_wait: Callable[[], None] = lambda: None) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self._at_first_wait = at_first_wait

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if not self.waits:
            self._at_first_wait()
        self.waits.append(seconds)
        self.now += seconds


def run(oncall: OncallStore, phones: Phones, run_name: str = RUN) -> dict[str, Any]:
    return self_test.run(
        wiring.dependencies(), oncall.definitions(), oncall.overrides(), run=run_name, reply_minutes=10, at=AT,
        sleep=phones.sleep, clock=phones.clock,
    )  # fmt: skip


def test_everyone_on_call_now_is_each_person_of_each_level_once() -> None:
    people = self_test.everyone_on_call(definitions(with_carol=True), [], AT)
    assert [person.id for person in people] == ["alice", "bob", "carol"]  # dana is off call; bob on two levels


def test_a_run_tests_each_person_once_waits_for_the_answers_and_tells_ops_who_failed(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    expect_test_page(sms_stub, FIRST, "alice", "msg-alice")
    expect_test_page(sms_stub, SECOND, "bob", "msg-bob")

    def answers() -> None:  # alice replies; bob's carrier blocks his text
        sms_stub.add_response(
            "send_text_message", {"MessageId": "out-1"},
            expected_params=sms_request(FIRST, messages.test_answered(code("alice"), True).body, f"test-{code('alice')}"),
        )  # fmt: skip
        reply = _inbound(inbound_payload, sender=FIRST, body=f"TEST {code('alice')}", message_id="in-1")
        assert handle_reply.handler(sns_event(reply), lambda_context)["outcomes"] == ["test_answered"]
        delivery_receipts.handler(sns_event(event("msg-bob", "TEXT_BLOCKED")), lambda_context)

    phones = Phones(answers)
    assert run(oncall, phones) == {"run": RUN, "tested": 2, "failed": 1}
    assert len(phones.waits) == 1 and phones.now < 600  # both settled at the first look after the wait: no more waiting
    sms_stub.assert_no_pending_responses()
    (notice,) = aws.ops_messages()
    assert notice["Subject"] == "Pager self-test: 1 of 2 on call did not answer"
    assert "- Alice (+44********01): answered" in notice["Message"]
    assert "- Bob (+44********02): not delivered: TEXT_BLOCKED" in notice["Message"]


def test_the_same_run_delivered_again_texts_nobody_and_tells_ops_nothing_more(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber
) -> None:
    expect_test_page(sms_stub, FIRST, "alice", "msg-alice")
    expect_test_page(sms_stub, SECOND, "bob", "msg-bob")
    assert run(oncall, Phones())["failed"] == 2  # nobody answered within the ten minutes
    first = aws.ops_messages()
    assert [m["Subject"] for m in first] == ["Pager self-test: 2 of 2 on call did not answer"]
    assert "- Alice (+44********01): no receipt and no reply" in first[0]["Message"]
    phones = Phones()
    assert run(oncall, phones)["tested"] == 2  # Scheduler delivered the run twice: no text (the Stubber has none queued)
    sms_stub.assert_no_pending_responses()
    assert aws.ops_messages() == []
    assert phones.now >= 600  # it waited its ten minutes again, on the test's clock


def test_a_new_run_tests_again(aws: Aws, oncall: OncallStore, sms_stub: Stubber) -> None:
    for run_name in (RUN, "2026-12-14T10:00:00Z"):
        sms_stub.add_response("send_text_message", {"MessageId": f"m-{run_name}"})
        sms_stub.add_response("send_text_message", {"MessageId": f"n-{run_name}"})
        run(oncall, Phones(), run_name)
    sms_stub.assert_no_pending_responses()
    assert len(aws.ops_messages()) == 2


def test_a_person_who_cannot_be_texted_is_named_and_the_others_are_still_tested(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    oncall.table.put_item(Item=definitions_item(definitions(with_carol=True)))
    expect_test_page(sms_stub, FIRST, "alice", "msg-alice")
    expect_test_page(sms_stub, SECOND, "bob", "msg-bob")

    def delivered() -> None:  # both texts arrive, nobody replies
        for message_id in ("msg-alice", "msg-bob"):
            delivery_receipts.handler(sns_event(event(message_id, "TEXT_DELIVERED")), lambda_context)

    assert run(oncall, Phones(delivered)) == {"run": RUN, "tested": 3, "failed": 3}
    (notice,) = aws.ops_messages()
    assert "- Bob (+44********02): delivered, no reply" in notice["Message"]
    assert "- Carol (+33*******78): not sent: number: " in notice["Message"]
    assert "outside the countries this deployment may text" in notice["Message"]


def test_the_scheduled_function_names_the_run_by_the_time_it_fired_for(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CALLING_CODES", "33")  # nobody on call can be texted: nothing to wait for
    wiring.reset()
    result = self_test_handler.handler({"scheduled": RUN}, lambda_context)
    assert result == {"run": RUN, "tested": 2, "failed": 2}
    (notice,) = aws.ops_messages()
    assert notice["Subject"] == "Pager self-test: 2 of 2 on call did not answer"
    assert self_test.run_id(None, AT) == "2026-12-07T10:00+00:00"
