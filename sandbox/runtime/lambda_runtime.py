"""Route every Lambda invocation moto makes to the function's own worker processes.

``LocalLambdaRuntime(endpoint_url=...)`` maps deployed functions to their code
(``register_all(deployed.functions)``), and ``install()`` replaces moto's seams
(``sandbox.moto_patches``). Each function gets a ``FunctionPool`` of worker processes
(``sandbox.runtime.pool``): its own interpreter, modules and environment (the function's
variables, the ``AWS_LAMBDA_*`` ones, placeholder credentials and ``AWS_ENDPOINT_URL`` set to the
sandbox's local endpoint, through which handlers reach moto and the SMS gateway), at most
``max_workers`` at a time. Nothing is serialised across functions or invocations: handlers race
as they do on Lambda, and each moto API call is atomic (``sandbox.moto_patches.API_LOCK``).

Synchronous invocations (Step Functions tasks, ``lambda.invoke``) wait for a free worker;
asynchronous ones (SNS, ``InvocationType=Event``) and stream batches are queued by
``sandbox.event_sources`` and run on their own threads. ``pending()`` counts the work queued or
running, so a caller can wait for the system to settle. Every invocation is kept in
``invocations``, every failure in ``errors``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.sns.models import Subscription

from .. import moto_patches
from ..event_sources.async_invoke import AsyncInvoker
from ..event_sources.streams import StreamDelivery
from ..records import (
    HandlerError,
    InvocationRecord,
    LocalFunction,
    Outcome,
    SandboxError,
    StreamBatchRecord,
    function_name_from_arn,
    utcnow,
)
from .pool import FunctionPool, WorkerCrashed, WorkerTimedOut, Zygote

DEFAULT_MAX_WORKERS: Final = 2
"""Worker processes per function: enough for races, few enough for a two-core machine."""
PRELOAD_SERVICES: Final = ("dynamodb", "stepfunctions", "sns", "sqs", "pinpoint-sms-voice-v2")
"""Service models each worker parses during its init (see worker.py)."""
PRELOAD_MODULES: Final = ("boto3",)
"""Imported once by the zygote that forks the workers (see worker.py)."""
PLACEHOLDER_CREDENTIALS: Final = {
    # moto accepts any credentials; these are placeholders, not secrets
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
_NO_TIMEOUT_S: Final = 900.0  # Lambda's maximum


@dataclass(frozen=True)
class _Call:
    """Identity of one invocation, for records and error payloads."""

    function_name: str
    source: str
    request_id: str
    started: Any


class LocalLambdaRuntime:
    """Runs moto's Lambda invocations in per-function worker processes; only one may be installed."""

    def __init__(
        self,
        functions: Mapping[str, LocalFunction] | None = None,
        *,
        endpoint_url: str,
        region_name: str | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        async_retry_attempts: int = 2,
        async_retry_delays_s: tuple[float, ...] = (1.0, 2.0),
        infinite_retry_cap: int = 2,
        capacity_wait_s: float = 300.0,
        enforce_timeouts: bool = True,
    ) -> None:
        """Create a runtime; functions maps function name (or ARN) to its code and config."""
        self.endpoint_url = endpoint_url
        self.region_name = region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.max_workers = max_workers
        self.async_retry_attempts = async_retry_attempts
        self.async_retry_delays_s = async_retry_delays_s
        self.infinite_retry_cap = infinite_retry_cap
        self.capacity_wait_s = capacity_wait_s
        self.enforce_timeouts = enforce_timeouts
        self.errors: list[HandlerError] = []
        self.invocations: list[InvocationRecord] = []
        self.stream_batches: list[StreamBatchRecord] = []
        self._functions: dict[str, LocalFunction] = {}
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self.streams = StreamDelivery(self)
        self.async_events = AsyncInvoker(self)
        self.register_all(functions or {})

    # -- registration -------------------------------------------------------------------------

    def register(self, name_or_arn: str, function: LocalFunction) -> None:
        """Map one deployed function (by name or ARN) to its local code."""
        name, _ = function_name_from_arn(name_or_arn)
        pool = FunctionPool(name, function, self.environment(name, function), self.max_workers, self._forker)
        with self._lock:
            self._functions[name] = function
            previous = self._pools.pop(name, None)
            self._pools[name] = pool
        if previous is not None:
            previous.close()

    def register_all(self, functions: Mapping[str, LocalFunction]) -> None:
        """Map several functions at once."""
        for name, function in functions.items():
            self.register(name, function)

    @property
    def functions(self) -> Mapping[str, LocalFunction]:
        """The registered functions by name."""
        return dict(self._functions)

    def environment(self, name: str, function: LocalFunction) -> dict[str, str]:
        """What a worker of this function sees in os.environ (as on Lambda, plus the endpoint)."""
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        return {
            **inherited,
            **PLACEHOLDER_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region_name,
            "AWS_DEFAULT_REGION": self.region_name,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            "PYTHONDONTWRITEBYTECODE": "1",  # keep the asset directories pristine
            "_SANDBOX_PRELOAD_SERVICES": ",".join(PRELOAD_SERVICES),
            # No X-Ray daemon here; the function's own environment may still override this
            "POWERTOOLS_TRACE_DISABLED": "true",
            **{key: str(value) for key, value in function.environment.items()},
        }

    def _forker(self) -> Zygote:
        """The process that forks this runtime's workers (started on first use)."""
        with self._zygote_lock:
            if self._zygote is None:
                inherited = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
                self._zygote = Zygote(inherited, PRELOAD_MODULES)
            return self._zygote

    def concurrency(self, function_name: str) -> int:
        """How many events of this function may run at once."""
        pool = self._pools.get(function_name)
        return pool.max_workers if pool is not None else 1

    def initialize(self, workers: int | None = None) -> None:
        """Start workers (default: max_workers) per function now, in parallel (init phases import the handler).

        On AWS a burst meets cold starts; here every scenario would pay them on a shared machine, and
        they are not what the workflow's own latency is about, so the sandbox starts warm.
        """
        pools = list(self._pools.values())
        failures: list[BaseException] = []

        def warm(pool: FunctionPool) -> None:
            try:
                pool.prewarm(workers or pool.max_workers)
            except WorkerCrashed as error:
                failures.append(error)

        threads = [threading.Thread(target=warm, args=(pool,), daemon=True) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise SandboxError(f"a function's worker did not start: {failures[0]}")

    def cold_start(self) -> None:
        """Stop every idle worker, so each function's next invocation starts a fresh process."""
        for pool in list(self._pools.values()):
            pool.reset()

    def worker_processes(self, function_name: str) -> int:
        """How many processes this function has started so far (cold starts)."""
        pool = self._pools.get(function_name)
        return pool.cold_starts if pool is not None else 0

    # -- installation -------------------------------------------------------------------------

    def install(self) -> LocalLambdaRuntime:
        """Replace moto's seams so that every Lambda invocation reaches this runtime."""
        moto_patches.install(self)
        return self

    def uninstall(self) -> None:
        """Stop delivering, stop every worker, put moto back; safe to call twice."""
        self.streams.stop()
        self.async_events.stop()
        for pool in list(self._pools.values()):
            pool.close()
        with self._zygote_lock:
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None
        moto_patches.uninstall(self)

    def __enter__(self) -> LocalLambdaRuntime:
        """Install on entering a with block."""
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        """Uninstall on leaving a with block."""
        self.uninstall()

    # -- what the replaced moto methods call ----------------------------------------------------

    def invoke(self, fn: LambdaFunction, event: Any, source: str) -> Outcome:
        """Run fn's handler on one of its workers and wait; never raises for handler errors."""
        call = _Call(function_name=fn.function_name, source=source, request_id=str(uuid.uuid4()), started=utcnow())
        pool = self._pools.get(fn.function_name)
        function = self._functions.get(fn.function_name)
        if pool is None or function is None:
            message = f"no local handler registered for {fn.function_name} ({fn.run_time}, {fn.handler})"
            return self._record(call, 0.0, self._error_outcome(call, "Sandbox.HandlerNotRegistered", message))
        with self._work():
            try:
                worker = pool.acquire(self.capacity_wait_s)
            except (TimeoutError, SandboxError, WorkerCrashed) as error:
                return self._record(call, 0.0, self._error_outcome(call, "Sandbox.NoWorker", str(error)))
            timeout_s = function.timeout_s if self.enforce_timeouts else _NO_TIMEOUT_S
            request = {
                "request_id": call.request_id,
                "function_arn": fn.function_arn,
                "deadline_ms": int((time.time() + timeout_s) * 1000),
                "event": event,
            }
            started = time.monotonic()
            healthy = False
            try:
                answer = worker.invoke(request, timeout_s)
                healthy = True
            except WorkerTimedOut:
                message = f"Task timed out after {function.timeout_s:.2f} seconds"
                answer = {"error": {"errorType": "Sandbox.Timedout", "errorMessage": message, "stackTrace": []}}
            except WorkerCrashed as error:
                answer = {"error": {"errorType": "Runtime.ExitError", "errorMessage": str(error), "stackTrace": []}}
            finally:
                pool.release(worker, healthy=healthy)
            duration = time.monotonic() - started
        if "error" in answer:
            failure = answer["error"]
            outcome = self._error_outcome(
                call, str(failure["errorType"]), str(failure["errorMessage"]), tuple(failure.get("stackTrace") or ())
            )
        else:
            outcome = Outcome(payload=answer["payload"], result=json.loads(answer["payload"]))
        return self._record(call, duration, outcome, worker=worker.pid)

    def invoke_event(self, fn: LambdaFunction, event: Any, source: str) -> None:
        """Queue an asynchronous invocation (InvocationType=Event)."""
        self.async_events.submit(fn, event, source)

    def deliver_stream(self, backend: LambdaBackend, function_arn: str, items: list[Any], source_arn: str) -> str:
        """Queue new stream records for the mapping's poller."""
        return self.streams.deliver(backend, function_arn, items, source_arn)

    def deliver_sns(
        self, subscription: Subscription, message: str, message_id: str, subject: str | None, attributes: Any
    ) -> None:
        """Queue one SNS notification as an asynchronous invocation."""
        self.async_events.deliver_sns(subscription, message, message_id, subject, attributes)

    # -- bookkeeping ----------------------------------------------------------------------------

    @contextmanager
    def _work(self) -> Iterator[None]:
        self.work_started(1)
        try:
            yield
        finally:
            self.work_finished(1)

    def work_started(self, count: int) -> None:
        """Count work queued or running (stream records, async events, invocations)."""
        with self._lock:
            self._pending += count
        moto_patches.WINDOWS.acquire(count)  # no acknowledgement window runs out while work is in flight

    def work_finished(self, count: int) -> None:
        """The counterpart of work_started."""
        with self._lock:
            self._pending -= count
            self._settled.notify_all()
        moto_patches.WINDOWS.release(count)

    def pending(self) -> int:
        """Stream records, async events and invocations queued or running right now."""
        with self._lock:
            return self._pending

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or running; False if that did not happen in time."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._settled.wait(remaining)
        return True

    def record_batch(self, record: StreamBatchRecord) -> None:
        """Keep what happened to one stream batch."""
        with self._lock:
            self.stream_batches.append(record)

    def record_failure(self, function_name: str, source: str, error: BaseException, error_type: str) -> None:
        """Keep a failure that is not a handler's (a missing function, a sandbox fault)."""
        call = _Call(function_name=function_name, source=source, request_id=str(uuid.uuid4()), started=utcnow())
        stack = tuple(traceback.format_tb(error.__traceback__))
        self._record(call, 0.0, self._error_outcome(call, error_type, f"{type(error).__name__}: {error}", stack))

    def _error_outcome(self, call: _Call, error_type: str, message: str, stack: tuple[str, ...] = ()) -> Outcome:
        error = HandlerError(
            function_name=call.function_name,
            source=call.source,
            error_type=error_type,
            error_message=message,
            stack_trace=stack,
            request_id=call.request_id,
            at=utcnow(),
        )
        with self._lock:
            self.errors.append(error)
        payload = {"errorMessage": message, "errorType": error_type, "requestId": call.request_id, "stackTrace": list(stack)}
        return Outcome(payload=json.dumps(payload), error=error)

    def _record(self, call: _Call, duration: float, outcome: Outcome, *, worker: int = 0) -> Outcome:
        record = InvocationRecord(
            function_name=call.function_name,
            source=call.source,
            request_id=call.request_id,
            started=call.started,
            duration_s=duration,
            error_type=outcome.error.error_type if outcome.error else None,
            result=outcome.result,
            worker=worker,
        )
        with self._lock:
            self.invocations.append(record)
        return outcome

    def require(self, function_name: str) -> LocalFunction:
        """The registered function, or SandboxError."""
        function = self._functions.get(function_name)
        if function is None:
            raise SandboxError(f"no local handler registered for Lambda function {function_name!r}")
        return function
