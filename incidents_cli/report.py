"""`incidents report`: acknowledgement statistics and SMS cost per policy (or chain), per integration and per person.

Everything is computed from the items' timelines by ``build_report``, a pure function:

- An incident counts when its escalation started (its ``created`` entry) inside the span; items
  never paged (invalid, or not taken up yet) do not count.
- Per policy or chain (the item's ``policy``, else its contacts in order): incidents, acknowledged
  (by anyone, by SMS or CLI), unacknowledged (the rest: exhausted, failed or still open), time to
  acknowledge from the start of the escalation, escalations (``escalated`` entries), and SMS
  segments of the pages and reminders (courtesy texts such as confirmations are not on the timeline), and
  cost: the sum of the items' ``cost`` (US dollars: what End User Messaging charged for every text of the
  incident, pages and courtesy texts alike, from their final delivery receipts; a batch text counts on the
  incident that sent it).
- Per integration (the item's ``integration``: incidents opened by the events API, an alarm or a heartbeat):
  the same columns as per policy or chain; items written directly have none and are not in this table.
- Per person (a phone number, or ``cli:<name>``): the incidents that paged them or that they
  acknowledged; acknowledged by them; unacknowledged (paged to them and acknowledged by nobody);
  time to acknowledge from the first page sent to them (from the start when they were not paged);
  escalations away from their level; segments of the pages and reminders sent to them.
- Median: the middle value (the mean of the two middle ones for an even count). 90th percentile:
  nearest rank, the value at position ceil(0.9 x n) of the sorted times.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from escalation.incidents.status import Event
from escalation.oncall.store import NoDefinitions

from . import context
from .context import CliError, iso, parse_duration, parse_stored
from .items import created_at, scan, shown

PAGE_EVENTS = (Event.PAGED.value, Event.REMINDED.value)


@dataclass
class Tally:
    """The counts of one policy, chain or person."""

    key: str
    label: str
    incidents: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    seconds_to_ack: list[float] = field(default_factory=list)
    escalations: int = 0
    sms_segments: int = 0
    cost: Decimal = Decimal(0)  # US dollars

    def row(self) -> dict[str, Any]:
        """The tally as a report row (times in seconds; None without any acknowledgement)."""
        times = sorted(self.seconds_to_ack)
        return {
            "key": self.key,
            "name": self.label,
            "incidents": self.incidents,
            "acknowledged": self.acknowledged,
            "unacknowledged": self.unacknowledged,
            "median_seconds_to_ack": statistics.median(times) if times else None,
            "p90_seconds_to_ack": times[math.ceil(0.9 * len(times)) - 1] if times else None,
            "escalations": self.escalations,
            "sms_segments": self.sms_segments,
            "cost": self.cost,
        }


@dataclass
class _Person:
    first_paged: datetime | None = None
    segments: int = 0
    escalations: int = 0


def _chain(item: Mapping[str, Any]) -> list[str]:
    return [str(number) for number in item.get("escalation_chain") or []]


def _group(item: Mapping[str, Any], label: Any) -> tuple[str, str]:
    if item.get("policy"):
        return f"policy:{item['policy']}", f"policy {item['policy']}"
    contacts = list(dict.fromkeys(_chain(item)))
    return "chain:" + ",".join(contacts), "chain " + " -> ".join(label(number) for number in contacts)


def _people(item: Mapping[str, Any]) -> dict[str, _Person]:
    """Who the incident paged (by level in its chain): first page, segments sent to them, escalations away from them."""
    chain = _chain(item)
    people: dict[str, _Person] = {}
    for entry in item.get("timeline") or []:
        level = int(entry.get("level", -1))
        event = entry.get("event")
        if event in PAGE_EVENTS and 0 <= level < len(chain):
            person = people.setdefault(chain[level], _Person())
            at = parse_stored(entry.get("at"))
            if person.first_paged is None or (at is not None and at < person.first_paged):
                person.first_paged = at
            person.segments += int(entry.get("segments", 0))
        elif event == Event.ESCALATED and 0 < level <= len(chain):
            people.setdefault(chain[level - 1], _Person()).escalations += 1
    return people


def _acknowledgement(item: Mapping[str, Any]) -> tuple[str, datetime] | None:
    """Who acknowledged the incident and when, from the item (its acknowledged entry as a fallback)."""
    entry = next((entry for entry in item.get("timeline") or [] if entry.get("event") == Event.ACKNOWLEDGED), None)
    by = item.get("acknowledged_by") or (entry or {}).get("by")
    at = parse_stored(item.get("acknowledged_at")) or parse_stored((entry or {}).get("at"))
    return (str(by), at) if by and at else None


@dataclass
class Report:
    """The report's rows, per policy or chain and per person, with the span it covers."""

    since: datetime
    until: datetime
    groups: list[dict[str, Any]]
    people: list[dict[str, Any]]
    integrations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "groups": self.groups,
            "integrations": self.integrations,
            "people": self.people,
        }


def build_report(
    items: Iterable[Mapping[str, Any]], *, since: datetime, until: datetime, names: Mapping[str, str] | None = None
) -> Report:
    """Acknowledgement statistics of the incidents whose escalation started in [since, until) (see the module)."""
    names = names or {}

    def label(who: str) -> str:
        return names.get(who) or shown(who)

    groups: dict[str, Tally] = {}
    integrations: dict[str, Tally] = {}
    people: dict[str, Tally] = {}
    for item in items:
        started = created_at(item)
        if started is None or not since <= started < until:
            continue
        key, group_label = _group(item, label)
        tallies = [groups.setdefault(key, Tally(key, group_label))]
        if item.get("integration"):
            name = str(item["integration"])
            tallies.append(integrations.setdefault(f"integration:{name}", Tally(f"integration:{name}", f"integration {name}")))
        paged = _people(item)
        acknowledged = _acknowledgement(item)
        for group in tallies:
            group.incidents += 1
            group.escalations += sum(1 for entry in item.get("timeline") or [] if entry.get("event") == Event.ESCALATED)
            group.sms_segments += sum(person.segments for person in paged.values())
            group.cost += Decimal(str(item.get("cost") or 0))
            if acknowledged is not None:
                group.acknowledged += 1
                group.seconds_to_ack.append((acknowledged[1] - started).total_seconds())
            else:
                group.unacknowledged += 1
        involved = dict(paged)
        if acknowledged is not None:
            involved.setdefault(acknowledged[0], _Person())
        for who, person in involved.items():
            tally = people.setdefault(who, Tally(who, label(who)))
            tally.incidents += 1
            tally.sms_segments += person.segments
            tally.escalations += person.escalations
            if acknowledged is not None and acknowledged[0] == who:
                tally.acknowledged += 1
                tally.seconds_to_ack.append((acknowledged[1] - (person.first_paged or started)).total_seconds())
            elif acknowledged is None:
                tally.unacknowledged += 1
    return Report(
        since=since,
        until=until,
        groups=[tally.row() for tally in sorted(groups.values(), key=lambda tally: tally.label)],
        people=[tally.row() for tally in sorted(people.values(), key=lambda tally: tally.label)],
        integrations=[tally.row() for tally in sorted(integrations.values(), key=lambda tally: tally.label)],
    )


# -- the command -----------------------------------------------------------------------------------

COLUMNS = (
    "incidents", "acknowledged", "unacknowledged", "median_seconds_to_ack", "p90_seconds_to_ack", "escalations", "sms_segments",
    "cost",
)  # fmt: skip


def duration_text(seconds: float | None) -> str:
    """``95`` -> ``1m 35s``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs or not whole else ""]
    return " ".join(part for part in parts if part)


def cost_text(cost: Decimal) -> str:
    """US dollars to four decimals (a text costs well under a cent in many countries): ``0.0116``."""
    return f"{cost:.4f}"


def report_csv(report: Report) -> str:
    """The report as CSV, one row per policy or chain, per integration and per person (``kind`` says which)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "key", "name", *COLUMNS])
    for kind, rows in (("group", report.groups), ("integration", report.integrations), ("person", report.people)):
        for row in rows:
            writer.writerow([kind, row["key"], row["name"], *("" if row[column] is None else row[column] for column in COLUMNS)])
    return buffer.getvalue()


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, show_edge=False, pad_edge=False, title_justify="left")
    for name in ("name", "incidents", "acked", "unacked", "median TTA", "p90 TTA", "escalations", "segments", "cost (USD)"):
        table.add_column(name, justify="left" if name == "name" else "right")
    for row in rows:
        table.add_row(
            row["name"], str(row["incidents"]), str(row["acknowledged"]), str(row["unacknowledged"]),
            duration_text(row["median_seconds_to_ack"]), duration_text(row["p90_seconds_to_ack"]),
            str(row["escalations"]), str(row["sms_segments"]), cost_text(row["cost"]),
        )  # fmt: skip
    return table


def _names(cli: context.Cli) -> dict[str, str]:
    """Phone numbers to people's names from the deployed on-call definitions, when there are any."""
    if "OncallTableName" not in cli.outputs():
        return {}
    try:
        people = cli.oncall().definitions().people
    except NoDefinitions:
        return {}
    return {person.phone: person.name for person in people.values()}


def report(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="The past span to report on, e.g. 30d, 12h.")] = "30d",
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (one row per policy or chain, and per person).")] = False,
) -> None:
    """Incidents, acknowledgements, time to acknowledge, escalations, SMS segments and cost, per policy, integration, person."""
    cli = context.get(ctx)
    until = context.now()
    start = until - parse_duration(since)
    if as_csv and cli.json:
        raise CliError("choose one of --csv and --json")
    result = build_report(scan(cli.incidents_table()), since=start, until=until + timedelta(seconds=1), names=_names(cli))
    if as_csv:
        print(report_csv(result), end="")
        return

    def render() -> None:
        cli.console.print(f"Incidents started {iso(start)} to {iso(until)}")
        cli.console.print(_table("Per escalation policy or contact chain", result.groups))
        if result.integrations:
            cli.console.print(_table("Per integration", result.integrations))
        cli.console.print(_table("Per person", result.people))

    cli.emit(result.as_dict(), render)


def register(app: typer.Typer) -> None:
    """Add the report command to the root."""
    app.command()(report)
