"""Acknowledge and resolve through the stack's operator function (lambdas/operator_actions.py).

The function does what a YES or a RESOLVE by SMS does, with the functions' own SMS settings and once-only
keys; the CLI only asks. Each command sends one request id, the same on every retry, so a retry after a
timeout or a failure of the function finishes the job instead of doing it twice.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from . import context
from .context import Cli, CliError

OPERATOR_FUNCTION_OUTPUT = "OperatorFunctionName"
ATTEMPTS = 3  # the first call and two retries, with the same request id
RETRY_PAUSE_SECONDS = 1.0  # times the attempt number
# The function may run up to its timeout (180 s, stacks/escalation_stack.py) sending notices; wait for it.
INVOKE_CONFIG = Config(connect_timeout=5, read_timeout=200, retries={"total_max_attempts": 1})
RETRYABLE_CODES = frozenset({"TooManyRequestsException", "ServiceException", "ResourceConflictException"})


def operator_name(as_name: str | None) -> str:
    """Who the CLI acts as: cli:<--as, INCIDENTS_USER or the login>."""
    return f"cli:{(as_name or context.user_name()).strip()}"


def _answer(response: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The function's answer, or None and why it failed."""
    payload = response["Payload"].read()
    data = json.loads(payload) if payload else None
    if response.get("FunctionError"):
        message = data.get("errorMessage", "") if isinstance(data, dict) else ""
        kind = data.get("errorType", "error") if isinstance(data, dict) else "error"
        return None, f"{kind}: {message}".strip()
    if not isinstance(data, dict) or "ok" not in data:
        return None, f"unexpected answer {payload[:200]!r}"
    return data, ""


def call(cli: Cli, action: str, incident_id: str, by: str) -> dict[str, Any]:
    """Ask the operator function to act; its answer ({"ok": ...}), or a CliError once every attempt failed."""
    return ask(cli, {"action": action, "incident_id": incident_id, "by": by})


def ask(cli: Cli, request: dict[str, Any]) -> dict[str, Any]:
    """Send the operator function one request (a new request id, the same on retries); its answer, as call does."""
    function = cli.output(OPERATOR_FUNCTION_OUTPUT)
    client = cli.client("lambda", config=INVOKE_CONFIG)
    payload = json.dumps({**request, "request_id": str(uuid.uuid4())}).encode()
    problem = ""
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(RETRY_PAUSE_SECONDS * (attempt - 1))
        try:
            response = client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=payload)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise CliError(
                    f"the operator function {function} does not exist: deploy the current version of the app (make deploy)"
                ) from None
            if code in ("AccessDeniedException", "AccessDenied"):
                needed = f"lambda:InvokeFunction on {function} ({OPERATOR_FUNCTION_OUTPUT})"
                raise CliError(f"access denied: you need {needed}") from None
            if code not in RETRYABLE_CODES:
                raise
            problem = code
            continue
        except (ReadTimeoutError, ConnectionClosedError) as error:
            problem = str(error)
            continue
        answer, problem = _answer(response)
        if answer is not None:
            return answer
    raise CliError(
        f"the operator function failed {ATTEMPTS} times ({problem}); what it did is kept and nothing is done twice: "
        "run the same command again to finish"
    )


def settle(cli: Cli, answer: dict[str, Any], render: Any) -> None:
    """Print an answer: rendered (or JSON) when done; a refusal is one line on stderr, and JSON on stdout with --json."""
    if answer.get("ok"):
        cli.emit(answer, render)
        return
    if cli.json:
        print(context.dumps(answer))
    message = str(answer.get("message", answer.get("error", "refused")))
    if answer.get("error") == "invalid_request" and message.startswith("by:"):
        message += " (pass --as NAME or set INCIDENTS_USER)"
    raise CliError(message)
