"""`incidents oncall`: who is on call, the shifts ahead, overrides, and an iCalendar feed (deployed definitions only)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from icalendar import Calendar, Event
from rich.table import Table

from escalation.oncall.definitions import Definitions, Override
from escalation.oncall.schedule import OnCallShift, resolve_level, shifts
from escalation.oncall.store import override_from_item

from . import context
from .context import Cli, CliError, iso, parse_instant

app = typer.Typer(help="Who is on call, the schedule, overrides, and a calendar feed.", no_args_is_help=True)
ICAL_PRODID = "-//incident-sms-escalation//oncall//EN"


def _rotation(definitions: Definitions, rotation: str) -> None:
    if rotation not in definitions.rotations:
        known = ", ".join(sorted(definitions.rotations)) or "none"
        raise CliError(f"unknown rotation {rotation!r} (deployed: {known})")


def _person(definitions: Definitions, person: str, option: str) -> None:
    if person not in definitions.people:
        known = ", ".join(sorted(definitions.people))
        raise CliError(f"{option}: unknown person {person!r} (deployed: {known})")


def _at(text: str | None) -> datetime:
    return parse_instant(text, "--at") if text else context.now()


def _loaded(cli: Cli) -> tuple[Definitions, list[Override]]:
    store = cli.oncall()
    return store.definitions(), store.overrides()


# -- now -------------------------------------------------------------------------------------------


@app.command()
def now(
    ctx: typer.Context,
    policy: Annotated[str | None, typer.Argument(help="One escalation policy (default: all).")] = None,
    at: Annotated[str | None, typer.Option(help="Another instant, ISO-8601 (no zone: UTC).")] = None,
) -> None:
    """Who each level of each policy pages now (or --at an instant)."""
    cli = context.get(ctx)
    definitions, overrides = _loaded(cli)
    instant = _at(at)
    names = [policy] if policy else sorted(definitions.policies)
    if policy and policy not in definitions.policies:
        raise CliError(f"unknown policy {policy!r} (deployed: {', '.join(sorted(definitions.policies)) or 'none'})")
    rows: list[dict[str, Any]] = [
        {
            "policy": name,
            "level": index,
            "people": [
                {"id": person.id, "name": person.name, "phone": person.phone}
                for person in resolve_level(definitions, overrides, name, index, instant)
            ],
        }
        for name in names
        for index in range(len(definitions.policies[name].levels))
    ]

    def render() -> None:
        table = Table(title=f"On call at {iso(instant)}", show_edge=False, pad_edge=False, title_justify="left")
        for column in ("policy", "level", "pages"):
            table.add_column(column)
        for row in rows:
            pages = ", ".join(f"{person['name']} ({person['id']}, {person['phone']})" for person in row["people"])
            table.add_row(row["policy"], str(row["level"]), pages or "[red]nobody[/]")
        cli.console.print(table)

    cli.emit({"at": iso(instant), "levels": rows}, render)


# -- schedule --------------------------------------------------------------------------------------


def _shift_row(shift: OnCallShift) -> dict[str, Any]:
    person = shift.person
    return {
        "start": iso(shift.start),
        "end": iso(shift.end),
        "person": None if person is None else {"id": person.id, "name": person.name, "phone": person.phone},
    }


@app.command()
def schedule(
    ctx: typer.Context,
    rotation: Annotated[str, typer.Argument(help="The rotation.")],
    days: Annotated[int, typer.Option(help="How many days ahead.", min=1, max=366)] = 14,
    start: Annotated[str | None, typer.Option("--from", help="Start instead of now, ISO-8601 (no zone: UTC).")] = None,
) -> None:
    """The shifts of a rotation: who is on call from when to when, overrides included."""
    cli = context.get(ctx)
    definitions, overrides = _loaded(cli)
    _rotation(definitions, rotation)
    begin = parse_instant(start, "--from") if start else context.now().replace(microsecond=0)
    rows = [_shift_row(shift) for shift in shifts(definitions, overrides, rotation, begin, begin + timedelta(days=days))]

    def render() -> None:
        table = Table(title=f"{rotation}, {days} days", show_edge=False, pad_edge=False, title_justify="left")
        for column in ("from", "to", "on call", "phone"):
            table.add_column(column)
        for row in rows:
            person = row["person"]
            who = f"{person['name']} ({person['id']})" if person else "[red]nobody[/]"
            table.add_row(row["start"], row["end"], who, person["phone"] if person else "")
        cli.console.print(table)

    cli.emit({"rotation": rotation, "shifts": rows}, render)


# -- overrides -------------------------------------------------------------------------------------


@app.command()
def override(
    ctx: typer.Context,
    rotation: Annotated[str, typer.Argument(help="The rotation.")],
    person: Annotated[str, typer.Option(help="Who takes over (a person id of the definitions).")],
    start: Annotated[str, typer.Option("--from", help="Start, ISO-8601 (no zone: UTC).")],
    end: Annotated[str, typer.Option("--to", help="End, ISO-8601 (no zone: UTC).")],
    covers: Annotated[str | None, typer.Option(help="Only while this person would be on call.")] = None,
) -> None:
    """Put someone on call in a rotation for a while (the newest override wins where several apply)."""
    cli = context.get(ctx)
    store = cli.oncall()
    definitions = store.definitions()
    _rotation(definitions, rotation)
    _person(definitions, person, "--person")
    if covers:
        _person(definitions, covers, "--covers")
    override_id, created = store.add_override(
        rotation=rotation, person=person, start=parse_instant(start, "--from"), end=parse_instant(end, "--to"),
        covers=covers, created_by=f"cli:{context.user_name()}",
    )  # fmt: skip
    result = {
        "id": override_id, "rotation": rotation, "person": person, "from": iso(created.from_), "to": iso(created.to),
        "covers": covers,
    }  # fmt: skip

    def render() -> None:
        cover = f" covering {covers}" if covers else ""
        cli.console.print(
            f"Override [bold]{override_id}[/]: {person} on call in {rotation}{cover} from {result['from']} to {result['to']}."
        )

    cli.emit(result, render)


@app.command()
def overrides(
    ctx: typer.Context,
    rotation: Annotated[str | None, typer.Argument(help="Only this rotation.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include overrides that have ended.")] = False,
) -> None:
    """The overrides stored, oldest first (ended ones only with --all)."""
    cli = context.get(ctx)
    instant = context.now()
    rows = []
    for item in cli.oncall().override_items():
        model = override_from_item(item)
        if (rotation and model.rotation != rotation) or (not show_all and model.to <= instant):
            continue
        rows.append(
            {
                "id": item["sk"], "rotation": model.rotation, "person": model.person, "from": iso(model.from_),
                "to": iso(model.to), "covers": model.covers, "created": iso(model.created),
                "created_by": item.get("created_by", ""),
            }
        )  # fmt: skip

    def render() -> None:
        if not rows:
            cli.console.print("No overrides.")
            return
        table = Table(show_edge=False, pad_edge=False)
        for column in ("id", "rotation", "person", "from", "to", "covers", "created by"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["id"], row["rotation"], row["person"], row["from"], row["to"], row["covers"] or "", row["created_by"]
            )
        cli.console.print(table)

    cli.emit(rows, render)


@app.command()
def remove(
    ctx: typer.Context, override_id: Annotated[str, typer.Argument(help="The override's id (see `oncall overrides`).")]
) -> None:
    """Delete an override."""
    cli = context.get(ctx)
    if not cli.oncall().remove_override(override_id):
        raise CliError(f"no override {override_id!r}: see `incidents oncall overrides --all`")
    cli.emit({"id": override_id, "removed": True}, lambda: cli.console.print(f"Override {override_id} removed."))


# -- iCalendar -------------------------------------------------------------------------------------


def shift_uid(rotation: str, shift: OnCallShift) -> str:
    """Stable across feeds: the same shift (rotation, start, person) keeps its UID, so calendars update it in place."""
    person = shift.person.id if shift.person else ""
    digest = hashlib.sha256(f"{rotation}\n{iso(shift.start)}\n{person}".encode()).hexdigest()[:20]
    return f"{digest}@oncall.incident-sms-escalation"


def ical_feed(rotation: str, found: list[OnCallShift], *, stamp: datetime) -> bytes:
    """An iCalendar (RFC 5545) feed: one VEVENT per shift with someone on call."""
    calendar = Calendar()
    calendar.add("prodid", ICAL_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"On call: {rotation}")
    for shift in found:
        if shift.person is None:
            continue  # nobody on call: no event
        event = Event()
        event.add("uid", shift_uid(rotation, shift))
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: {shift.person.name} ({rotation})")
        event.add("description", f"{shift.person.name} ({shift.person.id}, {shift.person.phone}) is on call in {rotation}.")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return bytes(calendar.to_ical())


@app.command()
def ical(
    ctx: typer.Context,
    rotation: Annotated[str, typer.Argument(help="The rotation.")],
    days: Annotated[int, typer.Option(help="How many days ahead.", min=1, max=366)] = 28,
) -> None:
    """An iCalendar feed of the rotation's shifts (import into Google Calendar or Outlook)."""
    cli = context.get(ctx)
    definitions, overrides_ = _loaded(cli)
    _rotation(definitions, rotation)
    instant = context.now().replace(microsecond=0)
    # Start a longest shift back, so the shift in progress keeps its real start (and its UID) in every feed.
    lookback = max(layer.shift.length for layer in definitions.rotations[rotation].layers) + timedelta(days=1)
    found = [
        shift
        for shift in shifts(definitions, overrides_, rotation, instant - lookback, instant + timedelta(days=days))
        if shift.end > instant
    ]
    feed = ical_feed(rotation, found, stamp=instant)
    if cli.json:
        print(context.dumps({"rotation": rotation, "ical": feed.decode()}))
    else:
        typer.echo(feed.decode(), nl=False)
