"""`incidents integrations`: routing keys for alert sources (the Events API v2 endpoint, output EventsApiUrl).

The rules are escalation.alerts.integrations', shared with the endpoint's function: a routing key is shown once,
when created or rotated, and only its SHA-256 is stored (output IntegrationsTableName).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from escalation.alerts.integration_checks import IntegrationError
from escalation.alerts.integrations import (
    by_name,
    create_integration,
    list_integrations,
    revoke_key,
    rotate_key,
    set_page_template,
    set_urgency,
)
from escalation.alerts.page_template import DEFAULT_TEMPLATE, PLACEHOLDERS

from . import context
from .context import Cli, CliError
from .items import shown

INTEGRATIONS_TABLE_OUTPUT = "IntegrationsTableName"
TEMPLATE_HELP = (
    "What its pages say, e.g. '{summary} on {instance} {link}'. Placeholders: "
    + ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    + "; {link} only at the end (without it, pages carry no link). Default: "
    + DEFAULT_TEMPLATE
)
EVENTS_API_OUTPUT = "EventsApiUrl"
ALLOWED_CALLING_CODES_OUTPUT = "AllowedCallingCodes"  # allowedCountries as calling codes, "353,44"; "any": no limit

app = typer.Typer(
    help="Integrations: routing keys with which alert sources (Alertmanager, ...) open and resolve incidents.",
    no_args_is_help=True,
)


def _refused(error: IntegrationError) -> CliError:
    return CliError(f"refused, nothing changed: {error}")


def _check_policy(cli: Cli, policy: str) -> None:
    """Incidents naming a policy nobody deployed would be invalid: refuse it now."""
    deployed = sorted(cli.oncall().definitions().policies)
    if policy not in deployed:
        raise CliError(f"--policy: no policy {policy!r} is deployed (deployed: {', '.join(deployed) or 'none'})")


def allowed_calling_codes(cli: Cli) -> tuple[str, ...]:
    """The deployment's allowedCountries as calling codes (what its functions check each contact against); () for any."""
    value = cli.output(ALLOWED_CALLING_CODES_OUTPUT).strip()
    if value == "any":
        return ()
    codes = tuple(code.strip() for code in value.split(","))
    if not all(code.isdigit() for code in codes):
        raise CliError(f"stack {cli.stack} output {ALLOWED_CALLING_CODES_OUTPUT} is {value!r}, not calling codes such as 353,44")
    return codes


def base_url(events_url: str) -> str:
    """What a PagerDuty client library (pdpyras, the official client, pdjs) is given: it appends /v2/enqueue itself."""
    return events_url.removesuffix("/").removesuffix("/v2/enqueue")


def _show_key(cli: Cli, result: dict[str, Any], headline: str) -> None:
    console = cli.console
    console.print(headline)
    console.print(f"  routing key: [bold]{result['routing_key']}[/]  (shown this once: only its hash is stored)")
    console.print(f"  key id:      {result['key_id']}")
    console.print(f"  events URL:  {result['events_url']}  (Alertmanager, Grafana, Zabbix, curl: the full URL)")
    console.print(f"  base URL:    {result['base_url']}  (PagerDuty client libraries add /v2/enqueue themselves)")


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The integration's name (letters, digits, '.', '_', '-').")],
    contact: Annotated[list[str] | None, typer.Option(help="A phone number its incidents page, in order (repeat).")] = None,
    policy: Annotated[str | None, typer.Option(help="Page by this deployed escalation policy instead of --contact.")] = None,
    template: Annotated[str | None, typer.Option(help=TEMPLATE_HELP)] = None,
) -> None:
    """Create an integration and its first routing key; prints the key (once) and both events URLs.

    Numbers outside the deployment's allowedCountries are refused, and so is a --template with a placeholder
    it does not know.
    """
    cli = context.get(ctx)
    contacts = list(contact or [])
    if bool(contacts) == bool(policy):
        raise CliError("give whom its incidents page: --contact NUMBER (repeatable) or --policy NAME, not both")
    if policy:
        _check_policy(cli, policy)
    url = cli.output(EVENTS_API_OUTPUT)  # before writing anything: a stack without the endpoint has no use for a key
    codes = allowed_calling_codes(cli) if contacts else ()  # a policy's people were checked at deploy
    try:
        created = create_integration(
            cli.table(INTEGRATIONS_TABLE_OUTPUT),
            name,
            contacts=contacts,
            policy=policy,
            allowed_calling_codes=codes,
            page_template=template,
        )
    except IntegrationError as error:
        raise _refused(error) from None
    result = {
        **created,
        "events_url": url,
        "base_url": base_url(url),
        "contacts": contacts,
        "policy": policy,
        "page_template": template or DEFAULT_TEMPLATE,
    }

    def render() -> None:
        _show_key(cli, result, f"Integration [bold]{name}[/] created.")
        cli.console.print(f"  pages say:   {escape(str(result['page_template']))}")

    cli.emit(result, render)


@app.command()
def rotate(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The integration.")]) -> None:
    """Add a routing key; the old ones keep working until revoked, so a sender can switch without a gap.

    Refused when the integration pages a number outside the deployment's allowedCountries.
    """
    cli = context.get(ctx)
    url = cli.output(EVENTS_API_OUTPUT)
    table = cli.table(INTEGRATIONS_TABLE_OUTPUT)
    integration = by_name(table, name)
    codes = allowed_calling_codes(cli) if integration is not None and integration.contacts else ()
    try:
        rotated = rotate_key(table, name, allowed_calling_codes=codes)
    except IntegrationError as error:
        raise _refused(error) from None
    result = {**rotated, "events_url": url, "base_url": base_url(url)}

    def render() -> None:
        _show_key(cli, result, f"New routing key for [bold]{name}[/].")
        cli.console.print(f"The old keys work until revoked: incidents integrations revoke {name} KEY_ID")

    cli.emit(result, render)


@app.command("template")
def template_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The integration.")],
    template: Annotated[str | None, typer.Argument(help=TEMPLATE_HELP)] = None,
    default: Annotated[bool, typer.Option("--default", help="Go back to the default template.")] = False,
) -> None:
    """Set what the integration's pages say from now on (incidents already open keep their text)."""
    cli = context.get(ctx)
    if (template is None) == (not default):
        raise CliError("give a TEMPLATE such as '{summary} {instance} {link}', or --default")
    try:
        changed = set_page_template(cli.table(INTEGRATIONS_TABLE_OUTPUT), name, None if default else template)
    except IntegrationError as error:
        raise _refused(error) from None
    result = {**changed, "page_template": changed["page_template"] or DEFAULT_TEMPLATE}
    cli.emit(result, lambda: cli.console.print(f"Pages of [bold]{name}[/] now say: {escape(str(result['page_template']))}"))


@app.command("urgency")
def urgency_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The integration.")],
    urgency: Annotated[str, typer.Argument(help="high, low, or by-severity (critical/error high, warning/info low).")],
) -> None:
    """Set the urgency of the integration's alerts from now on: low ones wait for working hours."""
    cli = context.get(ctx)
    try:
        changed = set_urgency(cli.table(INTEGRATIONS_TABLE_OUTPUT), name, None if urgency == "by-severity" else urgency)
    except IntegrationError as error:
        raise _refused(error) from None
    cli.emit(changed, lambda: cli.console.print(f"Alerts of [bold]{name}[/] are now {changed['urgency']} urgency."))


@app.command()
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The integration.")],
    key_id: Annotated[str, typer.Argument(help="The key's id (see `incidents integrations list`), or the key itself.")],
) -> None:
    """Revoke one routing key: events sent with it are refused (400) from now on."""
    cli = context.get(ctx)
    try:
        revoked = revoke_key(cli.table(INTEGRATIONS_TABLE_OUTPUT), name, key_id)
    except IntegrationError as error:
        raise _refused(error) from None
    cli.emit(
        revoked, lambda: cli.console.print(f"Key {revoked['key_id']} of [bold]{name}[/] revoked at {revoked['revoked_at']}.")
    )


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Every integration: whom it pages and its key ids (never the keys)."""
    cli = context.get(ctx)
    rows = context.plain(list_integrations(cli.table(INTEGRATIONS_TABLE_OUTPUT)))

    def render() -> None:
        if not rows:
            cli.console.print("No integrations: create one with incidents integrations create NAME --contact NUMBER")
            return
        table = Table(show_edge=False, pad_edge=False)
        for column in ("name", "pages", "key ids"):
            table.add_column(column)
        for row in rows:
            pages = f"policy {row['policy']}" if row["policy"] else " -> ".join(shown(number) for number in row["contacts"])
            table.add_row(row["name"], pages, ", ".join(row["key_ids"]) or "(none: rotate to add one)")
        cli.console.print(table)

    cli.emit(rows, render)
