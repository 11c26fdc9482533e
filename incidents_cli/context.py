"""What every command shares: the AWS session, the stack's outputs and tables, errors a person can act on, output."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import typer
from botocore.exceptions import ClientError
from rich.console import Console

from escalation.oncall.store import OncallStore
from escalation.store.repository import IncidentRepository

DEFAULT_STACK = "IncidentEscalation"  # app.py's default (cdk.json stackName)
INCIDENTS_TABLE_OUTPUT = "IncidentsTableName"
HISTORY_TABLE_OUTPUT = "IncidentHistoryTableName"
STATE_MACHINE_OUTPUT = "StateMachineArn"
ONCALL_TABLE_OUTPUT = "OncallTableName"


class CliError(Exception):
    """A problem the person running the command can act on; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Cli:
    """The root options, and the AWS resources they lead to (looked up once, when a command first needs them)."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    stack: str = DEFAULT_STACK
    json: bool = False
    show_numbers: bool = False  # tables print phone numbers in full (JSON always does)
    console: Console = field(default_factory=Console)
    _session: Any = None
    _outputs: dict[str, str] | None = None

    # -- AWS ---------------------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        """The boto3 session of --profile and --region."""
        if self._session is None:
            self._session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
        return self._session

    def client(self, service: str, **kwargs: Any) -> Any:
        """A client for service, at --endpoint-url when given (kwargs: e.g. a botocore Config)."""
        return self.session.client(service, endpoint_url=self.endpoint_url, **kwargs)

    def outputs(self) -> dict[str, str]:
        """The stack's CloudFormation outputs, by key."""
        if self._outputs is None:
            try:
                stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
            except ClientError as error:
                message = error.response.get("Error", {}).get("Message", "")
                if "does not exist" in message:
                    where = self.endpoint_url or f"region {self.session.region_name}"
                    raise CliError(
                        f"stack {self.stack} not found in {where}: deploy it (make deploy), "
                        "or pass --stack, --region or --profile"
                    ) from None
                raise
            self._outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
        return self._outputs

    def output(self, key: str) -> str:
        """One stack output; a clear error when the deployed stack does not have it."""
        value = self.outputs().get(key)
        if not value:
            raise CliError(f"stack {self.stack} has no output {key}: deploy the current version of the app (make deploy)")
        return value

    def table(self, output_key: str) -> Any:
        """The DynamoDB table named by a stack output."""
        return self.session.resource("dynamodb", endpoint_url=self.endpoint_url).Table(self.output(output_key))

    def incidents(self) -> IncidentRepository:
        """The incidents table, through the repository the functions use."""
        return IncidentRepository(self.table(INCIDENTS_TABLE_OUTPUT))

    def incidents_table(self) -> Any:
        """The incidents table itself (scans, conditional puts)."""
        return self.table(INCIDENTS_TABLE_OUTPUT)

    def oncall(self) -> OncallStore:
        """The on-call table: deployed definitions and overrides."""
        return OncallStore(self.table(ONCALL_TABLE_OUTPUT))

    # -- output ------------------------------------------------------------------------------------

    def emit(self, data: Any, render: Callable[[], None]) -> None:
        """Print data as JSON with --json, else render it for a person."""
        if self.json:
            print(dumps(data))
        else:
            render()


def get(ctx: typer.Context) -> Cli:
    """The Cli object the root callback stored."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Cli):
        raise RuntimeError("the root callback did not run")
    return obj


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return iso(value) if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(data: Any) -> str:
    """JSON for --json output: DynamoDB numbers as numbers, instants as ISO-8601 UTC."""
    return json.dumps(data, default=_plain, sort_keys=False)


def plain(data: Any) -> Any:
    """Data with DynamoDB Decimals (and instants) turned into plain JSON values."""
    return json.loads(dumps(data))


def user_name() -> str:
    """Who runs the CLI: INCIDENTS_USER, else the login name."""
    name = os.environ.get("INCIDENTS_USER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -- times -----------------------------------------------------------------------------------------

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` as a timedelta."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    if unit is None or not text[:-1].isdigit():
        raise CliError(f"{text!r} is not a duration: write a number and m, h, d or w, e.g. 7d")
    return timedelta(**{unit: int(text[:-1])})


def parse_instant(text: str, option: str) -> datetime:
    """An ISO-8601 instant; a time without a zone is taken as UTC (said so in --help)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{option}: {text!r} is not an ISO-8601 time such as 2026-03-09T09:00+00:00") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_stored(text: object) -> datetime | None:
    """An instant the app stored (``2026-01-01T00:00:00.000Z``), or None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso(at: datetime) -> str:
    """ISO-8601 UTC, seconds precision, with Z."""
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def now() -> datetime:
    """The current instant (UTC)."""
    return datetime.now(UTC)


def fail(message: str, exit_code: int = 1) -> None:
    """Print message on stderr and exit (for conditions found after output began)."""
    print(message, file=sys.stderr)
    raise typer.Exit(exit_code)
