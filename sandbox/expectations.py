"""What a run's result is checked against: a scenario's `expect` block, and the NO -> next page latency."""

from __future__ import annotations

from typing import Any


def check_expectations(result: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """What the run got wrong compared with the scenario's `expect` block (empty when all is well)."""
    problems = call_problems(result, expect)
    incident = result["incident"]
    for key in ("incident_stat", "acknowledged_by", "resolved_by", "double_escalation", "error", "alert_count"):
        if key in expect and incident.get(key) != expect[key]:
            problems.append(f"{key}: expected {expect[key]!r}, got {incident.get(key)!r}")
    if "cost" in expect and abs(float(incident.get("cost") or 0) - float(expect["cost"])) > 1e-9:
        problems.append(f"cost: expected {expect['cost']!r}, got {incident.get('cost')!r}")
    if "error_contains" in expect and expect["error_contains"] not in str(incident.get("error", "")):
        problems.append(f"error: expected to contain {expect['error_contains']!r}, got {incident.get('error')!r}")
    if "statuses" in expect:
        final = {str(item["incident_id"]): item.get("incident_stat") for item in result["incidents"]}
        if final != expect["statuses"]:
            problems.append(f"statuses: expected {expect['statuses']}, got {final}")
    if "incidents_opened" in expect and len(result["incidents"]) != expect["incidents_opened"]:
        problems.append(f"incidents: expected {expect['incidents_opened']}, got {len(result['incidents'])}")
    posted = [entry["status"] for entry in sorted(result.get("events", []), key=lambda entry: entry["index"])]
    if "event_statuses" in expect and posted != expect["event_statuses"]:
        problems.append(f"event statuses: expected {expect['event_statuses']}, got {posted}")
    sms = result["sms"]
    segments = sum(message["segments"] for message in sms)
    if "max_segments" in expect and segments > expect["max_segments"]:
        problems.append(f"segments: expected at most {expect['max_segments']}, got {segments}")
    if "sms_to" in expect and [message["to"] for message in sms] != expect["sms_to"]:
        problems.append(f"sms_to: expected {expect['sms_to']}, got {[message['to'] for message in sms]}")
    events = [entry.get("event") for entry in incident.get("timeline", [])]
    missing = [event for event in expect.get("timeline_includes", []) if event not in events]
    if missing:
        problems.append(f"timeline: missing {missing}; got {events}")
    entered = {state for execution in result["executions"] for state in execution["states_entered"]}
    absent = [state for state in expect.get("states_include", []) if state not in entered]
    if absent:
        problems.append(f"states: never entered {absent}")
    if "ops_notifications" in expect and len(result["ops_notifications"]) != expect["ops_notifications"]:
        problems.append(f"ops notifications: expected {expect['ops_notifications']}, got {len(result['ops_notifications'])}")
    if "executions" in expect and len(result["executions"]) != expect["executions"]:
        problems.append(f"executions: expected {expect['executions']}, got {len(result['executions'])}")
    statuses = {execution["status"] for execution in result["executions"]}
    expected_statuses = set(expect.get("execution_statuses", ["SUCCEEDED"]))  # paging stopped by a fault of ours: FAILED
    if statuses - expected_statuses:
        problems.append(f"executions: expected {sorted(expected_statuses)}, got {sorted(statuses)}")
    problems.extend(_first_text(sms, expect, result))
    if "max_decline_latency_seconds" in expect:
        latency = decline_latency(result)
        if latency is None or latency > expect["max_decline_latency_seconds"]:
            problems.append(f"NO -> next page latency: expected <= {expect['max_decline_latency_seconds']} s, got {latency}")
    if result["errors"] and not expect.get("errors_allowed"):
        problems.append(f"errors: {result['errors']}")
    return problems


def _first_text(sms: list[dict[str, Any]], expect: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """How many texts, and when the first went.

    `first_sms_after_seconds`: nobody was texted before then; `no_sms_in_maintenance`: nobody was texted before the
    last maintenance window ended (as the operator function recorded its end); `no_sms_before_working_hours`: nobody
    was texted before the scenario's working hours began (`working_hours_start_in_seconds`).
    """
    problems = []
    if "max_sms" in expect and len(sms) > expect["max_sms"]:
        problems.append(f"sms: expected at most {expect['max_sms']}, got {len(sms)}")
    if "sms_count" in expect and len(sms) != expect["sms_count"]:
        problems.append(f"sms: expected {expect['sms_count']}, got {len(sms)}")
    first = min((message["t"] for message in sms), default=None)
    if "first_sms_after_seconds" in expect and (first is None or first < expect["first_sms_after_seconds"]):
        problems.append(f"first text: expected at or after {expect['first_sms_after_seconds']} s, got {first}")
    hours = result.get("working_hours_start_t")
    if expect.get("no_sms_before_working_hours") and (hours is None or (first is not None and first < hours)):
        problems.append(f"a text at {first} s, before working hours began at {hours} s")
    ends = [float(window["to_t"]) for window in result.get("maintenance") or [] if "to_t" in window]
    if expect.get("no_sms_in_maintenance") and (not ends or (first is not None and first < max(ends))):
        problems.append(f"a text at {first} s, before the maintenance window ended at {max(ends, default=None)} s")
    return problems


def call_problems(result: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """`calls_to`: the numbers called (sandbox.voice), in order."""
    calls = [call["to"] for call in result.get("calls", [])]
    if "calls_to" in expect and calls != expect["calls_to"]:
        return [f"calls_to: expected {expect['calls_to']}, got {calls}"]
    return []


def decline_latency(result: dict[str, Any]) -> float | None:
    """Seconds from the first NO reply to the next page sent to someone else."""
    for reply in result["replies"]:
        if reply["body"].strip().casefold().strip(".!") in ("no", "n", "decline"):
            later = [m for m in result["sms"] if m["t"] >= reply["t"] and m["to"] != reply["from"] and "INCIDENT" in m["body"]]
            return round(later[0]["t"] - reply["t"], 3) if later else None
    return None
