"""The human-readable report of a sandbox run."""

from __future__ import annotations

from typing import Any

from .expectations import decline_latency


def render(result: dict[str, Any], problems: list[str] | None = None) -> str:
    """A transcript: who got which SMS when, the replies, executions, and the final item."""
    lines = [f"Scenario: {result['scenario']}", ""]
    events = [(m["t"], "sms", m) for m in result["sms"]] + [(r["t"], "reply", r) for r in result["replies"]]
    events += [(r["t"], "receipt", r) for r in result.get("receipts", [])]
    events += [(c["t"], "call", c) for c in result.get("calls", [])]
    for t, kind, entry in sorted(events, key=lambda event: event[0]):
        if kind == "sms":
            lines.append(f"{t:7.2f}s  SMS -> {entry['to']}  [{entry['segments']} segment(s), {entry['encoding']}]")
            lines.append(f"          {entry['body']}")
        elif kind == "call":
            lines.append(f"{t:7.2f}s  CALL -> {entry['to']}")
            lines.append(f"          {entry['body']}")
        elif kind == "receipt":
            price = "" if entry["price"] is None else f", ${entry['price']}"
            lines.append(f"{t:7.2f}s  receipt {entry['to']}: {entry['event_type']}{price}")
        else:
            lines.append(f"{t:7.2f}s  reply <- {entry['from']}: {entry['body']!r}")
    segments = sum(m["segments"] for m in result["sms"])
    lines += ["", f"SMS sent: {len(result['sms'])}, segments: {segments}"]
    latency = decline_latency(result)
    if latency is not None:
        lines.append(f"NO -> next contact paged in {latency:.2f} s")
    for execution in result["executions"]:
        lines += [
            "",
            f"Execution {execution['name']}: {execution['status']}",
            "  states: " + " -> ".join(execution["states_entered"]),
        ]
    for note in result.get("ops_notifications", []):
        lines += ["", f"Ops topic: {note['subject']}"]
    incident = result["incident"]
    lines += ["", "Final item:"]
    for key in sorted(k for k in incident if k not in ("timeline", "task_token")):
        lines.append(f"  {key}: {incident[key]}")
    lines.append("  timeline:")
    for entry in incident.get("timeline", []):
        detail = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("at", "event"))
        lines.append(f"    {entry['at']}  {entry['event']:<13} {detail}")
    if result["errors"]:
        lines += ["", "Errors:"] + [f"  {error}" for error in result["errors"]]
    if problems:
        lines += ["", "Expectations NOT met:"] + [f"  {problem}" for problem in problems]
    elif problems is not None:
        lines += ["", "Expectations met."]
    lines.append("" if result["completed"] else "\nRun did NOT complete.")
    return "\n".join(lines)
