"""Worker processes per function ('warm containers') and the bound on how many run at once.

A ``FunctionPool`` holds up to ``max_workers`` processes of one function. An invocation takes an
idle one (the most recently used first, as Lambda reuses warm containers), starts a new one
(a cold start) while the pool is below its bound, or waits for one to come free. Each process
serves one invocation at a time, so a function runs at most ``max_workers`` events concurrently
and two functions never share a process, a module or an environment variable.

A process that outlives the function's timeout is killed and the invocation fails with
``Sandbox.Timedout``, as on Lambda; the next invocation gets a fresh process.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..records import LocalFunction, SandboxError

WORKER_PROGRAM = Path(__file__).resolve().parent / "worker.py"
INIT_TIMEOUT_S = 60.0  # Lambda allows 10 s; a busy two-core machine importing boto3 needs more


class WorkerCrashed(Exception):
    """The worker process died or broke the protocol."""


class WorkerTimedOut(Exception):
    """The invocation did not finish within the function's timeout; the process was killed."""


class Worker:
    """One process running one function's handler."""

    def __init__(self, function: LocalFunction, environment: Mapping[str, str]) -> None:
        self.function = function
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and program
            [sys.executable, str(WORKER_PROGRAM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(environment),
            cwd=function.code_dir,
            text=True,
            encoding="utf-8",
        )
        self.pid = self.process.pid
        self._ready = False

    def _stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    def _stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def _read(self, timeout_s: float) -> dict[str, Any]:
        readable, _, _ = select.select([self._stdout()], [], [], max(timeout_s, 0.0))
        if not readable:
            raise TimeoutError
        line = self._stdout().readline()
        if not line:
            raise WorkerCrashed(f"worker process {self.pid} exited with code {self.process.wait()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def wait_ready(self, timeout_s: float = INIT_TIMEOUT_S) -> None:
        """Wait for the init phase (imports) to finish."""
        if self._ready:
            return
        try:
            self._read(timeout_s)
        except TimeoutError:
            self.kill()
            raise WorkerCrashed(f"worker process {self.pid} did not finish its init in {timeout_s:g} s") from None
        self._ready = True

    def invoke(self, request: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one event and wait for the answer; kill the process after timeout_s."""
        self.wait_ready()
        try:
            self._stdin().write(json.dumps(request) + "\n")
            self._stdin().flush()
        except (BrokenPipeError, OSError) as error:
            raise WorkerCrashed(f"worker process {self.pid} is gone: {error}") from error
        try:
            return self._read(timeout_s)
        except TimeoutError:
            self.kill()
            raise WorkerTimedOut from None

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def kill(self) -> None:
        """Stop the process (closing stdin ends it; kill if it does not go)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self._stdin().close()
            try:
                self.process.wait(0.5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class FunctionPool:
    """At most max_workers worker processes of one function; invocations wait for a free one."""

    def __init__(self, name: str, function: LocalFunction, environment: Mapping[str, str], max_workers: int) -> None:
        if max_workers < 1:
            raise SandboxError(f"{name}: max_workers must be 1 or more")
        self.name = name
        self.function = function
        self.environment = dict(environment)
        self.max_workers = max_workers
        self._idle: list[Worker] = []
        self._live = 0
        self._closed = False
        self._condition = threading.Condition()
        self.cold_starts = 0

    def _start(self) -> Worker:
        worker = Worker(self.function, {**self.environment, "AWS_LAMBDA_LOG_STREAM_NAME": _log_stream()})
        with self._condition:
            self.cold_starts += 1
        return worker

    def prewarm(self, count: int = 1) -> None:
        """Start count processes now (their init phases overlap) and keep them idle."""
        with self._condition:
            count = min(count, self.max_workers - self._live)
            self._live += max(count, 0)
        started = [self._start() for _ in range(max(count, 0))]
        for worker in started:
            try:
                worker.wait_ready()
            except WorkerCrashed:
                self.release(worker, healthy=False)
                raise
            self.release(worker, healthy=True)

    def acquire(self, timeout_s: float) -> Worker:
        """An idle worker, a new one, or the first to come free within timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                if self._closed:
                    raise SandboxError(f"{self.name}: the runtime was stopped")
                if self._idle:
                    return self._idle.pop()
                if self._live < self.max_workers:
                    self._live += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._condition.wait(remaining):
                    raise TimeoutError(f"{self.name}: no worker came free in {timeout_s:g} s")
        try:
            return self._start()
        except BaseException:
            with self._condition:
                self._live -= 1
                self._condition.notify()
            raise

    def release(self, worker: Worker, *, healthy: bool) -> None:
        """Give a worker back after an invocation; unhealthy ones are stopped."""
        with self._condition:
            keep = healthy and not self._closed and worker.alive()
            if keep:
                self._idle.append(worker)
            else:
                self._live -= 1
            self._condition.notify()
        if not keep:
            worker.kill()

    def close(self) -> None:
        """Stop every idle worker now; busy ones are stopped when released."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.kill()

    def reset(self) -> None:
        """Stop the idle workers, so the next invocation is a cold start."""
        with self._condition:
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.kill()


def _log_stream() -> str:
    return time.strftime("%Y/%m/%d") + f"/[$LATEST]{os.urandom(16).hex()}"
