"""The integrations table on moto, and API Gateway proxy requests for the events endpoint."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.conftest import REGION

INTEGRATIONS_TABLE = "Integrations"


def create_integrations_table() -> Any:
    """The integrations table, keyed as in stacks/alerts.py."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=INTEGRATIONS_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return boto3.resource("dynamodb", region_name=REGION).Table(INTEGRATIONS_TABLE)


def api_request(body: Any, *, request_id: str = "req-1") -> dict[str, Any]:
    """A REST API proxy-integration event for POST /v2/enqueue."""
    return {
        "resource": "/v2/enqueue",
        "path": "/v2/enqueue",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": request_id, "stage": "v2", "httpMethod": "POST"},
        "body": body if isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }
