"""The `incidents` command: root options, the command groups, and errors turned into messages a person can act on."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from pydantic import ValidationError
from typer.core import TyperGroup

from escalation.oncall.fields import format_loc
from escalation.oncall.store import NoDefinitions

from . import heartbeats, incidents, integrations, maintenance, oncall, report, test_page
from .context import DEFAULT_STACK, Cli, CliError


def explain(error: Exception, cli: Cli | None) -> str | None:
    """A message for an error a person can act on; None for a bug (which keeps its traceback)."""
    endpoint = cli.endpoint_url if cli else None
    match error:
        case CliError():
            return str(error)
        case NoCredentialsError() | PartialCredentialsError():
            return "no AWS credentials found: pass --profile, set AWS_PROFILE, or sign in (aws configure / aws sso login)"
        case ProfileNotFound():
            return f"{error}: see aws configure list-profiles"
        case NoRegionError():
            return "no AWS region: pass --region or set AWS_REGION"
        case EndpointConnectionError():
            hint = " (is `make sandbox` running?)" if endpoint else ""
            return f"could not connect to {endpoint or 'AWS'}{hint}: {error}"
        case NoDefinitions():
            return f"{error}: nothing is deployed in the on-call table; deploy the stack with oncall.yaml"
        case ValidationError():
            problems = "; ".join(f"{format_loc(tuple(e['loc']))}: {e['msg']}" for e in error.errors())
            return f"refused: {problems}"
        case ClientError():
            details = error.response.get("Error", {})
            code = details.get("Code", "")
            if code in ("ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidClientTokenId"):
                return f"AWS did not accept your credentials ({code}): sign in again or pass --profile"
            if code in ("AccessDenied", "AccessDeniedException"):
                return f"access denied: {details.get('Message', '')}"
            return f"AWS refused the request ({code}): {details.get('Message', '')}"
        case BotoCoreError():
            return str(error)
    return None


class _Incidents(TyperGroup):
    """The root group: errors a person can act on become one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            cli = ctx.obj if isinstance(ctx.obj, Cli) else None
            message = explain(error, cli)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(error.exit_code if isinstance(error, CliError) else 1) from None


app = typer.Typer(
    cls=_Incidents,
    help="Open, watch, acknowledge, resolve and report on incidents; on-call and overrides; alert integrations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(help="AWS profile (default: the usual AWS_PROFILE / default chain).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: AWS_REGION / the profile's).")] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="Send every AWS call here, e.g. http://127.0.0.1:4566 for `make sandbox`.")
    ] = None,
    stack: Annotated[str, typer.Option(help="The deployed stack whose outputs name the tables.")] = DEFAULT_STACK,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables (every command).")] = False,
    show_numbers: Annotated[
        bool, typer.Option("--show-numbers", help="Tables print phone numbers in full (masked by default; --json keeps them).")
    ] = False,
) -> None:
    """Root options shared by every command."""
    ctx.obj = Cli(
        profile=profile, region=region, endpoint_url=endpoint_url, stack=stack, json=json_output, show_numbers=show_numbers
    )


incidents.register(app)
report.register(app)
test_page.register(app)
app.add_typer(oncall.app, name="oncall")
app.add_typer(integrations.app, name="integrations")
app.add_typer(heartbeats.app, name="heartbeats")
app.add_typer(maintenance.app, name="maintenance")
