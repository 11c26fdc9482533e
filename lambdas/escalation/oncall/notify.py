"""Notification rules per person: how a level that pages them reaches them, method by method, with delays.

In oncall.yaml::

    people:
      alice: {name: Alice, phone: "+447700900001", zone: Europe/London, notify: [{sms: 0}, {voice: 2}]}

Each step is one method and its delay in minutes after the level pages the person. The text goes when the
level pages (``sms: 0``, first: it is the page the person answers); a ``voice`` step calls them that many
minutes later unless the incident was acknowledged, resolved or moved on meanwhile. Without ``notify`` a
person is texted only. Refused at synth: an unknown method, a step that is not one ``{method: minutes}``
pair, a list out of order, a method twice, and a call that could never ring because a level paging the
person ends first (its ``ack_timeout_seconds`` is not longer than the call's delay; see definitions.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from escalation.oncall.fields import StrictModel

METHODS = ("sms", "voice")
MAX_DELAY_MINUTES = 1_440


class NotifyStep(StrictModel):
    """One method, ``after_minutes`` after the level pages the person (written ``{voice: 2}`` in oncall.yaml)."""

    method: Literal["sms", "voice"]
    after_minutes: int = Field(ge=0, le=MAX_DELAY_MINUTES)


def _step(value: object) -> object:
    """``{voice: 2}`` -> ``{method: voice, after_minutes: 2}``; the long form (the deployed JSON) passes as it is."""
    if isinstance(value, dict) and set(value) == {"method", "after_minutes"}:
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise PydanticCustomError(
            "notify_step",
            "must be one method and its delay in minutes, e.g. {example}, got {value}",
            {"example": "{voice: 2}", "value": repr(value)},
        )
    ((method, minutes),) = value.items()
    if method not in METHODS:
        raise PydanticCustomError("notify_method", "unknown method {method} (known: sms, voice)", {"method": repr(method)})
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= MAX_DELAY_MINUTES:
        raise PydanticCustomError(
            "notify_delay",
            "{method}: the delay must be whole minutes from 0 to {limit}, got {minutes}",
            {"method": method, "limit": MAX_DELAY_MINUTES, "minutes": repr(minutes)},
        )
    return {"method": method, "after_minutes": minutes}


def _ordered(steps: tuple[NotifyStep, ...]) -> tuple[NotifyStep, ...]:
    if not steps or steps[0] != NotifyStep(method="sms", after_minutes=0):
        raise PydanticCustomError(
            "notify_first", "the list starts with {first}: the level's text goes when it pages the person", {"first": "{sms: 0}"}
        )
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if step.method in seen:
            raise PydanticCustomError(
                "notify_twice",
                "[{index}]: {method} is listed twice; give each method once",
                {"index": index, "method": step.method},
            )
        seen.add(step.method)
        if index and step.after_minutes < steps[index - 1].after_minutes:
            raise PydanticCustomError("notify_order", "[{index}]: steps must be in order of their delays", {"index": index})
    return steps


DEFAULT_NOTIFY = (NotifyStep(method="sms", after_minutes=0),)
Notify = Annotated[tuple[Annotated[NotifyStep, BeforeValidator(_step)], ...], AfterValidator(_ordered)]


def voice_after_seconds(steps: tuple[NotifyStep, ...]) -> int | None:
    """Seconds from the page to the call; None when the person is not called."""
    return next((step.after_minutes * 60 for step in steps if step.method == "voice"), None)
