"""AWS clients, created once per container; tests swap them by clearing these caches."""

from functools import cache
from typing import Any

import boto3


@cache
def dynamodb() -> Any:
    """The DynamoDB service resource."""
    return boto3.resource("dynamodb")


@cache
def stepfunctions() -> Any:
    """The Step Functions client (task tokens, executions)."""
    return boto3.client("stepfunctions")


@cache
def sns() -> Any:
    """The SNS client (ops notifications)."""
    return boto3.client("sns")


@cache
def sms_v2() -> Any:
    """The AWS End User Messaging SMS client (pinpoint-sms-voice-v2)."""
    return boto3.client("pinpoint-sms-voice-v2")


@cache
def pinpoint() -> Any:
    """The legacy Amazon Pinpoint client, for accounts still sending with SendMessages."""
    return boto3.client("pinpoint")


def reset() -> None:
    """Forget every cached client (tests, and the sandbox between runs)."""
    for factory in (dynamodb, stepfunctions, sns, sms_v2, pinpoint):
        factory.cache_clear()
