"""What the runtime knows about a function, and what it records about each invocation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SandboxError(Exception):
    """Raised for misuse of the sandbox itself (not for handler failures)."""


class DeployError(Exception):
    """The stack could not be deployed into moto."""


@dataclass(frozen=True)
class LocalFunction:
    """Where a function's code lives and how it is configured."""

    code_dir: Path
    handler: str
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 128
    timeout_s: float = 3.0
    runtime: str = "python3.12"


@dataclass(frozen=True)
class HandlerError:
    """One failed invocation, as Lambda would report it."""

    function_name: str
    source: str
    error_type: str
    error_message: str
    stack_trace: tuple[str, ...]
    request_id: str
    at: dt.datetime


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation of a handler, successful or not."""

    function_name: str
    source: str
    request_id: str
    started: dt.datetime
    duration_s: float
    error_type: str | None
    result: Any = None  # what the handler returned (None when it raised)
    worker: int = 0  # which of the function's worker processes ran it (its process id)


@dataclass(frozen=True)
class StreamBatchRecord:
    """What happened to one batch of stream records delivered through an event source mapping."""

    function_name: str
    event_source_arn: str
    sequence_numbers: tuple[str, ...]
    outcome: str  # "ok", "partial" (batchItemFailures reported), "error", "sent-to-destination", "dropped"
    batch_item_failures: tuple[str, ...] = ()
    error_type: str | None = None


@dataclass(frozen=True)
class Outcome:
    """Result of one handler call: the JSON payload Lambda would return and the error if any."""

    payload: str
    result: Any = None
    error: HandlerError | None = None


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def iso_ms(moment: dt.datetime) -> str:
    """ISO 8601 with milliseconds and a Z, as AWS event timestamps are written."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def function_name_from_arn(arn_or_name: str) -> tuple[str, str | None]:
    """(function name, qualifier) from a function name or (qualified) ARN."""
    parts = arn_or_name.split(":")
    if len(parts) >= 7 and parts[0] == "arn":
        return parts[6], parts[7] if len(parts) > 7 else None
    return arn_or_name, None
