"""The program behind every worker process: a zygote that forks one 'container' per request.

``python <this file>`` (standard library only, so nothing of the sandbox or moto is imported
here) starts the zygote: it imports the modules named in ``_SANDBOX_PRELOAD_MODULES`` (boto3:
the slow part of every cold start) once, then reads spawn commands on stdin, one JSON object a
line (``{"env", "cwd", "requests", "responses"}``), forks, and answers ``{"pid": ...}`` on
stdout. The forked child becomes one warm container of one function: it replaces its whole
environment with the function's (``AWS_ENDPOINT_URL`` pointing at the sandbox's local endpoint),
makes ``LAMBDA_TASK_ROOT`` its working directory and first entry of ``sys.path``, and imports the
handler (the init phase). It never shares a module or a variable with another function: what the
zygote imported is a copy in each child.

Worker protocol, on the two named pipes of the spawn command: one JSON object per line. The
parent writes requests (``{"request_id", "function_arn", "deadline_ms", "event"}``); the child
answers ``{"ready": pid}`` once after init, then ``{"payload": <JSON text>}`` or
``{"error": {"errorType", "errorMessage", "stackTrace"}}`` per request, and exits when the
requests pipe closes. Whatever the handler prints goes to stderr, as Lambda sends it to the logs.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    """The subset of the Python runtime's context object that handlers and Powertools read."""

    def __init__(self, request_id: str, function_arn: str, deadline_ms: int) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    stack = traceback.format_tb(exc.__traceback__) if exc is not None else []
    return {"error": {"errorType": error_type, "errorMessage": message, "stackTrace": stack}}


def _load_handler() -> tuple[Any, dict[str, Any] | None]:
    spec = os.environ["_HANDLER"]
    module_name, _, attr = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:  # the runtime reports import failures as function errors
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc)
    handler = getattr(module, attr, None)
    if handler is None:
        return None, _error("Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'")
    return handler, None


def _preload_service_models() -> None:
    """Create (and drop) a client per service in _SANDBOX_PRELOAD_SERVICES on boto3's default session.

    Only botocore's parsed service models and endpoint rules stay cached, so a handler's first
    client is not slowed by JSON parsing on a busy machine; the handler's own clients are still
    created by its code, as on Lambda.
    """
    services = [name for name in os.environ.pop("_SANDBOX_PRELOAD_SERVICES", "").split(",") if name]
    if not services:
        return
    try:
        import boto3  # noqa: PLC0415 - only when asked, and only if the function's environment has it
    except ImportError:
        return
    for name in services:
        try:
            boto3.client(name)  # type: ignore[call-overload]
        except Exception:  # noqa: S112 - a warm-up only; the handler will report real problems
            continue


def _answer(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(request["request_id"], request["function_arn"], int(request["deadline_ms"]))
    try:
        result = handler(request["event"], context)
    except Exception as exc:  # any handler exception is an Unhandled function error on AWS
        return _error(type(exc).__name__, str(exc), exc)
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")


def _write(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def serve(requests: TextIO, responses: TextIO) -> None:
    """Init (imports), then answer requests until the requests pipe closes."""
    _preload_service_models()
    handler, init_error = _load_handler()
    _write(responses, {"ready": os.getpid()})
    for line in requests:
        request = json.loads(line)
        _write(responses, init_error or _answer(handler, request))


def _become_worker(command: dict[str, Any]) -> None:
    """In the forked child: take the function's environment and directory, then serve."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(command["env"])
    os.chdir(command["cwd"])
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]  # not this file's directory: the function's own code
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the zygote's command channel is not the function's to read
    with (
        open(command["requests"], encoding="utf-8") as requests,
        open(command["responses"], "w", encoding="utf-8") as responses,
    ):
        serve(requests, responses)


def zygote() -> None:
    """Preload, then fork a worker per spawn command until stdin closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they exit
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() and log handlers write to fd 1: send them to the logs (stderr)
    for name in os.environ.get("_SANDBOX_PRELOAD_MODULES", "").split(","):
        if name:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
    _write(channel, {"ready": os.getpid()})
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                channel.close()
                _become_worker(command)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        _write(channel, {"pid": pid})


if __name__ == "__main__":
    zygote()
