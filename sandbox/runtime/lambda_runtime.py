"""Route every Lambda invocation moto makes to the function's own worker processes.

``FunctionRuntime(endpoint_url=...)`` maps deployed functions to their code
(``register_all(deployed.functions)``). Each function gets a ``FunctionPool`` of worker processes
(``sandbox.runtime.pool``): its own interpreter, modules and environment (``sandbox.runtime.environment``:
the function's variables, the ``AWS_LAMBDA_*`` ones, placeholder credentials and ``AWS_ENDPOINT_URL`` set to
the sandbox's local endpoint, through which handlers reach moto and the SMS gateway), at most
``max_workers`` at a time. Nothing is serialised across functions or invocations: handlers race
as they do on Lambda, and each moto API call is atomic (``sandbox.moto_patches.API_LOCK``).

Synchronous invocations (Step Functions tasks, ``lambda.invoke``) wait for a free worker;
asynchronous ones (SNS, ``InvocationType=Event``) and stream batches are queued by
``sandbox.event_sources``, which call this runtime, and run on their own threads
(``sandbox.local_lambda.LocalLambdaRuntime`` puts the two together and installs them into moto).
``pending()`` counts the work queued or running, so a caller can wait for the system to settle. Every
invocation is kept in ``invocations``, every failure in ``errors``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from moto.awslambda.models import LambdaFunction

from ..records import (
    LocalFunction,
    Outcome,
    SandboxError,
    StreamBatchRecord,
    function_name_from_arn,
)
from ..windows import WINDOWS
from .environment import PRELOAD_MODULES, inherited_environment, worker_environment
from .ledger import Call, Ledger
from .pool import FunctionPool, WorkerCrashed, WorkerTimedOut, Zygote

DEFAULT_MAX_WORKERS: Final = 2
"""Worker processes per function: enough for races, few enough for a two-core machine."""
_NO_TIMEOUT_S: Final = 900.0  # Lambda's maximum


class FunctionRuntime:
    """Runs Lambda invocations in per-function worker processes (what the event sources and moto's seams call)."""

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
        self.ledger = Ledger()
        self.errors, self.invocations, self.stream_batches = (
            self.ledger.errors,
            self.ledger.invocations,
            self.ledger.stream_batches,
        )
        self._functions: dict[str, LocalFunction] = {}
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._start_sources()
        self.register_all(functions or {})

    def _start_sources(self) -> None:
        """Create what feeds this runtime, before any function is registered (see sandbox.local_lambda)."""

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
        return worker_environment(name, function, endpoint_url=self.endpoint_url, region_name=self.region_name)

    def _forker(self) -> Zygote:
        """The process that forks this runtime's workers (started on first use)."""
        with self._zygote_lock:
            if self._zygote is None:
                self._zygote = Zygote(inherited_environment(), PRELOAD_MODULES)
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

    def close(self) -> None:
        """Stop every worker and the zygote; safe to call twice."""
        for pool in list(self._pools.values()):
            pool.close()
        with self._zygote_lock:
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None

    # -- invocations ----------------------------------------------------------------------------

    def invoke(self, fn: LambdaFunction, event: Any, source: str) -> Outcome:
        """Run fn's handler on one of its workers and wait; never raises for handler errors."""
        call = Call.start(fn.function_name, source)
        pool = self._pools.get(fn.function_name)
        function = self._functions.get(fn.function_name)
        if pool is None or function is None:
            message = f"no local handler registered for {fn.function_name} ({fn.run_time}, {fn.handler})"
            return self.ledger.record(call, 0.0, self.ledger.error_outcome(call, "Sandbox.HandlerNotRegistered", message))
        with self._work():
            try:
                worker = pool.acquire(self.capacity_wait_s)
            except (TimeoutError, SandboxError, WorkerCrashed) as error:
                return self.ledger.record(call, 0.0, self.ledger.error_outcome(call, "Sandbox.NoWorker", str(error)))
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
            outcome = self.ledger.error_outcome(
                call, str(failure["errorType"]), str(failure["errorMessage"]), tuple(failure.get("stackTrace") or ())
            )
        else:
            outcome = Outcome(payload=answer["payload"], result=json.loads(answer["payload"]))
        return self.ledger.record(call, duration, outcome, worker=worker.pid)

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
        WINDOWS.acquire(count)  # no acknowledgement window runs out while work is in flight

    def work_finished(self, count: int) -> None:
        """The counterpart of work_started."""
        with self._lock:
            self._pending -= count
            self._settled.notify_all()
        WINDOWS.release(count)

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
        self.ledger.record_batch(record)

    def record_failure(self, function_name: str, source: str, error: BaseException, error_type: str) -> None:
        """Keep a failure that is not a handler's (a missing function, a sandbox fault)."""
        stack = tuple(traceback.format_tb(error.__traceback__))
        self.ledger.error_outcome(Call.start(function_name, source), error_type, f"{type(error).__name__}: {error}", stack)

    def require(self, function_name: str) -> LocalFunction:
        """The registered function, or SandboxError."""
        function = self._functions.get(function_name)
        if function is None:
            raise SandboxError(f"no local handler registered for Lambda function {function_name!r}")
        return function
