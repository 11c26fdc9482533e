"""Run every Lambda invocation that moto makes as the real Python handler, in this process.

moto 5.2.5 without Docker never runs function code: ``lambda.invoke`` answers with the request
body and DynamoDB-stream / SNS deliveries try Docker and fail. ``LocalLambdaRuntime.install()``
patches four moto seams so that all of them reach one place, ``LocalLambdaRuntime.invoke_model``:

* ``moto.awslambda.models.LambdaFunction.invoke``: every path ends here (SNS, DynamoDB streams,
  Kinesis, ``InvokeAsync``, and ``LambdaBackend.invoke`` used by ``lambda.invoke`` and by Step
  Functions ``lambda:invoke`` / ``lambda:invoke.waitForTaskToken`` tasks).
* ``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``: the no-Docker backend answers
  without calling the function; the patch restores the base ``LambdaBackend.invoke`` behaviour.
* ``moto.awslambda.models.LambdaBackend.send_dynamodb_items``: moto ignores the event source
  mapping's settings; the patch applies FilterCriteria, BatchSize, ReportBatchItemFailures,
  retries, bisection and the on-failure destination (loosely, see ``deliver_stream``).
* ``moto.sns.models.Subscription.publish`` (lambda protocol only): moto sends a canned event with
  a fake topic ARN and message id; the patch sends the real ones, with async-invoke retries and
  the function's EventInvokeConfig OnFailure destination.

Deliveries stay synchronous, as in moto: the write or publish that triggers a handler returns
after the handler (and its retries) finished, in the same thread. AWS would deliver later; a
handler that writes to its own stream's table sees its new record delivered before it returns.

Handler exceptions become Lambda function errors as on AWS: ``X-Amz-Function-Error: Unhandled``
and a payload ``{"errorType": <exception class name>, "errorMessage": ..., "stackTrace": ...}``,
which Step Functions turns into a task failure whose error is that class name (so a raised
``SmsThrottled`` is retried/caught as ``SmsThrottled``). Every error is kept in ``errors``.

Threading: Step Functions executions run in moto background threads and may invoke handlers
concurrently with the test thread. Handlers see their function's environment through the
process-global ``os.environ`` and their own modules through ``sys.modules``, so invocations are
serialised with one process-wide re-entrant lock (``INVOKE_LOCK``). It is re-entrant because a
handler's own AWS calls can synchronously trigger another handler in the same thread (a DynamoDB
write feeding a stream, an SNS publish, a direct invoke). Consequence: a handler must not block
waiting for work that another thread's handler has to do; the lock wait is bounded by
``lock_timeout_s`` so such a mistake fails the invocation instead of hanging the test. Code in
other threads that reads ``os.environ`` while a handler runs sees that function's variables.

Each function gets its own copy of the modules of its code directory (its top-level module and
package names are swapped in and out of ``sys.modules`` around each call), like one warm Lambda
container per function: module-level caches such as boto3 clients are per function and survive
between invocations until ``reset_modules()`` (a cold start).

Step Functions helpers: ``wait_for_executions`` (raise after a time limit, never hang),
``drain_executions`` (call before leaving ``mock_aws``: it stops running executions and wakes
their task-token waits, which moto's StopExecution leaves blocked until TimeoutSeconds) and
``states_entered``.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final, cast

import boto3
from moto.awslambda.models import EventSourceMapping, LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig
from moto.events.models import EventPattern, EventPatternParser
from moto.sns.models import Subscription
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import get_backend as get_sfn_backend

MOTO_CONFIG: Final[DefaultConfig] = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}
"""The ``mock_aws(config=...)`` the sandbox is built for."""

INVOKE_LOCK: Final = threading.RLock()
"""Serialises handler invocations process-wide (os.environ and sys.modules are global)."""

TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

_FIRST_SEQUENCE_NUMBER: Final = 100000000000000000000  # 21 digits, like DynamoDB Streams
_DEFAULT_INFINITE_RETRY_CAP: Final = 2  # MaximumRetryAttempts=-1 means "until expiry" on AWS


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


@dataclass(frozen=True)
class StreamBatchRecord:
    """What happened to one batch of stream records delivered through an event source mapping."""

    function_name: str
    event_source_arn: str
    sequence_numbers: tuple[str, ...]
    outcome: str  # "ok", "partial" (batchItemFailures reported), "error", "sent-to-destination", "dropped"
    batch_item_failures: tuple[str, ...] = ()
    error_type: str | None = None


@dataclass
class LambdaContext:
    """The subset of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_s: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


@dataclass(frozen=True)
class _Call:
    """Identity of one invocation, for records and error payloads."""

    function_name: str
    source: str
    request_id: str
    started: dt.datetime


@dataclass(frozen=True)
class Outcome:
    """Result of one handler call: the JSON payload Lambda would return and the error if any."""

    payload: str
    result: Any = None
    error: HandlerError | None = None


class SandboxError(Exception):
    """Raised for misuse of the sandbox itself (not for handler failures)."""


class _FunctionModules:
    """The modules one function has imported from its code directory (its 'container')."""

    def __init__(self, code_dir: Path) -> None:
        self.code_dir = code_dir
        self.names = _top_level_names(code_dir)
        self.modules: dict[str, ModuleType] = {}

    def _owned(self, module_name: str) -> bool:
        return module_name.partition(".")[0] in self.names

    @contextmanager
    def active(self) -> Iterator[None]:
        """Swap this function's modules into sys.modules (caller holds INVOKE_LOCK)."""
        saved = {n: m for n, m in list(sys.modules.items()) if self._owned(n)}
        for name in saved:
            del sys.modules[name]
        sys.modules.update(self.modules)
        path_entry = str(self.code_dir)
        sys.path.insert(0, path_entry)
        # Keep cdk.out pristine: no __pycache__ inside asset directories
        dont_write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            yield
        finally:
            sys.dont_write_bytecode = dont_write_bytecode
            if path_entry in sys.path:
                sys.path.remove(path_entry)
            self.modules = {n: m for n, m in list(sys.modules.items()) if self._owned(n)}
            for name in self.modules:
                sys.modules.pop(name, None)
            sys.modules.update(saved)


def _top_level_names(code_dir: Path) -> frozenset[str]:
    """Module and package names importable from the top of code_dir."""
    if not code_dir.is_dir():
        raise SandboxError(f"code directory does not exist: {code_dir}")
    names = set()
    for entry in code_dir.iterdir():
        if entry.is_file() and entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier():
            names.add(entry.name)  # regular or namespace package
    return frozenset(names)


@contextmanager
def _environment(overlay: Mapping[str, str]) -> Iterator[None]:
    """Apply overlay to os.environ and restore it exactly afterwards (caller holds INVOKE_LOCK)."""
    saved = dict(os.environ)
    os.environ.update(overlay)
    try:
        yield
    finally:
        for key in set(os.environ) - saved.keys():
            os.environ.pop(key, None)  # pop, not del: never fail the restore over one key
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup on whatever mapping moto passes around."""
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso_ms(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _function_name_from_arn(arn_or_name: str) -> tuple[str, str | None]:
    """(function name, qualifier) from a function name or (qualified) ARN."""
    parts = arn_or_name.split(":")
    if len(parts) >= 7 and parts[0] == "arn":
        return parts[6], parts[7] if len(parts) > 7 else None
    return arn_or_name, None


class LocalLambdaRuntime:
    """Routes moto's Lambda invocations to in-process handlers; only one may be installed."""

    _installed: LocalLambdaRuntime | None = None
    _originals: dict[str, Any] = {}

    def __init__(
        self,
        functions: Mapping[str, LocalFunction] | None = None,
        *,
        async_retry_attempts: int = 2,
        infinite_retry_cap: int = _DEFAULT_INFINITE_RETRY_CAP,
        lock_timeout_s: float = 120.0,
        enforce_timeouts: bool = True,
    ) -> None:
        """Create a runtime; functions maps function name (or ARN) to its code and config."""
        self._functions: dict[str, LocalFunction] = {}
        self._modules: dict[str, _FunctionModules] = {}
        self.async_retry_attempts = async_retry_attempts
        self.infinite_retry_cap = infinite_retry_cap
        self.lock_timeout_s = lock_timeout_s
        self.enforce_timeouts = enforce_timeouts
        self.errors: list[HandlerError] = []
        self.invocations: list[InvocationRecord] = []
        self.stream_batches: list[StreamBatchRecord] = []
        self._records_lock = threading.Lock()
        self._stream_delivered: dict[str, weakref.WeakSet[Any]] = {}
        self._stream_sequence: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._stream_sequence_counter = 0
        self.register_all(functions or {})

    # -- registration -------------------------------------------------------------------------

    def register(self, name_or_arn: str, function: LocalFunction) -> None:
        """Map one deployed function (by name or ARN) to its local code."""
        name, _ = _function_name_from_arn(name_or_arn)
        with INVOKE_LOCK:
            self._functions[name] = function
            self._modules.pop(name, None)

    def register_all(self, functions: Mapping[str, LocalFunction]) -> None:
        """Map several functions at once."""
        for name, function in functions.items():
            self.register(name, function)

    @property
    def functions(self) -> Mapping[str, LocalFunction]:
        """The registered functions by name."""
        return dict(self._functions)

    def reset_modules(self) -> None:
        """Forget every function's imported modules, so the next invocation is a cold start."""
        with INVOKE_LOCK:
            self._modules.clear()

    def module(self, function_name: str, module_name: str) -> ModuleType:
        """A module as the given function sees it (imported on demand), e.g. to monkeypatch it."""
        function = self._require(function_name)
        with INVOKE_LOCK, self._function_scope(function_name, function):
            return importlib.import_module(module_name)

    def initialize(self) -> None:
        """Import every function's handler module now, as Lambda's init phase does before the first event.

        Without it the first event of each function pays for the imports, which on AWS happens once
        per container and is not what the workflow's own latency is about.
        """
        for name, function in self._functions.items():
            module_name = function.handler.rsplit(".", 1)[0]
            self.module(name, module_name)

    # -- patching -----------------------------------------------------------------------------

    def install(self) -> LocalLambdaRuntime:
        """Patch moto so that every Lambda invocation reaches this runtime."""
        with INVOKE_LOCK:
            if LocalLambdaRuntime._installed is not None:
                raise SandboxError("another LocalLambdaRuntime is already installed")
            originals = {
                "LambdaFunction.invoke": LambdaFunction.invoke,
                "LambdaSimpleBackend.invoke": LambdaSimpleBackend.invoke,
                "LambdaBackend.send_dynamodb_items": LambdaBackend.send_dynamodb_items,
                "Subscription.publish": Subscription.publish,
            }
            LocalLambdaRuntime._originals = originals
            LocalLambdaRuntime._installed = self
            LambdaFunction.invoke = _patched_function_invoke  # type: ignore[method-assign]
            LambdaSimpleBackend.invoke = _patched_simple_invoke  # type: ignore[method-assign]
            LambdaBackend.send_dynamodb_items = _patched_send_dynamodb_items  # type: ignore[method-assign]
            Subscription.publish = _patched_subscription_publish  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        """Undo install(); safe to call twice."""
        with INVOKE_LOCK:
            if LocalLambdaRuntime._installed is not self:
                return
            originals = LocalLambdaRuntime._originals
            LambdaFunction.invoke = originals["LambdaFunction.invoke"]  # type: ignore[method-assign]
            LambdaSimpleBackend.invoke = originals["LambdaSimpleBackend.invoke"]  # type: ignore[method-assign]
            LambdaBackend.send_dynamodb_items = originals["LambdaBackend.send_dynamodb_items"]  # type: ignore[method-assign]
            Subscription.publish = originals["Subscription.publish"]  # type: ignore[method-assign]
            LocalLambdaRuntime._installed = None

    def __enter__(self) -> LocalLambdaRuntime:
        """Install on entering a with block."""
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        """Uninstall on leaving a with block."""
        self.uninstall()

    @classmethod
    def current(cls) -> LocalLambdaRuntime:
        """The installed runtime (patched moto code calls this)."""
        runtime = cls._installed
        if runtime is None:
            raise SandboxError("no LocalLambdaRuntime installed")
        return runtime

    # -- invocation ---------------------------------------------------------------------------

    def _require(self, function_name: str) -> LocalFunction:
        function = self._functions.get(function_name)
        if function is None:
            raise SandboxError(f"no local handler registered for Lambda function {function_name!r}")
        return function

    @contextmanager
    def _function_scope(self, function_name: str, function: LocalFunction) -> Iterator[None]:
        modules = self._modules.get(function_name)
        if modules is None:
            modules = self._modules[function_name] = _FunctionModules(function.code_dir)
        with modules.active():
            yield

    def invoke_model(self, fn: LambdaFunction, event: Any, source: str) -> Outcome:
        """Run the handler behind a moto function model with event; never raises for handler errors."""
        call = _Call(function_name=fn.function_name, source=source, request_id=str(uuid.uuid4()), started=_utcnow())
        function = self._functions.get(fn.function_name)
        if function is None:
            message = f"no local handler registered for {fn.function_name} ({fn.run_time}, {fn.handler})"
            return self._record(call, 0.0, self._error_outcome(call, "Sandbox.HandlerNotRegistered", message))
        if not INVOKE_LOCK.acquire(timeout=self.lock_timeout_s):
            message = f"waited {self.lock_timeout_s}s for another handler to finish (a handler blocking on another?)"
            return self._record(call, 0.0, self._error_outcome(call, "Sandbox.LockTimeout", message))
        try:
            t0 = time.monotonic()
            outcome = self._call_handler(call, fn, function, event)
            duration = time.monotonic() - t0
        finally:
            INVOKE_LOCK.release()
        if outcome.error is None and self.enforce_timeouts and duration > function.timeout_s:
            # Lambda would have killed the sandbox; the work is done here, but report it as AWS would
            message = f"Task timed out after {function.timeout_s:.2f} seconds (took {duration:.2f}s locally)"
            outcome = self._error_outcome(call, "Sandbox.Timedout", message)
        return self._record(call, duration, outcome)

    def _call_handler(self, call: _Call, fn: LambdaFunction, function: LocalFunction, event: Any) -> Outcome:
        module_name, _, attr = function.handler.rpartition(".")
        module_name = module_name.replace("/", ".")
        log_group = f"/aws/lambda/{fn.function_name}"
        log_stream = f"{_utcnow():%Y/%m/%d}/[$LATEST]{call.request_id.replace('-', '')}"
        overlay = {
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            # No X-Ray daemon here; the function's own environment may still override this
            "POWERTOOLS_TRACE_DISABLED": "true",
            **{k: str(v) for k, v in function.environment.items()},
        }
        context = LambdaContext(
            function_name=fn.function_name,
            invoked_function_arn=fn.function_arn,
            memory_limit_in_mb=function.memory_mb,
            aws_request_id=call.request_id,
            timeout_s=function.timeout_s,
            log_group_name=log_group,
            log_stream_name=log_stream,
        )
        with _environment(overlay), self._function_scope(fn.function_name, function):
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # the runtime reports import failures as function errors
                return self._exception_outcome(call, exc, "Runtime.ImportModuleError")
            handler: Callable[[Any, LambdaContext], Any] | None = getattr(module, attr, None)
            if handler is None:
                return self._error_outcome(call, "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'")
            try:
                result = handler(event, context)
            except Exception as exc:  # any handler exception is an Unhandled function error on AWS
                return self._exception_outcome(call, exc)
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            return self._error_outcome(call, "Runtime.MarshalError", f"Unable to marshal response: {exc}")
        return Outcome(payload=payload, result=result)

    def _exception_outcome(self, call: _Call, exc: BaseException, error_type: str | None = None) -> Outcome:
        stack = tuple(traceback.format_tb(exc.__traceback__))
        return self._error_outcome(call, error_type or type(exc).__name__, str(exc), stack)

    def _error_outcome(self, call: _Call, error_type: str, message: str, stack: tuple[str, ...] = ()) -> Outcome:
        error = HandlerError(
            function_name=call.function_name,
            source=call.source,
            error_type=error_type,
            error_message=message,
            stack_trace=stack,
            request_id=call.request_id,
            at=_utcnow(),
        )
        with self._records_lock:
            self.errors.append(error)
        payload = {"errorMessage": message, "errorType": error_type, "requestId": call.request_id, "stackTrace": list(stack)}
        return Outcome(payload=json.dumps(payload), error=error)

    def _record(self, call: _Call, duration: float, outcome: Outcome) -> Outcome:
        record = InvocationRecord(
            function_name=call.function_name,
            source=call.source,
            request_id=call.request_id,
            started=call.started,
            duration_s=duration,
            error_type=outcome.error.error_type if outcome.error else None,
            result=outcome.result,
        )
        with self._records_lock:
            self.invocations.append(record)
        return outcome

    def invoke_async(self, fn: LambdaFunction, event: Any, source: str) -> Outcome:
        """Invoke as Lambda's async queue does: retries, then the OnFailure destination, if any."""
        # Retries follow the function's event invoke config (MaximumRetryAttempts), else
        # async_retry_attempts, and happen at once (AWS waits about 1 and 2 minutes)
        config = fn.event_invoke_config[-1].config if fn.event_invoke_config else {}
        retries = int(config.get("MaximumRetryAttempts", self.async_retry_attempts))
        outcome = self.invoke_model(fn, event, source)
        attempts = 1
        while outcome.error is not None and attempts <= retries:
            if outcome.error.error_type.startswith("Sandbox.Handler"):
                break
            outcome = self.invoke_model(fn, event, f"{source}-retry")
            attempts += 1
        destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if outcome.error is not None and destination:
            record = {
                "version": "1.0",
                "timestamp": _iso_ms(_utcnow()),
                "requestContext": {
                    "requestId": outcome.error.request_id,
                    "functionArn": f"{fn.function_arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": json.loads(outcome.payload),
            }
            _send_to(destination, json.dumps(record, default=str))
        return outcome

    # -- DynamoDB streams ---------------------------------------------------------------------

    def deliver_stream(self, backend: LambdaBackend, function_arn: str, items: list[Any], source_arn: str) -> str:
        """Deliver DynamoDB stream records through the matching event source mapping."""
        # moto hands over every record still in the shard, including one whose delivery is in
        # progress further up this thread's stack (a handler writing to its own source table), and
        # numbers records from the shard's length, which restarts once the shard is emptied. So each
        # record object is delivered once per mapping and gets its own sequence number.
        esm = _find_mapping(backend, function_arn, source_arn)
        if esm is None or not esm.enabled:
            return "disabled"
        fn = backend.get_function(function_arn)
        with self._records_lock:
            delivered = self._stream_delivered.setdefault(esm.uuid, weakref.WeakSet())
            fresh = [item for item in items if item not in delivered]
            delivered.update(fresh)
            for item in fresh:
                if item not in self._stream_sequence:
                    self._stream_sequence_counter += 1
                    self._stream_sequence[item] = str(_FIRST_SEQUENCE_NUMBER + self._stream_sequence_counter)
            records = [_stream_record(item, backend.region_name, source_arn, self._stream_sequence[item]) for item in fresh]
        patterns = _filter_patterns(esm)
        matched = [r for r in records if any(p.matches_event(cast(Any, r)) for p in patterns)] if patterns else records
        size = esm.batch_size or 100
        for start in range(0, len(matched), size):
            self._process_stream_batch(esm, fn, matched[start : start + size])
        # moto keeps re-sending the shard's records until this is truthy
        return "delivered"

    def _process_stream_batch(self, esm: EventSourceMapping, fn: LambdaFunction, batch: list[dict[str, Any]]) -> None:
        max_retries = esm.max_retry_attempts
        if max_retries is None or int(max_retries) < 0:
            max_retries = self.infinite_retry_cap
        report_failures = "ReportBatchItemFailures" in (esm.function_response_types or [])
        pending = batch
        retries = 0
        while pending:
            outcome = self.invoke_model(fn, {"Records": pending}, "dynamodb-stream")
            sequence = tuple(r["dynamodb"]["SequenceNumber"] for r in pending)
            if outcome.error is not None:
                if esm.bisect_on_error and len(pending) > 1:
                    # Bisection does not count as a retry on AWS: each half gets the full budget
                    self._record_batch(fn, esm, sequence, "error", error_type=outcome.error.error_type)
                    half = len(pending) // 2
                    self._process_stream_batch(esm, fn, pending[:half])
                    self._process_stream_batch(esm, fn, pending[half:])
                    return
                failed_from = 0
                self._record_batch(fn, esm, sequence, "error", error_type=outcome.error.error_type)
            else:
                failures = _batch_item_failures(outcome.result) if report_failures else ()
                if not failures:
                    self._record_batch(fn, esm, sequence, "ok")
                    return
                self._record_batch(fn, esm, sequence, "partial", batch_item_failures=failures)
                positions = [i for i, seq in enumerate(sequence) if seq in failures]
                # An unknown or empty itemIdentifier fails the whole batch on AWS
                failed_from = min(positions) if len(positions) == len(failures) else 0
            retries += 1
            if retries > int(max_retries):
                self._send_to_destination(fn, esm, pending[failed_from:], retries)
                return
            pending = pending[failed_from:]

    def _record_batch(
        self,
        fn: LambdaFunction,
        esm: EventSourceMapping,
        sequence: tuple[str, ...],
        outcome: str,
        *,
        batch_item_failures: tuple[str, ...] = (),
        error_type: str | None = None,
    ) -> None:
        record = StreamBatchRecord(
            function_name=fn.function_name,
            event_source_arn=esm.event_source_arn,
            sequence_numbers=sequence,
            outcome=outcome,
            batch_item_failures=batch_item_failures,
            error_type=error_type,
        )
        with self._records_lock:
            self.stream_batches.append(record)

    def _send_to_destination(
        self, fn: LambdaFunction, esm: EventSourceMapping, records: list[dict[str, Any]], attempts: int
    ) -> None:
        sequence = tuple(r["dynamodb"]["SequenceNumber"] for r in records)
        destination = ((esm.destination_config or {}).get("OnFailure") or {}).get("Destination")
        if not destination:
            self._record_batch(fn, esm, sequence, "dropped")
            return
        created = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
        body = json.dumps(
            {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": fn.function_arn,
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": attempts,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": _iso_ms(_utcnow()),
                "DDBStreamBatchInfo": {
                    "shardId": "shardId-00000001541626099285-f35f62ef",
                    "startSequenceNumber": sequence[0],
                    "endSequenceNumber": sequence[-1],
                    "approximateArrivalOfFirstRecord": created[0],
                    "approximateArrivalOfLastRecord": created[-1],
                    "batchSize": len(records),
                    "streamArn": esm.event_source_arn,
                },
            },
            default=str,
        )
        _send_to(destination, body)
        self._record_batch(fn, esm, sequence, "sent-to-destination")

    # -- SNS ----------------------------------------------------------------------------------

    def deliver_sns(
        self,
        subscription: Subscription,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: Mapping[str, Any] | None,
    ) -> None:
        """Deliver one SNS notification to a lambda-protocol subscription, as an async invoke."""
        name, qualifier = _function_name_from_arn(subscription.endpoint)
        region = subscription.endpoint.split(":")[3]
        try:
            fn = get_lambda_backend(subscription.account_id, region).get_function(name, qualifier)
        except Exception as exc:  # SNS drops deliveries to missing functions; keep a trace of it
            call = _Call(function_name=name, source="sns", request_id=str(uuid.uuid4()), started=_utcnow())
            self._record(call, 0.0, self._exception_outcome(call, exc, "Sandbox.FunctionNotFound"))
            return
        topic_region = subscription.topic.arn.split(":")[3]
        event = {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": subscription.arn,
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": message_id,
                        "TopicArn": subscription.topic.arn,
                        "Subject": subject,
                        "Message": message,
                        "Timestamp": _iso_ms(_utcnow()),
                        "SignatureVersion": "1",
                        "Signature": base64.b64encode(b"sandbox").decode(),
                        "SigningCertUrl": f"https://sns.{topic_region}.amazonaws.com/SimpleNotificationService-sandbox.pem",
                        "UnsubscribeUrl": f"https://sns.{topic_region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}",
                        "MessageAttributes": {
                            key: {"Type": value.get("Type"), "Value": value.get("Value")}
                            for key, value in (message_attributes or {}).items()
                        },
                    },
                }
            ]
        }
        self.invoke_async(fn, event, "sns")


# -- the patched moto methods (module-level so they can be compared and restored) ---------------


def _patched_function_invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
    """Replacement for LambdaFunction.invoke: run the local handler instead of Docker."""
    runtime = LocalLambdaRuntime.current()
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = json.loads(body) if body else {}
    invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "Event":
        runtime.invoke_async(self, event, "invoke-async")
        return ""
    if invocation_type == "DryRun":
        return ""
    outcome = runtime.invoke_model(self, event, "invoke")
    if outcome.error is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    response_headers["x-amz-log-result"] = base64.b64encode(b"logs are not captured by the sandbox\n").decode()
    return outcome.payload


def _patched_simple_invoke(  # noqa: PLR0917 - moto's signature
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    """Replacement for LambdaSimpleBackend.invoke: go through the function like the Docker backend."""
    return LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)


def _patched_send_dynamodb_items(self: LambdaBackend, function_arn: str, items: list[Any], source: str) -> str:
    """Replacement for LambdaBackend.send_dynamodb_items honouring the event source mapping."""
    return LocalLambdaRuntime.current().deliver_stream(self, function_arn, items, source)


def _patched_subscription_publish(  # noqa: PLR0917 - moto's signature
    self: Subscription,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> None:
    """Replacement for Subscription.publish: real event for lambda endpoints, moto's code otherwise."""
    if self.protocol != "lambda":
        original = LocalLambdaRuntime._originals["Subscription.publish"]
        original(
            self,
            message,
            message_id,
            subject=subject,
            message_attributes=message_attributes,
            group_id=group_id,
            deduplication_id=deduplication_id,
            message_structure=message_structure,
        )
        return
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    LocalLambdaRuntime.current().deliver_sns(self, message, message_id, subject, message_attributes)


def _send_to(destination: str, body: str) -> None:
    """Send an invocation record to an SQS queue or SNS topic destination (by ARN)."""
    service, region = destination.split(":")[2], destination.split(":")[3]
    if service == "sqs":
        sqs = boto3.client("sqs", region_name=region)
        queue_url = sqs.get_queue_url(QueueName=destination.split(":")[5])["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    elif service == "sns":
        boto3.client("sns", region_name=region).publish(TopicArn=destination, Message=body)
    else:
        raise SandboxError(f"destination type not emulated: {destination}")


# -- stream helpers -----------------------------------------------------------------------------


def _find_mapping(backend: LambdaBackend, function_arn: str, source_arn: str) -> EventSourceMapping | None:
    for esm in backend._event_source_mappings.values():
        if esm.function_arn == function_arn and esm.event_source_arn == source_arn:
            return esm
    return None


def _stream_record(item: Any, region: str, source_arn: str, sequence_number: str) -> dict[str, Any]:
    """One moto StreamRecord as the Lambda event record AWS sends."""
    record = item.to_json()
    dynamodb = dict(record["dynamodb"], SequenceNumber=sequence_number)
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record["eventVersion"],
        "eventSource": record["eventSource"],
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": source_arn,
    }


def _filter_patterns(esm: EventSourceMapping) -> list[EventPattern]:
    """The mapping's FilterCriteria as EventBridge-style matchers (moto's own implementation)."""
    filters = (esm.filter_criteria or {}).get("Filters") or []
    return [EventPattern(f["Pattern"], EventPatternParser(f["Pattern"]).parse()) for f in filters if f.get("Pattern")]


def _batch_item_failures(result: Any) -> tuple[str, ...]:
    """Item identifiers from a ReportBatchItemFailures response; malformed responses fail all."""
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return ()
    failures = result["batchItemFailures"] or []
    return tuple(str((f or {}).get("itemIdentifier") or "") for f in failures)


# -- Step Functions helpers ---------------------------------------------------------------------


class ExecutionsStillRunning(TimeoutError):
    """Raised when executions do not reach a terminal status in time."""


def _sfn(region_name: str | None) -> Any:
    return boto3.client("stepfunctions", region_name=region_name)


def list_executions(region_name: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Every execution of every state machine, optionally only those with status."""
    sfn = _sfn(region_name)
    executions: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            kwargs: dict[str, Any] = {"stateMachineArn": machine["stateMachineArn"]}
            if status:
                kwargs["statusFilter"] = status
            for exec_page in sfn.get_paginator("list_executions").paginate(**kwargs):
                executions.extend(exec_page["executions"])
    return executions


def wait_for_executions(
    timeout_s: float = 30.0,
    *,
    region_name: str | None = None,
    poll_s: float = 0.05,
    execution_arns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Wait until all (or the given) executions are terminal; return their descriptions or raise."""
    sfn = _sfn(region_name)
    deadline = time.monotonic() + timeout_s
    while True:
        arns = list(execution_arns) if execution_arns is not None else [e["executionArn"] for e in list_executions(region_name)]
        described = [sfn.describe_execution(executionArn=arn) for arn in arns]
        running = [d for d in described if d["status"] not in TERMINAL_STATUSES]
        if not running:
            return described
        if time.monotonic() >= deadline:
            detail = "; ".join(
                f"{d['executionArn']} at {states_entered(d['executionArn'], region_name=region_name)[-1:]}" for d in running
            )
            raise ExecutionsStillRunning(f"{len(running)} execution(s) still running after {timeout_s}s: {detail}")
        time.sleep(poll_s)


def drain_executions(timeout_s: float = 10.0, *, region_name: str | None = None) -> list[str]:
    """Stop every running execution and wait for moto's worker threads; call before leaving mock_aws."""
    sfn = _sfn(region_name)
    deadline = time.monotonic() + timeout_s
    stopped: list[str] = []
    while True:
        running = [e["executionArn"] for e in list_executions(region_name, status="RUNNING")]
        if not running:
            break
        if time.monotonic() >= deadline:
            raise ExecutionsStillRunning(f"executions still running after {timeout_s}s: {running}")
        for arn in running:
            if arn not in stopped:
                sfn.stop_execution(executionArn=arn, error="Sandbox.Drained")
                stopped.append(arn)
        _interrupt_task_token_waits(set(running), sfn.meta.region_name)
        time.sleep(0.05)
    for thread in list(TMP_THREADS):
        if thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise ExecutionsStillRunning(f"Step Functions worker thread {thread.name} did not finish")
    return stopped


def _interrupt_task_token_waits(execution_arns: set[str], region_name: str) -> None:
    """Wake tasks waiting for a token in stopped executions (moto's StopExecution does not)."""
    account = boto3.client("sts", region_name=region_name).get_caller_identity()["Account"]
    backend = get_sfn_backend(account, region_name)
    for machine in backend.state_machines:
        for execution in machine.executions:
            worker = getattr(execution, "exec_worker", None)
            if execution.execution_arn in execution_arns and worker is not None and worker.env is not None:
                for endpoint in list(worker.env.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()


def states_entered(execution_arn: str, *, region_name: str | None = None) -> list[str]:
    """Names of the states an execution entered, in order (from its history)."""
    sfn = _sfn(region_name)
    names: list[str] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        for event in page["events"]:
            details = event.get("stateEnteredEventDetails")
            if event["type"].endswith("StateEntered") and details:
                names.append(details["name"])
    return names
