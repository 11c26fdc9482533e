"""The deadlines of heartbeat monitors: EventBridge Scheduler one-time schedules, one per beat.

Schedules fire within the minute they are set for, so each is set for the minute its deadline falls in, and a
checker invoked before the deadline waits for it.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from escalation.platform.aws_clients import SDK_CONFIG
from escalation.platform.observability import logger

SCHEDULE_RETRY_ATTEMPTS = 10  # Scheduler's retries of an invoke it could not make (throttled, denied)
SCHEDULE_MAX_EVENT_AGE_SECONDS = 3_600


def iso(epoch: float) -> str:
    """An epoch time as the app stores times (ISO 8601 UTC, milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@cache
def scheduler_client() -> Any:
    """The EventBridge Scheduler client (created once per container)."""
    return boto3.client("scheduler", config=SDK_CONFIG)


@dataclass(frozen=True)
class Schedules:
    """One-time schedules of one schedule group, invoking the checker (target) with a payload each."""

    client: Any
    group: str
    function_arn: str = ""  # the checker
    role_arn: str = ""  # the role Scheduler assumes to invoke it
    dead_letter_arn: str = ""  # where Scheduler puts an invoke it could not make

    def create(self, name: str, deadline: int, payload: dict[str, Any], *, description: str | None = None) -> None:
        """A schedule firing in the minute the deadline falls in (Scheduler's precision), then deleted."""
        minute = datetime.fromtimestamp(deadline - deadline % 60, UTC)
        target: dict[str, Any] = {
            "Arn": self.function_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(payload),
            "RetryPolicy": {
                "MaximumRetryAttempts": SCHEDULE_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": SCHEDULE_MAX_EVENT_AGE_SECONDS,
            },
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        self.client.create_schedule(
            Name=name,
            GroupName=self.group,
            ScheduleExpression=f"at({minute:%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
            ActionAfterCompletion="DELETE",
            Description=description or f"heartbeat {payload['monitor']}: deadline {iso(deadline)}",
        )

    def delete(self, name: str) -> None:
        """Delete a schedule; one already gone (fired, or deleted by another request) is fine."""
        try:
            self.client.delete_schedule(Name=name, GroupName=self.group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def delete_quietly(self, name: str | None) -> None:
        """Delete a superseded schedule, best effort: if it stays, it fires and does nothing."""
        if not name:
            return
        try:
            self.delete(name)
        except ClientError as error:
            logger.warning("a superseded schedule was not deleted", extra={"schedule": name, "error": str(error)})


def schedule_name(monitor_id: str, seq: int) -> str:
    """Unique per beat attempt (a beat that loses a race deletes its own schedule, never another's); <= 64 characters."""
    return f"hb-{monitor_id}-{seq}-{secrets.token_hex(4)}"


# -- managing monitors (the CLI) ---------------------------------------------------------------------
