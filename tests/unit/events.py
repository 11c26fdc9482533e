"""Builders for the events AWS delivers to the handlers (DynamoDB stream batches, SNS notifications)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import ACCOUNT_ID, INCIDENTS_TABLE, REGION

STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{INCIDENTS_TABLE}/stream/2026-01-01T00:00:00.000"
INBOUND_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:inbound-sms"


def stream_record(
    image: dict[str, Any], *, sequence: str = "100000000000000000001", event_name: str = "INSERT"
) -> dict[str, Any]:
    """One DynamoDB stream record (NEW_IMAGE view) as Lambda receives it."""
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1767225600,
        "Keys": {"incident_id": image["incident_id"]} if "incident_id" in image else {},
        "SequenceNumber": sequence,
        "SizeBytes": len(json.dumps(image)),
        "StreamViewType": "NEW_IMAGE",
    }
    if event_name != "REMOVE":
        dynamodb["NewImage"] = image
    return {
        "eventID": uuid.uuid5(uuid.NAMESPACE_URL, sequence).hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": STREAM_ARN,
    }


def stream_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sns_record(message: Any) -> dict[str, Any]:
    """One SNS notification record; message is the Message string (or anything, to test malformed ones)."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{INBOUND_TOPIC_ARN}:{uuid.uuid4()}",
        "Sns": {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": INBOUND_TOPIC_ARN,
            "Subject": None,
            "Message": message,
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.eu-west-2.amazonaws.com/cert.pem",
            "UnsubscribeUrl": "https://sns.eu-west-2.amazonaws.com/unsubscribe",
            "MessageAttributes": {},
        },
    }


def sns_event(*messages: Any) -> dict[str, Any]:
    return {"Records": [sns_record(message) for message in messages]}
