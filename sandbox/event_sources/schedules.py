"""EventBridge Scheduler's one-time schedules, fired: moto stores schedules but never runs them.

A poller reads every enabled `at(...)` schedule from moto (in-process, as the deployed functions left them)
and, once its time has come, invokes its Lambda target asynchronously with the schedule's input (so the
sandbox's async queue applies the function's retries and on-failure destination), then deletes it when its
ActionAfterCompletion is DELETE. Scheduler invokes a target anywhere within the minute it is set for; the
poller fires at the start of that minute, the earliest Scheduler may (a target that must not act before its
own deadline has to wait for it, as on AWS). An invoke that cannot be made goes to the schedule's dead-letter
queue. Recurring (rate, cron) schedules are not fired.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .destinations import send_to


def at_time(expression: str, timezone: str | None = "UTC") -> float | None:
    """The epoch time of `at(yyyy-mm-ddThh:mm:ss)` in UTC; None for any other expression or time zone."""
    if not expression.startswith("at(") or not expression.endswith(")") or (timezone or "UTC") != "UTC":
        return None
    return datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC).timestamp()


class OneTimeSchedules:
    """Fires due one-time schedules of every schedule group, on a background thread."""

    def __init__(self, region: str, *, poll_s: float = 0.2, clock: Callable[[], float] = time.time) -> None:
        self.region = region
        self.poll_s = poll_s
        self.clock = clock
        self.fired: list[dict[str, Any]] = []  # {schedule, group, scheduled_for, fired_at, input}
        self.errors: list[str] = []
        self._scheduler = boto3.client("scheduler", region_name=region)
        self._lambda = boto3.client("lambda", region_name=region)
        self._done: set[str] = set()  # fired schedules kept after completion (ActionAfterCompletion NONE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sandbox-scheduler")

    def start(self) -> OneTimeSchedules:
        """Poll until stopped."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Fire nothing more."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.fire_due()
            except Exception as error:  # a sandbox fault: recorded, the poller goes on
                self.errors.append(f"scheduler poller: {error}")

    def fire_due(self) -> list[str]:
        """Fire every one-time schedule whose minute has come; the names fired."""
        fired = []
        now = self.clock()
        for group in self._scheduler.list_schedule_groups()["ScheduleGroups"]:
            listed = self._scheduler.list_schedules(GroupName=group["Name"], State="ENABLED")["Schedules"]
            for summary in listed:
                if summary["Arn"] in self._done:
                    continue
                try:
                    schedule = self._scheduler.get_schedule(GroupName=group["Name"], Name=summary["Name"])
                except ClientError:
                    continue  # deleted meanwhile (by the next beat)
                when = at_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
                if when is None or when - when % 60 > now:  # due from the start of its minute
                    continue
                self._fire(schedule, when, now)
                fired.append(schedule["Name"])
        return fired

    def _fire(self, schedule: dict[str, Any], when: float, now: float) -> None:
        target = schedule["Target"]
        payload = target.get("Input") or "{}"
        self._done.add(schedule["Arn"])
        self.fired.append(
            {"schedule": schedule["Name"], "group": schedule["GroupName"], "scheduled_for": when, "fired_at": now,
             "input": json.loads(payload)}
        )  # fmt: skip
        try:
            self._lambda.invoke(FunctionName=target["Arn"], InvocationType="Event", Payload=payload.encode())
        except ClientError as error:
            dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dead_letters:
                send_to(dead_letters, json.dumps({"schedule": schedule["Arn"], "input": payload, "error": str(error)}))
            self.errors.append(f"schedule {schedule['Name']}: its target could not be invoked: {error}")
        if schedule.get("ActionAfterCompletion") == "DELETE":
            with contextlib.suppress(ClientError):  # deleted meanwhile
                self._scheduler.delete_schedule(GroupName=schedule["GroupName"], Name=schedule["Name"])
