"""A low-urgency incident's level waits for its targets' working hours (the rules: escalation.incidents.urgency).

When a level of a low-urgency incident is due and none of its targets is within working hours, the page is not sent:
the task completes as `queued` (as a page waiting for a send slot does) and the state machine's Wait brings it back
after RECHECK_SECONDS (LONG_RECHECK_SECONDS while working hours are more than LONG_WAIT_SECONDS away), or at the
start of the first target's working hours if sooner. Each look reads the item again, so an incident made high
meanwhile (a repeat raised its severity) or closed (resolved) is paged or ended at the next look. The level's
timeline says `held` once, with when it will page.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from escalation.incidents.status import Event
from escalation.incidents.timeline import level_who, timeline_entry
from escalation.incidents.urgency import LOW, WorkingHours, first_start, parse_hours
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies

RECHECK_SECONDS = 300  # a held level looks again this often: a raise to high pages within it
# Further than this from working hours, it looks every LONG_RECHECK_SECONDS: a week's wait stays well within an
# execution's 25,000 history events (about 10 events a look).
LONG_WAIT_SECONDS = 6 * 3600
LONG_RECHECK_SECONDS = 900


def _hours_of(deps: Dependencies, numbers: list[str], policy: str | None) -> list[WorkingHours]:
    """Each target's working hours: a person's own (oncall.yaml), else the deployment's for a plain number."""
    deployment = parse_hours(deps.settings.working_hours, deps.settings.working_hours_zone)
    people: dict[str, WorkingHours] = {}
    if policy and deps.oncall_table is not None:
        from escalation.oncall.store import NoDefinitions, OncallStore  # noqa: PLC0415 (pydantic only for policies)

        try:
            people = {person.phone: person.hours() for person in OncallStore(deps.oncall_table).definitions().people.values()}
        except NoDefinitions:
            people = {}
    return [people.get(number, deployment) for number in numbers]


def hold_for_working_hours(
    deps: Dependencies, event: dict[str, Any], item: dict[str, Any], entry: str, numbers: list[str], *, now: datetime
) -> dict[str, Any] | None:
    """Hold a low-urgency level outside its targets' working hours (the task completes as queued); None: page now."""
    if item.get("urgency") != LOW or int(event.get("attempt", 0)) != 0 or not numbers:
        return None
    starts = first_start(_hours_of(deps, numbers, item.get("policy")), now)
    if starts <= now:
        return None
    remaining = math.ceil((starts - now).total_seconds())
    seconds = max(1, min(RECHECK_SECONDS if remaining <= LONG_WAIT_SECONDS else LONG_RECHECK_SECONDS, remaining))
    incident_id, level, execution = str(item["incident_id"]), int(event["level"]), str(event["execution"])
    until = starts.isoformat(timespec="seconds").replace("+00:00", "Z")

    def record() -> None:
        held = timeline_entry(Event.HELD, now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), level=level,
                              **level_who(entry), until=until)  # fmt: skip
        deps.incidents.append(incident_id, held)

    deps.once.once(f"held#{execution}#{level}#{until}", record)  # once per level and start, however often it looks
    deps.stepfunctions().send_task_success(
        taskToken=event["token"], output=json.dumps({"outcome": "queued", "wait_seconds": seconds})
    )
    logger.info("low urgency: waiting for working hours", extra={"incident_id": incident_id, "level": level, "until": until})
    return {"outcome": "held", "wait_seconds": seconds, "until": until}
