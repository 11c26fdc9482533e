"""Heartbeat monitors in a scenario: monitors created before the start, beats at times, deadlines fired.

Scenario key `heartbeats`:

    "heartbeats": {
      "monitors": {"nightly-backup": {"integration": "batch-jobs", "interval_seconds": 60, "grace_seconds": 0}},
      "beats": [{"monitor": "nightly-backup", "after_seconds": 0},
                {"monitor": "nightly-backup", "on_sms": {"to": "+447700900001", "count": 1}}]
    }

Each monitor is created in the integrations table (its integration must be one of the scenario's); each
beat is `POST /v2/heartbeat/<token>` as API Gateway's proxy integration passes it to the deployed beat
function. The deadlines it schedules are fired by event_sources.schedules (the schedule group is created
here: moto's CloudFormation has no EventBridge Scheduler). The run's result gets `heartbeats`: each beat's
answer and each schedule fired, with times in seconds from the start.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from .deploy import DeployedStack
from .event_sources.schedules import OneTimeSchedules
from .scenario_items import ScenarioError, SmsTrigger, when


@dataclass(frozen=True)
class MonitorSpec:
    """A monitor to create before the start."""

    name: str
    integration: str
    interval_seconds: int
    grace_seconds: int


@dataclass(frozen=True)
class BeatAt:
    """A beat of `monitor` `after_seconds` after the start (or after `on_sms`)."""

    monitor: str
    after_seconds: float
    on_sms: SmsTrigger | None = None


@dataclass(frozen=True)
class HeartbeatPlan:
    """The scenario's monitors and beats."""

    monitors: tuple[MonitorSpec, ...] = ()
    beats: tuple[BeatAt, ...] = field(default_factory=tuple)


def parse_heartbeats(data: Any, integrations: dict[str, dict[str, Any]]) -> HeartbeatPlan:
    """Check the scenario's `heartbeats` block."""
    if not isinstance(data, dict) or not isinstance(data.get("monitors"), dict) or not data["monitors"]:
        raise ScenarioError("heartbeats.monitors: must be an object of name -> {integration, interval_seconds, grace_seconds}")
    monitors = []
    for name, spec in data["monitors"].items():
        where = f"heartbeats.monitors.{name}."
        if not isinstance(spec, dict) or spec.get("integration") not in integrations:
            raise ScenarioError(f"{where}integration: must be one of the scenario's integrations")
        interval, grace = spec.get("interval_seconds"), spec.get("grace_seconds", 0)
        if not isinstance(interval, int) or not isinstance(grace, int):
            raise ScenarioError(f"{where}interval_seconds, grace_seconds: must be whole numbers of seconds")
        monitors.append(MonitorSpec(name, spec["integration"], interval, grace))
    beats = []
    for index, item in enumerate(data.get("beats") or []):
        where = f"heartbeats.beats[{index}]."
        if not isinstance(item, dict) or item.get("monitor") not in data["monitors"]:
            raise ScenarioError(f"{where}monitor: must be one of heartbeats.monitors")
        after, trigger = when(item, where)
        beats.append(BeatAt(item["monitor"], after, trigger))
    return HeartbeatPlan(tuple(monitors), tuple(beats))


def proxy_event(token: str) -> dict[str, Any]:
    """The API Gateway REST proxy-integration event for `POST /v2/heartbeat/{token}` (no body: a curl -X POST)."""
    return {
        "resource": "/heartbeat/{token}",
        "path": f"/heartbeat/{token}",
        "httpMethod": "POST",
        "headers": {"User-Agent": "curl/8.5.0", "Accept": "*/*"},
        "queryStringParameters": None,
        "pathParameters": {"token": token},
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "v2",
            "httpMethod": "POST",
            "resourcePath": "/heartbeat/{token}",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


class HeartbeatsDriver:
    """Creates the scenario's monitors, beats them on time, and fires their deadlines."""

    def __init__(self, plan: HeartbeatPlan | None, deployed: DeployedStack, region: str, errors: list[str]) -> None:
        from escalation.alerts import heartbeat_monitors  # noqa: PLC0415 (lambdas/ is on the path once stacks are)

        self._plan = plan or HeartbeatPlan()
        self._errors = errors
        self._lock = threading.Lock()
        self.beats: list[dict[str, Any]] = []
        self._tokens: dict[str, str] = {}
        self._poller: OneTimeSchedules | None = None
        if not self._plan.monitors:
            return
        boto3.client("scheduler", region_name=region).create_schedule_group(Name=deployed.outputs["HeartbeatScheduleGroup"])
        table = boto3.resource("dynamodb", region_name=region).Table(deployed.outputs["IntegrationsTableName"])
        for monitor in self._plan.monitors:
            created = heartbeat_monitors.create_monitor(
                table, monitor.name, integration=monitor.integration, interval_seconds=monitor.interval_seconds,
                grace_seconds=monitor.grace_seconds,
            )  # fmt: skip
            self._tokens[monitor.name] = created["token"]
        self._function = deployed.function_name("HeartbeatsHeartbeatEvents")
        self._lambda = boto3.client("lambda", region_name=region)
        self._poller = OneTimeSchedules(region).start()

    def _beat(self, index: int) -> None:
        beat = self._plan.beats[index]
        at = time.time()
        event = proxy_event(self._tokens[beat.monitor])
        response = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        status = int(payload["statusCode"]) if isinstance(payload, dict) and "FunctionError" not in response else 502
        body = json.loads(payload.get("body") or "{}") if status != 502 else {"message": "Internal server error"}
        with self._lock:
            self.beats.append({"index": index, "monitor": beat.monitor, "at": at, "status": status, "response": body})
        if status != 200:
            self._errors.append(f"heartbeats.beats[{index}]: {status} {body}")

    def plans(self) -> list[tuple[float, SmsTrigger | None, str, Callable[[], object]]]:
        """Each beat at its moment, for the runner's scheduler."""
        return [
            (beat.after_seconds, beat.on_sms, f"heartbeats.beats[{index}]", functools.partial(self._beat, index))
            for index, beat in enumerate(self._plan.beats)
        ]

    @property
    def poller_running(self) -> bool:
        """True when this driver fires one-time schedules (of every group: voice calls' too)."""
        return self._poller is not None

    def stop(self) -> None:
        """Fire no more deadlines; the poller's own faults become the run's errors."""
        if self._poller is not None:
            self._poller.stop()
            self._errors.extend(self._poller.errors)

    def results(self, start_wall: float) -> dict[str, Any]:
        """Beats and fired deadlines, times in seconds from the start."""
        fired = self._poller.fired if self._poller is not None else []
        return {
            "beats": [
                {**{k: v for k, v in beat.items() if k != "at"}, "t": round(beat["at"] - start_wall, 3)}
                for beat in sorted(self.beats, key=lambda beat: beat["index"])
            ],
            "fired": [
                {
                    "schedule": entry["schedule"],
                    "t": round(entry["fired_at"] - start_wall, 3),
                    "deadline_t": round(float(entry["input"].get("deadline", 0)) - start_wall, 3),
                    "input": entry["input"],
                }
                for entry in fired
            ],
        }
