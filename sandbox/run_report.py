"""What a run reports: the incidents, texts, receipts, replies, executions and invocations, the ops inbox, dead letters."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from .account import REGION
from .deploy import DeployedStack
from .executions import list_executions, states_entered
from .local_lambda import LocalLambdaRuntime
from .scenario import Scenario

DEAD_LETTER_QUEUES = ("StreamFailures", "ReplyFailures", "AlarmEventFailures", "ReceiptsReceiptFailures")


def plain(value: Any) -> Any:
    """DynamoDB values as plain JSON (Decimal to int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(item) for item in value]
    return value


def scan(table: Any) -> list[dict[str, Any]]:
    """Every item of a table (all pages)."""
    response = table.scan(ConsistentRead=True)
    items: list[dict[str, Any]] = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ConsistentRead=True, ExclusiveStartKey=response["LastEvaluatedKey"])
        items.extend(response["Items"])
    return items


def main_incident(scenario: Scenario, table: Any, incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """The scenario's incident as it ended; with none (events, alarms), the latest one they opened."""
    if scenario.incident is None:
        return max(incidents, key=lambda i: str(i.get("opened_at", "")), default={})
    incident_id = next(iter(TypeDeserializer().deserialize({"M": {"id": scenario.incident["incident_id"]}}).values()))
    item: dict[str, Any] = plain(table.get_item(Key={"incident_id": incident_id}, ConsistentRead=True).get("Item", {}))
    return item


def subscribe_ops_inbox(topic_arn: str) -> str:
    """A queue subscribed to topic_arn, standing in for the ops team's email inbox."""
    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(QueueName="sandbox-ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def drain_ops_inbox(url: str) -> list[dict[str, str]]:
    """Subject and message of every notification the ops topic received."""
    sqs = boto3.client("sqs", region_name=REGION)
    received: list[dict[str, str]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return received
        for message in messages:
            body = json.loads(message["Body"])
            received.append({"subject": body.get("Subject", ""), "message": body.get("Message", "")})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def dead_letters(physical_ids: dict[str, str]) -> list[str]:
    """Everything left in the stack's dead-letter queues."""
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[str] = []
    for logical_id, physical in physical_ids.items():
        if not (logical_id.startswith(DEAD_LETTER_QUEUES) and physical.startswith("https://")):
            continue
        response = sqs.receive_message(QueueUrl=physical, MaxNumberOfMessages=10)
        found.extend(f"{logical_id}: {message['Body'][:500]}" for message in response.get("Messages", []))
    return found


def execution_records(errors: list[str]) -> list[dict[str, Any]]:
    """Every execution: name, status and the states it entered (a history moto cannot serve is an error, not a crash)."""
    found = []
    for execution in list_executions(REGION):
        try:
            entered = states_entered(execution["executionArn"], region_name=REGION)
        except Exception as error:  # reported with the result: the run's other findings still print
            errors.append(f"history of {execution['name']} unreadable: {type(error).__name__}: {error}")
            entered = []
        found.append({"name": execution["name"], "status": execution["status"], "states_entered": entered})
    return found


def invocation_records(deployed: DeployedStack, runtime: LocalLambdaRuntime, start_wall: float) -> list[dict[str, Any]]:
    """Every handler invocation, with its time since the start."""
    handlers = {name: local.handler.split(".")[0] for name, local in deployed.functions.items()}
    return [
        {
            "t": round(record.started.timestamp() - start_wall, 3),
            "handler": handlers.get(record.function_name, record.function_name),
            "source": record.source,
            "duration": round(record.duration_s, 3),
            "result": record.result,
            "error": record.error_type,
        }
        for record in runtime.invocations
    ]
