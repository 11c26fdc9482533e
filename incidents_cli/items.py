"""Reading incident items as the CLI shows them: when each was opened, who has it, the whole table."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from escalation.incidents.status import Event, Status
from escalation.sms.phone_numbers import is_e164, mask

from .context import INCIDENTS_TABLE_OUTPUT, Cli, CliError, parse_stored


def opened_at(item: Mapping[str, Any]) -> datetime | None:
    """When the incident was taken up: its first timeline entry (created, or invalid), else stat_date; None when new."""
    timeline = item.get("timeline") or []
    return parse_stored(timeline[0].get("at")) if timeline else parse_stored(item.get("stat_date"))


def created_at(item: Mapping[str, Any]) -> datetime | None:
    """When its escalation started (the `created` entry), None for an item never paged."""
    entry = next((entry for entry in item.get("timeline") or [] if entry.get("event") == Event.CREATED), None)
    return parse_stored(entry.get("at")) if entry else None


def shown(who: object, *, reveal: bool = False) -> str:
    """A phone number masked as the timeline shows it (in full with reveal); a CLI user (cli:<name>) as is."""
    text = str(who or "")
    return mask(text) if is_e164(text) and not reveal else text


def holder(item: Mapping[str, Any], *, reveal: bool = False) -> str:
    """Who has the incident (acknowledged), or who is being paged now, as shown to a person (numbers masked)."""
    if item.get("incident_stat") == Status.ACKNOWLEDGED or item.get("acknowledged_by"):
        return f"acknowledged by {shown(item.get('acknowledged_by', '?'), reveal=reveal)}"
    if item.get("current_contact"):
        return f"paging {shown(item['current_contact'], reveal=reveal)}"
    return ""


def scan(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of the table, page by page."""
    while True:
        page = table.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get_incident(cli: Cli, incident_id: str) -> dict[str, Any]:
    """The incident item, or CliError naming the table it is not in."""
    item = cli.incidents().get(incident_id)
    if item is None:
        raise CliError(f"no incident {incident_id!r} in {cli.output(INCIDENTS_TABLE_OUTPUT)}")
    return item
