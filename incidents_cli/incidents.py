"""Commands on incidents: create, show, list, ack, resolve (tail, the timeline followed live, is in timeline.py)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.markup import escape
from rich.table import Table

from escalation.incidents.item import InvalidIncident, parse_incident
from escalation.incidents.status import Status
from escalation.oncall.store import NoDefinitions
from escalation.replies.matching import OPEN_FOR_REPLY
from escalation.store.incident_table import is_conditional_failure

from . import context, operator_function
from .context import INCIDENTS_TABLE_OUTPUT, Cli, CliError, iso, parse_duration, plain
from .integrations import allowed_calling_codes
from .items import get_incident, holder, opened_at, scan, shown
from .timeline import tail, timeline_table


def register(app: typer.Typer) -> None:
    """Add the incident commands to the root."""
    app.command()(create)
    app.command()(show)
    app.command("list")(list_incidents)
    app.command()(ack)
    app.command()(resolve)
    app.command()(tail)


# -- create ----------------------------------------------------------------------------------------


def incident_image(
    incident_id: str, description: str, url: str | None, contacts: list[str], policy: str | None
) -> dict[str, Any]:
    """The new item in DynamoDB JSON: what is checked, and then written, byte for byte."""
    image: dict[str, Any] = {
        "incident_id": {"S": incident_id},
        "incident_stat": {"S": Status.NOT_ACKNOWLEDGED.value},
        "double_escalation": {"S": "no"},
        "description": {"S": description},
    }
    if url:
        image["url"] = {"S": url}
    if contacts:
        image["contacts"] = {"L": [{"S": contact} for contact in contacts]}
    if policy:
        image["policy"] = {"S": policy}
    return image


def _deployed_policies(cli: Cli) -> list[str] | None:
    """The escalation policies deployed (what the start handler checks `policy` against); None when none are."""
    try:
        return sorted(cli.oncall().definitions().policies)
    except NoDefinitions:
        return None


def create(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Option("--id", help="The incident id (what people reply YES <id> with).")],
    description: Annotated[str, typer.Option(help="What is wrong; the page carries it.")],
    url: Annotated[str | None, typer.Option(help="A link for details (https://...).")] = None,
    contact: Annotated[list[str] | None, typer.Option(help="A phone number to page, in order (repeat the option).")] = None,
    policy: Annotated[str | None, typer.Option(help="Page by this escalation policy instead of --contact.")] = None,
    replace: Annotated[bool, typer.Option(help="Write over an open incident with the same id.")] = False,
) -> None:
    """Open an incident: checked here by the same rules as the stack, then written to the incidents table."""
    cli = context.get(ctx)
    contacts = list(contact or [])
    if bool(contacts) == bool(policy):
        raise CliError("give the people to page: --contact NUMBER (repeatable) or --policy NAME, not both")
    image = incident_image(incident_id, description, url, contacts, policy)
    try:
        codes = allowed_calling_codes(cli) if contacts else ()  # a policy's people were checked at deploy
        parse_incident(image, allowed_calling_codes=codes, policies=_deployed_policies(cli) if policy else None)
    except InvalidIncident as error:
        raise CliError(f"refused, nothing written: {error}") from None
    table = cli.output(INCIDENTS_TABLE_OUTPUT)
    request: dict[str, Any] = {"TableName": table, "Item": image, "ReturnValues": "ALL_OLD"}
    if not replace:
        open_statuses = sorted(OPEN_FOR_REPLY)
        names = ", ".join(f":open{index}" for index in range(len(open_statuses)))
        request["ConditionExpression"] = f"attribute_not_exists(incident_id) OR NOT (incident_stat IN ({names}))"
        request["ExpressionAttributeValues"] = {f":open{index}": {"S": status} for index, status in enumerate(open_statuses)}
    try:
        old = cli.client("dynamodb").put_item(**request).get("Attributes") or {}
    except ClientError as error:
        if not is_conditional_failure(error):
            raise
        current = cli.incidents().get(incident_id) or {}
        raise CliError(
            f"incident {incident_id} is open ({current.get('incident_stat', '?')}, "
            f"{holder(current, reveal=cli.show_numbers) or 'not paged yet'}): "
            "nothing written; pass --replace to write over it (the old item is kept in the history table)"
        ) from None
    replaced = old.get("incident_stat", {}).get("S") if old else None
    result = {"incident_id": incident_id, "table": table, "replaced": bool(old), "replaced_status": replaced}

    def render() -> None:
        cli.console.print(f"Incident [bold]{incident_id}[/] written to {table}; paging starts within seconds.")
        if old:
            cli.console.print(f"It replaced an earlier incident {incident_id} ({replaced}), kept in the history table.")

    cli.emit(result, render)


# -- show ------------------------------------------------------------------------------------------


def show(ctx: typer.Context, incident_id: Annotated[str, typer.Argument(help="The incident id.")]) -> None:
    """An incident: its status, who has it, and its whole timeline."""
    cli = context.get(ctx)
    item = plain(get_incident(cli, incident_id))

    def render() -> None:
        console = cli.console
        who = holder(item, reveal=cli.show_numbers)
        console.print(f"[bold]Incident {item['incident_id']}[/]  {status_shown(item)}  {who}")
        console.print(f"  {escape(str(item.get('description', '')))}")  # the sender's text: never markup
        if item.get("url"):
            console.print(f"  {escape(str(item['url']))}")
        for change in item.get("normalised") or []:  # what the alert endpoint accepted after a change
            console.print(f"  accepted after a change: {escape(str(change))}")
        if item.get("details"):  # the alert's custom_details (JSON, at most 4,096 bytes)
            console.print(f"  details: {escape(str(item['details']))}", soft_wrap=True)
        chain = [shown(number, reveal=cli.show_numbers) for number in dict.fromkeys(item.get("escalation_chain") or [])]
        if item.get("policy"):
            console.print(f"  policy: {item['policy']}")
        if chain:
            console.print(f"  chain: {' -> '.join(chain)} (level {item.get('escalation_level', 0)})")
        for key in ("error", "fault"):
            if item.get(key):
                console.print(f"  [red]{key}: {item[key]}[/]")
        console.print(timeline_table(item.get("timeline") or []))

    cli.emit(item, render)


def status_shown(item: dict[str, Any]) -> str:
    """The status, or `in maintenance until <time>` for an open incident a maintenance window holds (nobody paged)."""
    status = str(item.get("incident_stat", Status.NOT_ACKNOWLEDGED.value))
    if item.get("maintenance_window") and status == Status.NOT_ACKNOWLEDGED and not item.get("execution_arn"):
        return f"in maintenance until {item.get('maintenance_until', '?')}"
    last = (item.get("timeline") or [{}])[-1]
    if status in (Status.NOT_ACKNOWLEDGED, Status.ESCALATION) and last.get("event") == "held":
        return f"held until {last.get('until', '?')} (low urgency)"
    return status


# -- list ------------------------------------------------------------------------------------------


def list_incidents(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents nobody has acknowledged yet.")] = False,
    since: Annotated[str | None, typer.Option(help="Only incidents opened in this past span, e.g. 7d, 12h.")] = None,
) -> None:
    """Incidents, newest first."""
    cli = context.get(ctx)
    cutoff = context.now() - parse_duration(since) if since else None
    rows = []
    shown_who: dict[str, str] = {}  # the table's "who": numbers masked unless --show-numbers
    for item in scan(cli.incidents_table()):
        opened = opened_at(item)
        if open_only and item.get("incident_stat") not in OPEN_FOR_REPLY and item.get("incident_stat") is not None:
            continue
        if cutoff is not None and opened is not None and opened < cutoff:
            continue
        shown_who[str(item["incident_id"])] = holder(item, reveal=cli.show_numbers)
        rows.append(
            {
                "incident_id": item["incident_id"],
                "status": status_shown(item),
                "opened": iso(opened) if opened else None,
                "who": holder(item, reveal=True),  # --json keeps numbers: scripts read them
                "level": item.get("escalation_level"),
                "description": item.get("description", ""),
            }
        )
    rows.sort(key=lambda row: row["opened"] or "9999", reverse=True)  # not yet taken up: newest of all
    rows = plain(rows)

    def render() -> None:
        table = Table(show_edge=False, pad_edge=False)
        for name in ("id", "status", "opened", "who", "description"):
            table.add_column(name, overflow="fold" if name == "description" else "ellipsis")
        for row in rows:
            who = shown_who.get(str(row["incident_id"]), row["who"])
            table.add_row(row["incident_id"], row["status"], row["opened"] or "-", who, row["description"][:60])
        cli.console.print(table if rows else "No incidents.")

    cli.emit(rows, render)


# -- ack, resolve ----------------------------------------------------------------------------------

AS_OPTION = typer.Option("--as", help="Your name, recorded as cli:<name> (default: INCIDENTS_USER or your login).")


def ack(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="The incident id.")],
    as_name: Annotated[str | None, AS_OPTION] = None,
) -> None:
    """Acknowledge an incident as yourself, as a YES does: paging stops, everyone paged is told. Safe to repeat."""
    cli = context.get(ctx)
    answer = operator_function.call(cli, "acknowledge", incident_id, operator_function.operator_name(as_name))

    def render() -> None:
        by = answer["acknowledged_by"]
        if answer["outcome"] == "already_yours":
            cli.console.print(f"Already acknowledged by you ({by}): incident [bold]{incident_id}[/].")
            return
        stop = "paging stopped" if answer["escalation_stopped"] else "no page was waiting"
        cli.console.print(f"Acknowledged incident [bold]{incident_id}[/] as {by}; {stop}; everyone paged is told.")

    operator_function.settle(cli, answer, render)


def resolve(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="The incident id.")],
    as_name: Annotated[str | None, AS_OPTION] = None,
) -> None:
    """Resolve an incident as yourself, as RESOLVE does: final; paging stops, everyone paged is told. Safe to repeat."""
    cli = context.get(ctx)
    answer = operator_function.call(cli, "resolve", incident_id, operator_function.operator_name(as_name))

    def render() -> None:
        by = answer["resolved_by"]
        if answer["outcome"] == "already_yours":
            cli.console.print(f"Already resolved by you ({by}): incident [bold]{incident_id}[/].")
            return
        cli.console.print(
            f"Resolved incident [bold]{incident_id}[/] as {by} (it was {answer['status_before']}); "
            "paging stopped, everyone paged is told."
        )

    operator_function.settle(cli, answer, render)
