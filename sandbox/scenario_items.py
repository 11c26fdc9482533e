"""The parts of a scenario file: its scheduled items, the error that names a bad field, and the field readers.

``sandbox.scenario`` reads a whole file into a ``Scenario`` with these; the sections parsed elsewhere
(``sandbox.heartbeats``, ``sandbox.receipts``) use them too.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the field."""


@dataclass(frozen=True)
class PhoneAction:
    """Reply `reply` `delay_seconds` after the phone has received its `on_sms`-th message.

    on_sms_to: count another phone's messages instead (reply once that phone got its n-th text), to
    order replies of two phones without relying on how fast the system answers the first.
    holds_windows: until the reply's effects have settled, no acknowledgement window closes (the
    scenario's verdict then never depends on machine speed); false for a reply meant to race a window.
    """

    on_sms: int
    reply: str
    delay_seconds: float = 0.0
    on_sms_to: str | None = None
    holds_windows: bool = True
    on_call: bool = False  # count the phone's voice calls instead of its texts (`{"on_call": 1, "reply": ...}`)


@dataclass(frozen=True)
class SmsTrigger:
    """The moment `to` has received its `count`-th text (instead of a fixed time after the start)."""

    to: str
    count: int


@dataclass(frozen=True)
class Injection:
    """A raw payload published to the inbound topic `after_seconds` after the incident (or after `on_sms`)."""

    after_seconds: float
    message: str
    on_sms: SmsTrigger | None = None


@dataclass(frozen=True)
class Write:
    """An item (DynamoDB JSON) put into the incidents table `after_seconds` after the incident (or after `on_sms`)."""

    after_seconds: float
    item: dict[str, Any]
    on_sms: SmsTrigger | None = None


@dataclass(frozen=True)
class SmsFailure:
    """The next SendTextMessage to `to` fails with this service error code (and Reason, Fields)."""

    code: str
    to: str | None = None
    message: str = "failed by the scenario"
    reason: str | None = None
    fields: tuple[str, ...] = ()
    after_sms: int = 0  # fail only once this many texts went to `to` (a reminder, a confirmation, not the page)


@dataclass(frozen=True)
class OverrideAt:
    """An on-call override stored after the deploy: `person` covers `rotation` from/to seconds after the incident."""

    rotation: str
    person: str
    from_seconds: float
    to_seconds: float


@dataclass(frozen=True)
class EventPost:
    """A body POSTed to the Events API v2 endpoint `after_seconds` after the start (or after `on_sms`).

    routing_key from `integration`. `after_answer_to`: the index of an earlier post whose answer this one waits
    for first (then `after_seconds` more), so "resolve 50 ms after the trigger was accepted" does not depend on
    how fast the machine answers the trigger.
    """

    after_seconds: float
    body: dict[str, Any]
    integration: str | None = None
    on_sms: SmsTrigger | None = None
    after_answer_to: int | None = None


@dataclass(frozen=True)
class AlarmChangeAt:
    """A CloudWatch alarm entering `state` `after_seconds` after the start (or after `on_sms`).

    EventBridge's event to the rule's target.
    """

    after_seconds: float
    alarm_name: str
    state: str
    integration: str | None = None  # the alarm's incident-escalation:integration tag; None: untagged
    on_sms: SmsTrigger | None = None


def when(item: dict[str, Any], where: str) -> tuple[float, SmsTrigger | None]:
    """(after_seconds, on_sms) of a scheduled item: seconds after the start, or after a text reached a phone."""
    trigger = item.get("on_sms")
    if trigger is None:
        return float(require(item, "after_seconds", int | float, where)), None
    if not isinstance(trigger, dict):
        raise ScenarioError(f"{where}on_sms: must be an object {{to, count}}")
    to = require(trigger, "to", str, f"{where}on_sms.")
    count = require(trigger, "count", int, f"{where}on_sms.")
    if count < 1:
        raise ScenarioError(f"{where}on_sms.count: must be 1 or more")
    after = item.get("after_seconds", 0)
    if not isinstance(after, int | float) or after < 0:
        raise ScenarioError(f"{where}after_seconds: must be a non-negative number")
    return float(after), SmsTrigger(to=to, count=count)


def require(data: dict[str, Any], key: str, kind: type | types.UnionType, where: str) -> Any:
    """data[key], checked to be there and of kind; ScenarioError naming where it is otherwise."""
    if key not in data:
        raise ScenarioError(f"{where}{key}: is required")
    if not isinstance(data[key], kind):
        raise ScenarioError(f"{where}{key}: must be a {getattr(kind, '__name__', 'number')}")
    return data[key]
