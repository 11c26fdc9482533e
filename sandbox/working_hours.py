"""Working hours that start during a scenario (scenario key `working_hours_start_in_seconds`), for urgency scenarios.

Low-urgency levels wait for working hours (docs/alerts.md#urgency). A scenario cannot say "09:00": it says when,
after its start, working hours begin, and every function gets `workingHours` (`WORKING_HOURS`, in UTC) from the next
whole minute at least that many seconds ahead, for two hours, every day. The result gets `working_hours_start_t`, the
start in seconds from the scenario's start, beside the texts' `t`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from datetime import UTC, datetime, timedelta

from .deploy import DeployedStack


def working_hours_from(seconds: float, now: float) -> tuple[str, float]:
    """(`WORKING_HOURS`, the epoch second they start): from the next whole minute at least `seconds` after now."""
    start = math.ceil((now + seconds) / 60) * 60
    begin = datetime.fromtimestamp(start, UTC)
    end = begin + timedelta(hours=2)
    return f"Mon-Sun {begin:%H:%M}-{end:%H:%M}", float(start)


def set_working_hours(deployed: DeployedStack, hours: str) -> None:
    """Every deployed function's working hours (UTC), before the runtime starts them."""
    for name, function in deployed.functions.items():
        environment = {**function.environment, "WORKING_HOURS": hours, "WORKING_HOURS_ZONE": "UTC"}
        deployed.functions[name] = dataclasses.replace(function, environment=environment)


def apply_working_hours(deployed: DeployedStack, start_in: float | None) -> float | None:
    """Set the scenario's working hours on every function; the epoch second they start (None: the scenario has none)."""
    if start_in is None:
        return None
    hours, start = working_hours_from(start_in, time.time())
    set_working_hours(deployed, hours)
    return start
