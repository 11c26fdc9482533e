"""`incidents maintenance`: windows in which an integration's or a policy's incidents open and dedup but page nobody.

The operator function keeps the windows (escalation.incidents.maintenance_actions): it tells ops when one starts and
ends, and at the end the incidents it held start paging, unless they were closed meanwhile. The CLI checks that the
integration or policy exists, then asks; each command's request id is the same on its retries, so a retry makes
one window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from escalation.alerts.integrations import by_name

from . import context, operator_function
from .context import Cli, CliError, parse_duration, parse_instant

INTEGRATIONS_TABLE_OUTPUT = "IntegrationsTableName"

app = typer.Typer(
    help="Maintenance windows: during one, an integration's or a policy's incidents open and dedup, and nobody is "
    "paged; when it ends, those still open page.",
    no_args_is_help=True,
)


def _scope(cli: Cli, integration: str | None, policy: str | None) -> tuple[str, str]:
    """(scope, target), checked against what is deployed."""
    if (integration is None) == (policy is None):
        raise CliError("give exactly one of --integration NAME or --policy NAME")
    if integration is not None:
        if by_name(cli.table(INTEGRATIONS_TABLE_OUTPUT), integration) is None:
            raise CliError(f"--integration: no integration {integration!r} (incidents integrations list)")
        return "integration", integration
    policies = cli.oncall().definitions().policies
    if policy not in policies:
        raise CliError(f"--policy: no policy {policy!r} in the deployed on-call definitions ({', '.join(policies) or 'none'})")
    return "policy", str(policy)


def _span(for_: str | None, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """From now for a duration, or --from/--to (--from alone needs --for)."""
    begin = parse_instant(start, "--from") if start else context.now().replace(microsecond=0)
    if end is not None and for_ is not None:
        raise CliError("give --for or --to, not both")
    if end is not None:
        return begin, parse_instant(end, "--to")
    if for_ is None:
        raise CliError("give --for DURATION (30m, 2h, 1d) or --to")
    try:
        return begin, begin + parse_duration(for_)
    except CliError as error:
        raise CliError(f"--for: {error}") from None


def _show(windows: list[dict[str, Any]], cli: Cli) -> None:
    table = Table("id", "scope", "of", "from", "to", "state", "reason", "by")
    for window in windows:
        table.add_row(
            window["id"], window["scope"], window.get(window["scope"], ""), window["from"], window["to"], window["state"],
            window.get("reason", ""), window.get("by", ""),
        )  # fmt: skip
    cli.console.print(table)


@app.command()
def start(
    ctx: typer.Context,
    integration: Annotated[str | None, typer.Option(help="The integration whose incidents page nobody.")] = None,
    policy: Annotated[str | None, typer.Option(help="The policy whose incidents page nobody.")] = None,
    for_: Annotated[str | None, typer.Option("--for", help="How long: 30m, 2h, 1d (at most 7d).")] = None,
    start_at: Annotated[str | None, typer.Option("--from", help="Start later, ISO-8601 (no zone: UTC).")] = None,
    end_at: Annotated[str | None, typer.Option("--to", help="End, ISO-8601 (no zone: UTC), instead of --for.")] = None,
    reason: Annotated[str, typer.Option(help="Why, for ops and the timeline.")] = "",
    as_name: Annotated[str | None, typer.Option("--as", help="Your name, recorded as cli:<name>.")] = None,
) -> None:
    """Start a maintenance window now (--for) or plan one (--from, --to)."""
    cli = context.get(ctx)
    scope, target = _scope(cli, integration, policy)
    begin, end = _span(for_, start_at, end_at)
    request = {
        "action": "maintenance_start", "scope": scope, "target": target, "from": int(begin.timestamp()),
        "to": int(end.timestamp()), "reason": reason, "by": operator_function.operator_name(as_name),
    }  # fmt: skip
    answer = operator_function.ask(cli, request)
    operator_function.settle(cli, answer, lambda: _show([answer], cli))


@app.command("list")
def list_windows(ctx: typer.Context) -> None:
    """Every window kept (planned, active, ended in the last month)."""
    cli = context.get(ctx)
    answer = operator_function.ask(cli, {"action": "maintenance_list", "by": operator_function.operator_name(None)})
    operator_function.settle(cli, answer, lambda: _show(answer["windows"], cli))


@app.command()
def end(
    ctx: typer.Context,
    window: Annotated[str, typer.Argument(help="The window's id (incidents maintenance list).")],
    as_name: Annotated[str | None, typer.Option("--as", help="Your name, recorded as cli:<name>.")] = None,
) -> None:
    """End a window now: the incidents it held that are still open start paging."""
    cli = context.get(ctx)
    answer = operator_function.ask(
        cli, {"action": "maintenance_end", "window": window, "by": operator_function.operator_name(as_name)}
    )
    operator_function.settle(
        cli, answer, lambda: cli.console.print(f"Window {window} ended: {answer['released']} held incident(s) page now.")
    )
