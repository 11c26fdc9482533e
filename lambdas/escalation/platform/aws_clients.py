"""AWS clients, created once per container; tests swap them by clearing these caches."""

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Every call gives up well inside the function's timeout, so a slow AWS API surfaces as a classified
# error (and a retry of the task) rather than as a Lambda timeout halfway through a handler.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 3  # the first try and two retries (standard mode: exponential backoff with jitter, capped at 20 s)
SDK_CALL_WORST_CASE_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + 1 + 2  # + backoffs
SDK_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
)
# Sends are not retried by the SDK: a page's acknowledgement window runs while its function runs, and the state
# machine retries a throttled or failed page with a fresh window (courtesy texts are best effort).
SMS_SDK_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"total_max_attempts": 1, "mode": "standard"},
)


@cache
def dynamodb() -> Any:
    """The DynamoDB service resource."""
    return boto3.resource("dynamodb", config=SDK_CONFIG)


@cache
def stepfunctions() -> Any:
    """The Step Functions client (task tokens, executions)."""
    return boto3.client("stepfunctions", config=SDK_CONFIG)


@cache
def sns() -> Any:
    """The SNS client (ops notifications)."""
    return boto3.client("sns", config=SDK_CONFIG)


@cache
def cloudwatch() -> Any:
    """The CloudWatch client (an alarm's tags say which integration it pages)."""
    return boto3.client("cloudwatch", config=SDK_CONFIG)


@cache
def sms_v2() -> Any:
    """The AWS End User Messaging SMS client (pinpoint-sms-voice-v2)."""
    return boto3.client("pinpoint-sms-voice-v2", config=SMS_SDK_CONFIG)


@cache
def pinpoint() -> Any:
    """The legacy Amazon Pinpoint client, for accounts still sending with SendMessages."""
    return boto3.client("pinpoint", config=SMS_SDK_CONFIG)


@cache
def lambda_() -> Any:
    """The Lambda client (the storm digest function, invoked asynchronously)."""
    return boto3.client("lambda", config=SDK_CONFIG)


def reset() -> None:
    """Forget every cached client (tests, and the sandbox between runs)."""
    for factory in (dynamodb, stepfunctions, sns, cloudwatch, sms_v2, pinpoint, lambda_):
        factory.cache_clear()
