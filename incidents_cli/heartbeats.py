"""`incidents heartbeats`: monitors that page when a job stops beating (escalation.alerts.heartbeat_monitors).

A monitor's URL (output HeartbeatsUrl + a secret token) is shown once, when created; only the token's
SHA-256 is stored (output IntegrationsTableName). Pausing and deleting also delete the monitor's pending
deadline schedule (output HeartbeatScheduleGroup), so nothing fires for it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from escalation.alerts import heartbeat_monitors, heartbeat_schedules

from . import context
from .context import Cli, CliError, parse_duration

INTEGRATIONS_TABLE_OUTPUT = "IntegrationsTableName"
HEARTBEATS_URL_OUTPUT = "HeartbeatsUrl"  # https://<api>.execute-api.<region>.amazonaws.com/v2/heartbeat
SCHEDULE_GROUP_OUTPUT = "HeartbeatScheduleGroup"

app = typer.Typer(
    help="Heartbeat monitors: a job POSTs to its URL; when it stops for longer than its interval and grace, its "
    "integration is paged.",
    no_args_is_help=True,
)


def _refused(error: heartbeat_monitors.HeartbeatError) -> CliError:
    return CliError(f"refused, nothing changed: {error}")


def _seconds(text: str, option: str) -> int:
    try:
        return int(parse_duration(text).total_seconds())
    except CliError as error:
        raise CliError(f"{option}: {error}") from None


def _schedules(cli: Cli) -> heartbeat_schedules.Schedules:
    """The deadline schedules, to delete the pending one (the CLI never creates any: beats do)."""
    return heartbeat_schedules.Schedules(client=cli.client("scheduler"), group=cli.output(SCHEDULE_GROUP_OUTPUT))


def every(seconds: int) -> str:
    """A duration as the options take it: 5m, 2h, 1d (minutes when not whole hours)."""
    delta = timedelta(seconds=seconds)
    if seconds and seconds % 86_400 == 0:
        return f"{delta.days}d"
    if seconds and seconds % 3_600 == 0:
        return f"{seconds // 3_600}h"
    return f"{seconds // 60}m"


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor's name (letters, digits, '.', '_', '-').")],
    integration: Annotated[str, typer.Option(help="The integration it pages (incidents integrations list).")],
    interval: Annotated[str, typer.Option(help="How often the job beats: 1m or more, e.g. 5m, 1h, 1d.")],
    grace: Annotated[str, typer.Option(help="How late a beat may be before it pages, e.g. 1m; 0m for none.")] = "1m",
) -> None:
    """Create a monitor; prints its URL (once: only a hash of its token is kept).

    The monitor is armed by its first beat; from then on, a beat more than interval + grace late pages the
    integration, and the next beat resolves that incident.
    """
    cli = context.get(ctx)
    interval_seconds, grace_seconds = _seconds(interval, "--interval"), _seconds(grace, "--grace")
    base = cli.output(HEARTBEATS_URL_OUTPUT).removesuffix("/")  # before writing: a stack without the route has no use for it
    try:
        created = heartbeat_monitors.create_monitor(
            cli.table(INTEGRATIONS_TABLE_OUTPUT),
            name,
            integration=integration,
            interval_seconds=interval_seconds,
            grace_seconds=grace_seconds,
        )
    except heartbeat_monitors.HeartbeatError as error:
        raise _refused(error) from None
    url = f"{base}/{created.pop('token')}"
    result = {**created, "url": url}

    def render() -> None:
        console = cli.console
        console.print(f"Heartbeat monitor [bold]{name}[/] created; it pages [bold]{integration}[/].")
        console.print(f"  URL:   [bold]{url}[/]  (shown this once: only its hash is stored)")
        console.print(f"  beat:  curl -fsS -X POST {url}  (POST only: a GET, such as a link preview, is refused)")
        console.print(
            f"  pages: when a beat is more than {every(interval_seconds)} + {every(grace_seconds)} late; armed by its first beat"
        )

    cli.emit(result, render)


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Every monitor: whom it pages, its interval and grace, its state, its last beat and its deadline."""
    cli = context.get(ctx)
    rows = context.plain(heartbeat_monitors.list_monitors(cli.table(INTEGRATIONS_TABLE_OUTPUT)))

    def render() -> None:
        if not rows:
            cli.console.print(
                "No heartbeat monitors: create one with incidents heartbeats create NAME --integration X --interval 5m"
            )
            return
        table = Table(show_edge=False, pad_edge=False)
        for column in ("name", "pages", "every", "grace", "state", "last beat", "deadline / expired"):
            table.add_column(column)
        for row in rows:
            state = {"waiting": "waiting for its first beat", "expired": "EXPIRED"}.get(row["state"], row["state"])
            if row["incident_id"]:
                state += f" (incident {row['incident_id']})"
            table.add_row(
                row["name"], row["integration"], every(row["interval_seconds"]), every(row["grace_seconds"]), state,
                row["last_beat_at"] or "never", row["deadline"] or row["expired_at"] or "",
            )  # fmt: skip
        cli.console.print(table)

    cli.emit(rows, render)


@app.command()
def pause(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The monitor.")]) -> None:
    """Stop paging for a monitor (maintenance): beats are still recorded, nothing is armed until it is resumed."""
    cli = context.get(ctx)
    schedules = _schedules(cli)
    try:
        paused = heartbeat_monitors.pause_monitor(cli.table(INTEGRATIONS_TABLE_OUTPUT), name, schedules)
    except heartbeat_monitors.HeartbeatError as error:
        raise _refused(error) from None
    cli.emit(paused, lambda: cli.console.print(f"Heartbeat monitor [bold]{name}[/] paused (it was {paused['was']})."))


@app.command()
def resume(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The monitor.")]) -> None:
    """Watch a paused monitor again: its next beat arms it."""
    cli = context.get(ctx)
    try:
        resumed = heartbeat_monitors.resume_monitor(cli.table(INTEGRATIONS_TABLE_OUTPUT), name)
    except heartbeat_monitors.HeartbeatError as error:
        raise _refused(error) from None
    cli.emit(resumed, lambda: cli.console.print(f"Heartbeat monitor [bold]{name}[/] resumed: its next beat arms it."))


@app.command()
def delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The monitor.")]) -> None:
    """Delete a monitor: its URL answers 410 from now on and its pending deadline is deleted."""
    cli = context.get(ctx)
    schedules = _schedules(cli)
    try:
        deleted: dict[str, Any] = heartbeat_monitors.delete_monitor(cli.table(INTEGRATIONS_TABLE_OUTPUT), name, schedules)
    except heartbeat_monitors.HeartbeatError as error:
        raise _refused(error) from None

    def render() -> None:
        cli.console.print(f"Heartbeat monitor [bold]{name}[/] deleted; its URL answers 410 Gone.")
        if "open_incident" in deleted:
            cli.console.print(f"Its last incident, {deleted['open_incident']}, may still be open: incidents show it")

    cli.emit(deleted, render)
