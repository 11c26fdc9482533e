"""Maintenance windows in a scenario, and the schedules that bring their edges (docs/maintenance.md).

Scenario key `maintenance`:

    "maintenance": [{"integration": "db", "from_seconds": 0, "to_seconds": 20, "reason": "deploy"}]

(or `"policy": NAME`): each window is asked of the deployed operator function, as `incidents maintenance start`
asks, before anything else happens, with its times relative to the start. The operator function schedules the
window's edges in EventBridge Scheduler; moto's CloudFormation has no Scheduler, so the schedule group is created
here and due one-time schedules are fired by the sandbox's poller (sandbox/event_sources/schedules.py), as for
heartbeats. The run's result gets `maintenance`: each window as the function answered.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3

from .deploy import DeployedStack
from .event_sources.schedules import OneTimeSchedules
from .scenario_items import ScenarioError, SmsTrigger


@dataclass(frozen=True)
class WindowAt:
    """A window of an integration or a policy, from and to seconds after the start."""

    scope: str
    target: str
    from_seconds: float
    to_seconds: float
    reason: str = ""


def parse_maintenance(data: Any, integrations: dict[str, dict[str, Any]]) -> tuple[WindowAt, ...]:
    """Check the scenario's `maintenance` list."""
    if not isinstance(data, list) or not data:
        raise ScenarioError("maintenance: must be a list of windows ({integration | policy, from_seconds, to_seconds})")
    windows = []
    for index, item in enumerate(data):
        where = f"maintenance[{index}]."
        if not isinstance(item, dict) or ("integration" in item) == ("policy" in item):
            raise ScenarioError(f"{where}: must name exactly one integration or policy")
        scope = "integration" if "integration" in item else "policy"
        if scope == "integration" and item["integration"] not in integrations:
            raise ScenarioError(f"{where}integration: must be one of the scenario's integrations")
        start, end = item.get("from_seconds", 0), item.get("to_seconds")
        if not isinstance(start, int | float) or not isinstance(end, int | float) or end <= start:
            raise ScenarioError(f"{where}to_seconds: must be a number after from_seconds")
        windows.append(WindowAt(scope, str(item[scope]), float(start), float(end), str(item.get("reason", ""))))
    return tuple(windows)


class MaintenanceDriver:
    """Asks for the scenario's windows, and fires their edges' schedules.

    Scheduler fires a one-time schedule within the minute it is set for, so the end may come up to a minute early
    (the operator function then waits for it) or, in the poller, after the run looked finished; the driver also
    delivers each window's end at its second itself, as a second delivery of the same schedule (each edge is
    applied once however often it comes), which keeps the run going until the window is over.
    """

    def __init__(self, windows: tuple[WindowAt, ...], deployed: DeployedStack, region: str, errors: list[str]) -> None:
        self.windows: list[dict[str, Any]] = []
        self._errors = errors
        self._ends: list[tuple[float, str]] = []  # (seconds after the start, window id)
        self._function = deployed.outputs["OperatorFunctionName"]
        self._region = region
        self._poller: OneTimeSchedules | None = None
        if not windows:
            return
        boto3.client("scheduler", region_name=region).create_schedule_group(Name=deployed.outputs["MaintenanceScheduleGroup"])
        client = boto3.client("lambda", region_name=region)
        function = deployed.outputs["OperatorFunctionName"]
        now = time.time()
        for index, window in enumerate(windows):
            request = {
                "action": "maintenance_start", "scope": window.scope, "target": window.target,
                "from": int(now + window.from_seconds), "to": round(now + window.to_seconds), "reason": window.reason,
                "by": "cli:scenario", "request_id": f"scenario-window-{index}",
            }  # fmt: skip
            response = client.invoke(FunctionName=function, Payload=json.dumps(request).encode())
            answer = json.loads(response["Payload"].read() or b"null")
            if "FunctionError" in response or not isinstance(answer, dict) or not answer.get("ok"):
                errors.append(f"maintenance[{index}]: {answer}")
            self.windows.append(answer if isinstance(answer, dict) else {"answer": answer})
            if isinstance(answer, dict) and answer.get("ok"):
                self._ends.append((window.to_seconds, str(answer["id"])))
        self._poller = OneTimeSchedules(region).start()

    def _end(self, window_id: str) -> None:
        client = boto3.client("lambda", region_name=self._region)
        request = {"action": "maintenance_due", "window": window_id, "edge": "end"}
        response = client.invoke(FunctionName=self._function, Payload=json.dumps(request).encode())
        answer = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response or not isinstance(answer, dict) or not answer.get("ok"):
            self._errors.append(f"maintenance end of {window_id}: {answer}")

    def plans(self) -> list[tuple[float, SmsTrigger | None, str, Callable[[], object]]]:
        """Each window's end at its second, for the runner's scheduler."""
        return [
            (at, None, f"maintenance end {window_id}", functools.partial(self._end, window_id)) for at, window_id in self._ends
        ]

    def results(self, start_wall: float) -> list[dict[str, Any]]:
        """Each window as the function answered, with `to_t`: its end in seconds from the start (as texts' `t`)."""
        return [
            {**window, "to_t": round(datetime.fromisoformat(window["to"].replace("Z", "+00:00")).timestamp() - start_wall, 3)}
            if "to" in window
            else window
            for window in self.windows
        ]

    @property
    def polling(self) -> bool:
        """True when this driver fires one-time schedules (of every group)."""
        return self._poller is not None

    def stop(self) -> None:
        """Fire no more edges; the poller's own faults become the run's errors."""
        if self._poller is not None:
            self._poller.stop()
            self._errors.extend(self._poller.errors)
