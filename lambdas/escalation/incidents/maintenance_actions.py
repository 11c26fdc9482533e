"""Maintenance windows as the CLI asks for them, and as EventBridge Scheduler brings their edges (the operator function).

Requests (escalation.incidents.operator routes them here):
- `{"action": "maintenance_start", "scope": "integration"|"policy", "target", "from", "to", "reason", "by", "request_id"}`
  (epoch seconds): the window is stored once per request id, ops are told at its start (now, or by a schedule at
  `from`), and a schedule at `to` ends it;
- `{"action": "maintenance_end", "window", "by", "request_id"}`: ends it now (once; a second end changes nothing);
- `{"action": "maintenance_list"}`: every window kept, planned, active or ended;
- `{"action": "maintenance_due", "window", "edge": "start"|"end"}`: from the schedules; at the end, every incident the
  window still holds is released (escalation.store.maintenance_windows) and starts paging, unless it was closed.
Every edge is applied at least once and as often as it comes: ops hear of each start and end once (once-only keys).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.heartbeat_schedules import Schedules, scheduler_client
from escalation.incidents.maintenance import MaintenanceError, Window, check_window, describe, iso
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.store.maintenance_windows import MaintenanceWindows, held_by, release

ACTIONS = ("maintenance_start", "maintenance_end", "maintenance_list", "maintenance_due")
EARLY_WAIT_LIMIT_SECONDS = 75.0  # Scheduler fires within the minute an edge falls in: wait for the edge itself


def _windows(deps: Dependencies) -> MaintenanceWindows:
    if deps.oncall_table is None:
        raise MaintenanceError("maintenance", "this deployment has no on-call table to keep windows in")
    return MaintenanceWindows(deps.oncall_table)


def _schedules(function_arn: str) -> Schedules:
    return Schedules(
        scheduler_client(), os.environ.get("MAINTENANCE_SCHEDULE_GROUP", ""), function_arn=function_arn,
        role_arn=os.environ.get("MAINTENANCE_SCHEDULER_ROLE_ARN", ""),
    )  # fmt: skip


def _schedule_name(window: Window, edge: str) -> str:
    return f"mw-{window.id}-{edge}"


def _schedule(schedules: Schedules, window: Window, edge: str) -> None:
    """The one-time schedule of a window's edge; a retried request finds it made already."""
    moment = window.start if edge == "start" else window.end
    try:
        schedules.create(
            _schedule_name(window, edge), moment, {"action": "maintenance_due", "window": window.id, "edge": edge},
            description=f"maintenance {window.id}: {edge}",
        )  # fmt: skip
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConflictException":
            raise


def _tell_ops(deps: Dependencies, window: Window, edge: str, detail: str = "") -> None:
    """Tell ops that a window started or ended, once per window and edge."""
    what = f"{window.scope} {window.target}"
    if edge == "start":
        subject = f"Maintenance started: {what}"
        body = f"Nobody is paged for {what} until {iso(window.until)}. Reason: {window.reason or '-'}. By {window.by}."
    else:
        subject = f"Maintenance ended: {what}"
        body = f"Paging for {what} is back on. {detail}".strip()
    if deps.settings.ops_topic_arn:
        topic = deps.settings.ops_topic_arn
        deps.once.once(
            f"maintenance#{window.id}#{edge}",
            lambda: deps.sns().publish(TopicArn=topic, Subject=subject[:100], Message=body),
        )


def start_window(deps: Dependencies, request: dict[str, Any], *, function_arn: str, now: float) -> dict[str, Any]:
    """Store a window (once per request id), tell ops if it starts now, and schedule its edges."""
    try:
        start, end = int(request["from"]), int(request["to"])
    except (KeyError, TypeError, ValueError):
        raise MaintenanceError("from", "from and to must be epoch seconds") from None
    scope, target, reason = str(request.get("scope", "")), str(request.get("target", "")), str(request.get("reason", ""))
    check_window(scope, target, start, end, now=now, reason=reason)
    window_id = hashlib.sha256(str(request["request_id"]).encode()).hexdigest()[:10]
    window = _windows(deps).put(
        Window(window_id, scope, target, max(start, int(now)), end, reason=reason, by=str(request["by"])),
        request_id=str(request["request_id"]),
    )
    schedules = _schedules(function_arn)
    if window.start > now:
        _schedule(schedules, window, "start")
    else:
        _tell_ops(deps, window, "start")
    _schedule(schedules, window, "end")
    logger.info("maintenance window", extra={"window": window.id, "scope": scope, "target": target, "until": window.until})
    return describe(window, now)


def _finish(deps: Dependencies, window: Window) -> int:
    """Release every incident the window holds and tell ops; returns how many were released."""
    held = held_by(_windows(deps), window.id)
    released = sum(1 for incident_id in held if release(deps.incidents.table, incident_id, window.id))
    _tell_ops(deps, window, "end", f"{released} incident(s) held during the window page now." if released else "")
    return released


def end_window(deps: Dependencies, window_id: str, *, function_arn: str, now: float) -> dict[str, Any]:
    """End a window now (its incidents page), or say it had ended."""
    window = _windows(deps).end(window_id, int(now))
    if window is None:
        raise MaintenanceError("window", f"no maintenance window {window_id!r}")
    released = _finish(deps, window)
    for edge in ("start", "end"):
        _schedules(function_arn).delete_quietly(_schedule_name(window, edge))
    return {**describe(window, now), "released": released}


def due(deps: Dependencies, request: dict[str, Any], *, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """A window's edge, from its schedule (possibly early within the minute, late, or twice)."""
    window = _windows(deps).get(str(request.get("window", "")))
    if window is None:
        return {"ok": True, "outcome": "no_such_window"}
    edge = "start" if request.get("edge") == "start" else "end"
    moment = window.start if edge == "start" else window.until
    wait = moment - clock()
    if 0 < wait <= EARLY_WAIT_LIMIT_SECONDS:
        time.sleep(wait)
    if edge == "start":
        if window.active(clock()):
            _tell_ops(deps, window, "start")
        return {"ok": True, "outcome": "started", "window": window.id}
    if window.active(clock()):  # fired far too early (a clock fault): the next delivery or `end` will do it
        return {"ok": True, "outcome": "not_yet", "window": window.id}
    return {"ok": True, "outcome": "ended", "window": window.id, "released": _finish(deps, window)}


def handle(request: dict[str, Any], dependencies: Callable[[], Dependencies], *, function_arn: str) -> dict[str, Any]:
    """One maintenance request; a refused one is data naming the field."""
    action, now = request.get("action"), time.time()
    try:
        if action == "maintenance_due":
            return due(dependencies(), request)
        if action == "maintenance_list":
            return {"ok": True, "windows": [describe(window, now) for window in _windows(dependencies()).all()]}
        if action == "maintenance_end":
            return {"ok": True, **end_window(dependencies(), str(request.get("window", "")), function_arn=function_arn, now=now)}
        return {"ok": True, **start_window(dependencies(), request, function_arn=function_arn, now=now)}
    except MaintenanceError as error:
        return {"ok": False, "error": "refused", "message": str(error)}
