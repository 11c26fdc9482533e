"""Unit-suite helpers: the sample incident in the states the workflow leaves it in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.platform import wiring
from escalation.sms.outbox import COURTESY_TTL_SECONDS
from tests.conftest import ACCOUNT_ID, ORIGINATION_IDENTITY, REGION, Aws, _stubbed

FIRST = "+447700900001"
SECOND = "+447700900002"
CHAIN = [FIRST, SECOND]
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:IncidentEscalation:incident-123-0000000000000000"


@pytest.fixture
def started_incident(aws: Aws, seed_item: dict[str, Any]) -> dict[str, Any]:
    """The sample item as the start handler leaves it (chain recorded, execution started, nobody paged yet)."""
    item = {
        **seed_item,
        "escalation_chain": {"L": [{"S": number} for number in CHAIN]},
        "escalation_level": {"N": "0"},
        "execution_arn": {"S": EXECUTION_ARN},
        "stat_date": {"S": "2026-01-01T00:00:00.000Z"},
        "timeline": {"L": [{"M": {"at": {"S": "2026-01-01T00:00:00.000Z"}, "event": {"S": "created"}, "contacts": {"N": "2"}}}]},
    }
    aws.put_incident(item)
    return item


DECLINED = {"Error": "Declined", "Cause": "declined by SMS"}


def page_event(
    *,
    level: int,
    token: str,
    attempt: int = 0,
    incident_id: str = "123",
    contacts: list[str] | None = None,
    error: dict[str, Any] | None = None,
    execution: str = EXECUTION_ARN,
) -> dict[str, Any]:
    """The "Page contact" task's payload, as the state machine builds it (error: why the last level ended)."""
    if error is None and level > 0 and attempt == 0:
        error = DECLINED
    return {
        "token": token,
        "incident_id": incident_id,
        "contacts": contacts or CHAIN,
        "level": level,
        "attempt": attempt,
        "error": error,
        "execution": execution,
    }


def run_page(
    sms_stub: Stubber, context: LambdaContext, *, level: int, token: str, message_id: str, **kwargs: Any
) -> dict[str, Any]:
    """Page the contact of level through the real handler; the SMS API answers with message_id."""
    sms_stub.add_response("send_text_message", {"MessageId": message_id})
    if level > 0 and kwargs.get("attempt", 0) == 0:  # a new level: the previous contact is told after the page
        sms_stub.add_response("send_text_message", {"MessageId": f"{message_id}-notice"})
    result: dict[str, Any] = page_contact.handler(page_event(level=level, token=token, **kwargs), context)
    return result


PAGE_TTL = 300  # a page lives as long as its acknowledgement window (ACK_TIMEOUT_SECONDS default)


def sms_request(to: str, body: Any, incident_id: str = "123", *, ttl: int = COURTESY_TTL_SECONDS) -> dict[str, Any]:
    """The SendTextMessage request the sender makes (Stubber also checks it against the service model)."""
    return {
        "DestinationPhoneNumber": to,
        "MessageBody": body,
        "MessageType": "TRANSACTIONAL",
        "OriginationIdentity": ORIGINATION_IDENTITY,
        "Context": {"incident_id": incident_id},
        "TimeToLive": ttl,
    }


def expect_sms(sms_stub: Stubber, to: str, body: Any, message_id: str = "out-1") -> None:
    """Queue one successful send, which must be exactly this text to this number."""
    sms_stub.add_response("send_text_message", {"MessageId": message_id}, expected_params=sms_request(to, body))


@pytest.fixture
def paged(aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext) -> Aws:
    """The sample incident with its first contact paged: token-0 parked, page msg-1 logged."""
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1")
    return aws


@pytest.fixture
def escalated(paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> Aws:
    """...and then escalated to the second contact: token-1 parked, page msg-2 logged."""
    run_page(sms_stub, lambda_context, level=1, token="token-1", message_id="msg-2")
    return paged


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each moto call atomic, as a DynamoDB conditional write is on AWS (moto alone lets two threads interleave in one)."""
    from moto.core.botocore_stubber import BotocoreStubber  # noqa: PLC0415

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


DIGEST_FUNCTION = "IncidentEscalation-StormDigest"


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> Iterator[Stubber]:
    """Storms on (20 s) with the storm digest function configured; a Stubber on the Lambda client sees each hand-over."""
    monkeypatch.setenv("STORM_BATCH_SECONDS", "20")
    monkeypatch.setenv("STORM_DIGEST_FUNCTION", DIGEST_FUNCTION)
    wiring.reset()
    yield from _stubbed(monkeypatch, "lambda", "lambda_")
    wiring.reset()
