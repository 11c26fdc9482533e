"""History survives: an incident item replaced or deleted is archived, once, from the stream's old image (moto).

Stream records here are the ones moto's DynamoDB stream produced for the writes (NEW_AND_OLD_IMAGES, as
stacks/storage.py configures it), the app's own writes included, handed to the real start handler in
batches as Lambda would hand them (unfiltered: the handler's own guards must hold on every record).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
import start_escalation
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.platform import wiring
from escalation.store.history import HistoryArchive, is_replacement
from tests.conftest import INCIDENTS_TABLE, REGION, Aws
from tests.unit.conftest import FIRST, run_page

HISTORY_TABLE = "IncidentHistory"
REPLACED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ#\d+$")


class StreamTap:
    """Reads the incidents table's stream from the start and hands new records to the start handler."""

    def __init__(self, dynamodb: Any) -> None:
        # An explicit endpoint: botocore would otherwise derive an account-based one from the stream ARN.
        self._streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )
        self._arn = dynamodb.describe_table(TableName=INCIDENTS_TABLE)["Table"]["LatestStreamArn"]
        shard = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self._iterator = self._streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]

    def take(self) -> list[dict[str, Any]]:
        """The records written since the last take, as Lambda's event records."""
        response = self._streams.get_records(ShardIterator=self._iterator)
        self._iterator = response["NextShardIterator"]
        records = []
        for record in response["Records"]:
            dynamodb = dict(record["dynamodb"])
            created = dynamodb["ApproximateCreationDateTime"]
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp()) if isinstance(created, datetime) else created
            records.append({**record, "dynamodb": dynamodb, "eventSourceARN": self._arn})
        return records

    def deliver(self, context: LambdaContext) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Hand every new record to the start handler in one batch; returns the batch and the handler's answer."""
        records = self.take()
        return records, dict(start_escalation.handler({"Records": records}, context))


@pytest.fixture
def stream(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[StreamTap]:
    """The incidents table as stacks/storage.py builds it (stream with old and new images) and the history table."""
    aws.dynamodb.delete_table(TableName=INCIDENTS_TABLE)
    aws.dynamodb.create_table(
        TableName=INCIDENTS_TABLE,
        KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "incident_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    aws.dynamodb.create_table(
        TableName=HISTORY_TABLE,
        KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}, {"AttributeName": "replaced_at", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "incident_id", "AttributeType": "S"},
            {"AttributeName": "replaced_at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("HISTORY_TABLE", HISTORY_TABLE)
    wiring.reset()
    yield StreamTap(aws.dynamodb)


def archived(incident_id: str = "123") -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(HISTORY_TABLE)
    items: list[dict[str, Any]] = table.query(
        KeyConditionExpression="incident_id = :id", ExpressionAttributeValues={":id": incident_id}
    )["Items"]
    return items


def open_and_page(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, context: LambdaContext, item: dict[str, Any], token: str
) -> None:
    """Write the item, let the start handler start it, and page its first contact through the real page handler."""
    aws.put_incident(item)
    stream.deliver(context)
    execution = str(aws.incident(item["incident_id"]["S"])["execution_arn"])
    run_page(sms_stub, context, level=0, token=token, message_id=f"msg-{token}", execution=execution)


def acknowledge(incident_id: str = "123") -> None:
    """The state change a YES makes (the reply handler's own repository call)."""
    acknowledged = wiring.dependencies().incidents.acknowledge_by_reply(
        incident_id, by=FIRST, at="2026-01-01T00:01:00.000Z", via="inbound-1", entries=[]
    )
    assert acknowledged is not None


def test_an_item_written_over_an_acknowledged_one_keeps_both_histories(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    open_and_page(aws, stream, sms_stub, lambda_context, seed_item, "token-0")
    acknowledge()
    first = aws.incident("123")
    assert [entry["event"] for entry in first["timeline"]] == ["created", "paged"]

    aws.put_incident(seed_item)  # the same put-item again: a new incident reusing the id
    records, result = stream.deliver(lambda_context)

    assert result == {"batchItemFailures": []}
    # The app's own writes (chain recorded, token parked, page logged, acknowledged) were delivered too: none archived.
    assert [record["eventName"] for record in records] == ["MODIFY", "MODIFY", "MODIFY", "MODIFY", "MODIFY"]
    [entry] = archived()
    assert {key: value for key, value in entry.items() if key not in ("replaced_at", "change", "archived_at")} == first
    assert entry["change"] == "replaced"
    assert REPLACED_AT.match(entry["replaced_at"])
    assert entry["replaced_at"].endswith("#" + records[-1]["dynamodb"]["SequenceNumber"])
    second = aws.incident("123")
    assert second["execution_arn"] != first["execution_arn"]
    assert [entry["event"] for entry in second["timeline"]] == ["created"]
    assert len(aws.executions()) == 2


def test_a_redelivered_replacement_is_archived_once_and_starts_once(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    open_and_page(aws, stream, sms_stub, lambda_context, seed_item, "token-0")
    aws.put_incident(seed_item)
    records = stream.take()
    batch = {"Records": records}
    assert dict(start_escalation.handler(batch, lambda_context)) == {"batchItemFailures": []}
    [first] = archived()
    assert dict(start_escalation.handler(batch, lambda_context)) == {"batchItemFailures": []}

    assert archived() == [first]
    assert len(aws.executions()) == 2
    table = boto3.resource("dynamodb", region_name=REGION).Table(HISTORY_TABLE)
    assert HistoryArchive(table).keep(records[-1]) is False  # the conditional put refuses a second copy


def test_every_earlier_incident_of_an_id_is_kept_in_order(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    executions = []
    for token in ("token-a", "token-b", "token-c"):
        open_and_page(aws, stream, sms_stub, lambda_context, seed_item, token)
        executions.append(aws.incident("123")["execution_arn"])

    history = archived()
    assert [entry["execution_arn"] for entry in history] == executions[:2]  # the query returns them oldest first
    assert [entry["timeline"][-1]["message_id"] for entry in history] == ["msg-token-a", "msg-token-b"]
    assert aws.incident("123")["execution_arn"] == executions[2]


def test_a_put_that_closes_an_open_incident_keeps_its_history_and_pages_nobody(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    open_and_page(aws, stream, sms_stub, lambda_context, seed_item, "token-0")
    before = aws.incident("123")
    aws.put_incident({**seed_item, "incident_stat": {"S": "acknowledged"}})  # an integration closing it its own way
    _, result = stream.deliver(lambda_context)

    assert result == {"batchItemFailures": []}
    [entry] = archived()
    assert entry["timeline"] == before["timeline"]
    assert len(aws.executions()) == 1  # not pageable: nothing started (sms_stub has no response queued either)
    assert "timeline" not in aws.incident("123")


def test_a_deleted_incident_is_archived(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    open_and_page(aws, stream, sms_stub, lambda_context, seed_item, "token-0")
    before = aws.incident("123")
    aws.incidents.delete_item(Key={"incident_id": "123"})
    records, result = stream.deliver(lambda_context)

    assert records[-1]["eventName"] == "REMOVE"
    assert result == {"batchItemFailures": []}
    [entry] = archived()
    assert entry["change"] == "deleted"
    assert entry["execution_arn"] == before["execution_arn"]


def test_an_item_nobody_processed_yet_has_no_history_to_keep(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    aws.put_incident(seed_item)
    aws.put_incident({**seed_item, "description": {"S": "corrected before the handler ran"}})
    aws.incidents.delete_item(Key={"incident_id": "123"})
    records = stream.take()

    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert [is_replacement(record) for record in records] == [False, False, False]


def test_an_invalid_item_fixed_in_place_keeps_its_timeline_and_a_replaced_one_is_archived(
    aws: Aws, stream: StreamTap, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    aws.put_incident({**seed_item, "first_contact": {"S": "07700 900001"}})
    stream.deliver(lambda_context)
    assert aws.incident("123")["incident_stat"] == "invalid"
    aws.incidents.update_item(  # an UpdateItem fix: the timeline stays on the item, nothing to archive
        Key={"incident_id": "123"},
        UpdateExpression="SET first_contact = :c, incident_stat = :s",
        ExpressionAttributeValues={":c": "+447700900001x", ":s": "not_acknowledged"},  # still wrong
    )
    _, result = stream.deliver(lambda_context)
    assert result == {"batchItemFailures": []}
    assert archived() == []
    assert [entry["event"] for entry in aws.incident("123")["timeline"]] == ["invalid", "invalid"]

    aws.put_incident(seed_item)  # a PutItem fix replaces the item: its two failed versions are kept
    _, result = stream.deliver(lambda_context)
    assert result == {"batchItemFailures": []}
    [entry] = archived()
    assert [event["event"] for event in entry["timeline"]] == ["invalid", "invalid"]
    assert entry["first_contact"] == "+447700900001x"
    assert aws.incident("123")["incident_stat"] == "not_acknowledged"
    assert len(aws.executions()) == 1


def test_when_the_archive_cannot_be_written_the_new_incident_is_still_paged_and_the_record_retried(
    aws: Aws,
    stream: StreamTap,
    sms_stub: Stubber,
    seed_item: dict[str, Any],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    open_and_page(aws, stream, sms_stub, lambda_context, seed_item, "token-0")
    aws.put_incident(seed_item)
    records = stream.take()
    monkeypatch.setenv("HISTORY_TABLE", "NoSuchTable")
    wiring.reset()

    result = dict(start_escalation.handler({"Records": records}, lambda_context))

    replacing = records[-1]["dynamodb"]["SequenceNumber"]
    assert result == {"batchItemFailures": [{"itemIdentifier": replacing}]}
    assert len(aws.executions()) == 2  # paging does not wait for the archive
    monkeypatch.setenv("HISTORY_TABLE", HISTORY_TABLE)
    wiring.reset()
    assert dict(start_escalation.handler({"Records": records}, lambda_context)) == {"batchItemFailures": []}
    assert len(archived()) == 1
    assert len(aws.executions()) == 2  # the retry started nothing twice
