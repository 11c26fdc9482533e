"""Scenario files: an incident, scripted phones, raw inbound payloads, and what should happen."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .heartbeats import HeartbeatPlan, parse_heartbeats
from .maintenance import WindowAt, parse_maintenance
from .receipts import DeliveryScript, parse_delivery
from .scenario_items import (
    AlarmChangeAt,
    EventPost,
    Injection,
    OverrideAt,
    PhoneAction,
    ScenarioError,
    SmsFailure,
    Write,
    require,
    when,
)
from .voice import parse_earlier_calls

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@dataclass(frozen=True)
class Scenario:
    """One end-to-end run of the deployed system."""

    name: str
    settings: dict[str, Any]
    incident: dict[str, Any] | None  # None: incidents come from events or alarms only
    phones: dict[str, list[PhoneAction]] = field(default_factory=dict)
    inbound: list[Injection] = field(default_factory=list)
    time_limit_seconds: float = 60.0
    expect: dict[str, Any] = field(default_factory=dict)
    sms_failures: list[SmsFailure] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    oncall: dict[str, Any] | None = None  # on-call definitions deployed instead of oncall.yaml (same shape)
    overrides: list[OverrideAt] = field(default_factory=list)
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {contacts} or {policy}
    events: list[EventPost] = field(default_factory=list)
    alarms: list[AlarmChangeAt] = field(default_factory=list)
    heartbeats: HeartbeatPlan | None = None  # monitors and their beats (sandbox/heartbeats.py)
    maintenance: tuple[WindowAt, ...] = ()  # maintenance windows asked for at the start (sandbox/maintenance.py)
    working_hours_start_in: float | None = None  # working hours begin this long after the start (sandbox/working_hours.py)
    # What happens to each phone's texts after the gateway accepts them (sandbox/receipts.py): its delivery receipts.
    delivery: dict[str, list[DeliveryScript]] = field(default_factory=dict)
    calls_earlier_today: dict[str, int] = field(default_factory=dict)  # numbers already called (sandbox/voice.py)


ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
REPO_ROOT = SCENARIOS.parent.parent


def _integrations(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    raw = data.get("integrations") or {}
    if not isinstance(raw, dict):
        raise ScenarioError("integrations: must be an object of name -> {contacts: [...]} or {policy: ...}")
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not (isinstance(spec.get("contacts"), list) or isinstance(spec.get("policy"), str)):
            raise ScenarioError(f"integrations.{name}: must have contacts (a list of numbers) or policy (a name)")
    return dict(raw)


def _integration_ref(item: dict[str, Any], where: str, known: dict[str, dict[str, Any]]) -> str | None:
    name = item.get("integration")
    if name is None:
        return None
    if not isinstance(name, str) or name not in known:
        raise ScenarioError(f"{where}integration: {name!r} is not one of the scenario's integrations")
    return name


def _events(data: dict[str, Any], known: dict[str, dict[str, Any]]) -> list[EventPost]:
    posts = []
    for index, item in enumerate(data.get("events") or []):
        where = f"events[{index}]."
        if not isinstance(item, dict):
            raise ScenarioError(f"events[{index}]: must be an object")
        after, trigger = when(item, where)
        if "body_file" in item:
            path = REPO_ROOT / require(item, "body_file", str, where)
            try:
                body = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ScenarioError(f"{where}body_file: cannot read {path.name} ({error})") from None
        else:
            body = require(item, "body", dict, where)
        if not isinstance(body, dict):
            raise ScenarioError(f"{where}body: must be a JSON object")
        waits_for = item.get("after_answer_to")
        if waits_for is not None and (
            not isinstance(waits_for, int) or isinstance(waits_for, bool) or not 0 <= waits_for < index
        ):
            earlier = f"0 to {index - 1}" if index else "the first event has none"
            raise ScenarioError(f"{where}after_answer_to: must be the index of an earlier event ({earlier})")
        posts.append(EventPost(after, body, _integration_ref(item, where, known), trigger, waits_for))
    return posts


def _alarms(data: dict[str, Any], known: dict[str, dict[str, Any]]) -> list[AlarmChangeAt]:
    changes = []
    for index, item in enumerate(data.get("alarms") or []):
        where = f"alarms[{index}]."
        if not isinstance(item, dict):
            raise ScenarioError(f"alarms[{index}]: must be an object")
        after, trigger = when(item, where)
        state = require(item, "state", str, where)
        if state not in ALARM_STATES:
            raise ScenarioError(f"{where}state: must be one of {', '.join(ALARM_STATES)}")
        name = require(item, "alarm_name", str, where)
        changes.append(AlarmChangeAt(after, name, state, _integration_ref(item, where, known), trigger))
    return changes


def _alerts_and_incident(
    data: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], list[EventPost], list[AlarmChangeAt], dict[str, Any] | None]:
    """Integrations, endpoint posts, alarm changes, and the incident (required unless there are posts or alarms)."""
    integrations = _integrations(data)
    events = _events(data, integrations)
    alarms = _alarms(data, integrations)
    alone = not (events or alarms or "heartbeats" in data)  # with none of these the scenario pages its own incident
    incident = require(data, "incident", dict, "") if "incident" in data or alone else None
    return integrations, events, alarms, incident


def _overrides(data: dict[str, Any]) -> list[OverrideAt]:
    overrides = []
    for index, item in enumerate(data.get("overrides") or []):
        where = f"overrides[{index}]."
        start = float(require(item, "from_seconds", int | float, where))
        end = float(require(item, "to_seconds", int | float, where))
        if end <= start:
            raise ScenarioError(f"{where}to_seconds: must be after from_seconds")
        overrides.append(OverrideAt(require(item, "rotation", str, where), require(item, "person", str, where), start, end))
    return overrides


def _phones(data: dict[str, Any]) -> dict[str, list[PhoneAction]]:
    """The scripted phones: number -> actions."""
    phones: dict[str, list[PhoneAction]] = {}
    for number, actions in (data.get("phones") or {}).items():
        if not isinstance(actions, list):
            raise ScenarioError(f"phones.{number}: must be a list of actions")
        parsed = []
        for index, action in enumerate(actions):
            where = f"phones.{number}[{index}]."
            if not isinstance(action, dict):
                raise ScenarioError(f"{where[:-1]}: must be an object")
            trigger = "on_call" if "on_call" in action else "on_sms"  # after the n-th call (sandbox.voice) or text
            on_sms = require(action, trigger, int, where)
            if on_sms < 1:
                raise ScenarioError(f"{where}{trigger}: must be 1 or more")
            delay = action.get("delay_seconds", 0)
            if not isinstance(delay, int | float) or delay < 0:
                raise ScenarioError(f"{where}delay_seconds: must be a non-negative number")
            on_sms_to = action.get("on_sms_to")
            if on_sms_to is not None and not isinstance(on_sms_to, str):
                raise ScenarioError(f"{where}on_sms_to: must be a phone number string")
            holds = action.get("holds_windows", True)
            if not isinstance(holds, bool):
                raise ScenarioError(f"{where}holds_windows: must be true or false")
            parsed.append(
                PhoneAction(
                    on_sms,
                    require(action, "reply", str, where),
                    float(delay),
                    on_sms_to=on_sms_to,
                    holds_windows=holds,
                    on_call=trigger == "on_call",
                )
            )
        phones[number] = parsed
    return phones


def parse_scenario(data: dict[str, Any]) -> Scenario:
    """Check a scenario document and build the Scenario."""
    if not isinstance(data, dict):
        raise ScenarioError("scenario: must be a JSON object")
    phones = _phones(data)
    injections = []
    for index, item in enumerate(data.get("inbound") or []):
        where = f"inbound[{index}]."
        after, trigger = when(item, where)
        injections.append(Injection(after_seconds=after, message=require(item, "message", str, where), on_sms=trigger))
    failures = []
    for index, item in enumerate(data.get("sms_failures") or []):
        where = f"sms_failures[{index}]."
        to = item.get("to")
        if to is not None and not isinstance(to, str):
            raise ScenarioError(f"{where}to: must be a phone number string")
        reason = item.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ScenarioError(f"{where}reason: must be a string (the error's Reason)")
        after_sms = item.get("after_sms", 0)
        if not isinstance(after_sms, int) or after_sms < 0:
            raise ScenarioError(f"{where}after_sms: must be a whole number of texts, 0 or more")
        fields = item.get("fields") or []
        if not isinstance(fields, list) or not all(isinstance(name, str) for name in fields):
            raise ScenarioError(f"{where}fields: must be a list of field names")
        failures.append(
            SmsFailure(
                code=require(item, "code", str, where),
                to=to,
                message=str(item.get("message", "failed by the scenario")),
                reason=reason,
                fields=tuple(fields),
                after_sms=after_sms,
            )
        )
    writes = []
    for index, item in enumerate(data.get("writes") or []):
        where = f"writes[{index}]."
        after, trigger = when(item, where)
        writes.append(Write(after_seconds=after, item=require(item, "item", dict, where), on_sms=trigger))
    overrides = _overrides(data)
    oncall = data.get("oncall")
    if oncall is not None and not isinstance(oncall, dict):
        raise ScenarioError("oncall: must be an object shaped like oncall.yaml (people, rotations, policies)")
    limit = data.get("time_limit_seconds", 60)
    if not isinstance(limit, int | float) or limit <= 0:
        raise ScenarioError("time_limit_seconds: must be a positive number")
    integrations, events, alarms, incident = _alerts_and_incident(data)
    heartbeats = None
    if "heartbeats" in data:
        heartbeats = parse_heartbeats(data["heartbeats"], integrations)
    delivery = {}
    if "delivery" in data:
        delivery = parse_delivery(data["delivery"])
    return Scenario(
        name=require(data, "name", str, ""),
        settings=dict(data.get("settings") or {}),
        incident=incident,
        phones=phones,
        inbound=injections,
        time_limit_seconds=float(limit),
        expect=dict(data.get("expect") or {}),
        sms_failures=failures,
        writes=writes,
        oncall=oncall,
        overrides=overrides,
        integrations=integrations,
        events=events,
        alarms=alarms,
        heartbeats=heartbeats,
        delivery=delivery,
        maintenance=parse_maintenance(data["maintenance"], integrations) if "maintenance" in data else (),
        working_hours_start_in=_seconds_or_none(data, "working_hours_start_in_seconds"),
        calls_earlier_today=_earlier_calls(data),
    )


def _earlier_calls(data: dict[str, Any]) -> dict[str, int]:
    if "calls_earlier_today" not in data:
        return {}
    try:
        return parse_earlier_calls(data["calls_earlier_today"])
    except ValueError as error:
        raise ScenarioError(str(error)) from None


def _seconds_or_none(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
        raise ScenarioError(f"{key}: must be a number of seconds")
    return None if value is None else float(value)


def load_scenario(path: Path) -> Scenario:
    """Read a scenario file."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ScenarioError(f"{path.name}: not valid JSON ({error})") from error
    return parse_scenario(data)


def bundled_scenarios() -> list[Path]:
    """The scenario files shipped with the sandbox (the end-to-end suite)."""
    return sorted(SCENARIOS.glob("*.json"))
