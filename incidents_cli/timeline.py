"""An incident's timeline, as `show` prints it (a table) and as `tail` follows it (one line per new entry)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from . import context
from .context import parse_duration, parse_stored, plain
from .items import get_incident, scan

TIMELINE_KEYS = ("at", "event", "level", "phone")


def _detail(entry: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in entry.items() if key not in TIMELINE_KEYS)


def timeline_table(entries: list[dict[str, Any]], *, with_incident: bool = False) -> Table:
    """The timeline as a table: time, event, level, phone (masked), the rest."""
    table = Table(show_edge=False, pad_edge=False)
    if with_incident:
        table.add_column("incident")
    table.add_column("at", no_wrap=True)
    for name in ("event", "level", "who", "detail"):
        table.add_column(name, no_wrap=name != "detail")
    for entry in entries:
        row = [
            str(entry.get("at", "")),
            str(entry.get("event", "")),
            str(entry.get("level", "")),
            str(entry.get("phone") or entry.get("by") or ""),
            _detail({key: value for key, value in entry.items() if key not in ("by", "incident_id")}),
        ]
        table.add_row(*([str(entry.get("incident_id", ""))] if with_incident else []), *row)
    return table


class _Follower:
    """New timeline entries since the last poll, per incident (a replaced item starts over)."""

    def __init__(self, since: datetime) -> None:
        self.since = since
        self.seen: dict[str, tuple[str, int]] = {}

    def new_entries(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh: list[dict[str, Any]] = []
        for item in items:
            incident_id = str(item["incident_id"])
            timeline = item.get("timeline") or []
            first = str(timeline[0].get("at", "")) if timeline else ""
            previous = self.seen.get(incident_id)
            if previous is not None and previous[0] == first:
                entries = timeline[previous[1] :]
            else:  # first sight of this incident (or a new one under the same id): only what is recent
                entries = [entry for entry in timeline if (parse_stored(entry.get("at")) or self.since) >= self.since]
            self.seen[incident_id] = (first, len(timeline))
            fresh.extend({"incident_id": incident_id, **entry} for entry in entries)
        return sorted(fresh, key=lambda entry: str(entry.get("at", "")))


def tail_line(entry: dict[str, Any]) -> str:
    """One followed timeline entry on one line."""
    level = f"L{entry['level']}" if "level" in entry else "  "
    who = str(entry.get("phone") or entry.get("by") or "")
    detail = _detail({key: value for key, value in entry.items() if key not in ("by", "incident_id")})
    return (
        f"{entry.get('at', '')}  {entry['incident_id']:<12} {entry.get('event', ''):<13} {level:<3} {who:<16} {detail}".rstrip()
    )


def tail(
    ctx: typer.Context,
    incident_id: Annotated[str | None, typer.Argument(help="Follow only this incident.")] = None,
    since: Annotated[str, typer.Option(help="Show entries from this past span first, e.g. 10m, 1h.")] = "10m",
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.0)] = 2.0,
    iterations: Annotated[int, typer.Option(help="Stop after this many polls (0: until Ctrl-C).", min=0)] = 0,
) -> None:
    """Follow new timeline events as they happen (polls the table; Ctrl-C stops)."""
    cli = context.get(ctx)
    follower = _Follower(context.now() - parse_duration(since))
    table = cli.incidents_table()
    if incident_id is not None:
        get_incident(cli, incident_id)
    polls = 0
    try:
        while True:
            items = [cli.incidents().get(incident_id) or {}] if incident_id else list(scan(table))
            for entry in plain(follower.new_entries([item for item in items if item])):
                if cli.json:
                    print(context.dumps(entry), flush=True)
                else:
                    cli.console.print(tail_line(entry), highlight=False, soft_wrap=True)
            polls += 1
            if iterations and polls >= iterations:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
