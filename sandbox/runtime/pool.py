"""Worker processes per function ('warm containers') and the bound on how many run at once.

A ``FunctionPool`` holds up to ``max_workers`` processes of one function. An invocation takes an
idle one (the most recently used first, as Lambda reuses warm containers), starts a new one
(a cold start) while the pool is below its bound, or waits for one to come free. Each process
serves one invocation at a time, so a function runs at most ``max_workers`` events concurrently
and two functions never share a process, a module or an environment variable.

Processes are forked by one ``Zygote`` per runtime (see ``worker.py``), which has imported boto3
once, so a cold start costs the function's own imports, not the SDK's. A process that outlives
the function's timeout is killed and the invocation fails with ``Sandbox.Timedout``, as on
Lambda; the next invocation gets a fresh process.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..records import LocalFunction, SandboxError

WORKER_PROGRAM = Path(__file__).resolve().parent / "worker.py"
INIT_TIMEOUT_S = 60.0  # Lambda allows 10 s; a busy two-core machine needs more
_POLL_S = 0.5  # how often a wait checks that the process is still alive


class WorkerCrashed(Exception):
    """The worker process died or broke the protocol."""


class WorkerTimedOut(Exception):
    """The invocation did not finish within the function's timeout; the process was killed."""


def _read_line(stream: IO[str], timeout_s: float, alive: Any) -> dict[str, Any]:
    """One JSON line from stream within timeout_s; WorkerCrashed if alive() turns false first."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        readable, _, _ = select.select([stream], [], [], min(remaining, _POLL_S))
        if readable:
            line = stream.readline()
            if not line:
                raise WorkerCrashed("the process closed its answers")
            message: dict[str, Any] = json.loads(line)
            return message
        if not alive():
            raise WorkerCrashed("the process exited")


class Zygote:
    """The process that forks workers (started once per runtime)."""

    def __init__(self, environment: Mapping[str, str], preload_modules: Sequence[str]) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="sandbox-workers-"))
        self._lock = threading.Lock()
        self._count = 0
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and program
            [sys.executable, str(WORKER_PROGRAM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**environment, "_SANDBOX_PRELOAD_MODULES": ",".join(preload_modules)},
            text=True,
            encoding="utf-8",
        )
        assert self.process.stdout is not None
        try:
            _read_line(self.process.stdout, INIT_TIMEOUT_S, lambda: self.process.poll() is None)
        except (TimeoutError, WorkerCrashed) as error:
            self.close()
            raise WorkerCrashed(f"the worker zygote did not start: {error!r}") from None

    def spawn(self, environment: Mapping[str, str], cwd: Path) -> tuple[int, IO[str], IO[str]]:
        """Fork a worker with this environment; (pid, requests pipe, answers pipe)."""
        with self._lock:
            self._count += 1
            requests = self._directory / f"{self._count}.requests"
            responses = self._directory / f"{self._count}.responses"
            os.mkfifo(requests)
            os.mkfifo(responses)
            command = {"env": dict(environment), "cwd": str(cwd), "requests": str(requests), "responses": str(responses)}
            assert self.process.stdin is not None and self.process.stdout is not None
            try:
                self.process.stdin.write(json.dumps(command) + "\n")
                self.process.stdin.flush()
                answer = _read_line(self.process.stdout, INIT_TIMEOUT_S, lambda: self.process.poll() is None)
            except (OSError, TimeoutError, WorkerCrashed) as error:
                raise WorkerCrashed(f"the worker zygote did not fork: {error!r}") from None
        # read-write opens never block on a named pipe, whoever opens first
        request_pipe = os.fdopen(os.open(requests, os.O_RDWR), "w", encoding="utf-8")
        response_pipe = os.fdopen(os.open(responses, os.O_RDWR), "r", encoding="utf-8")
        return int(answer["pid"]), request_pipe, response_pipe

    def close(self) -> None:
        """Stop forking (workers already forked live on until their pipes close)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                if self.process.stdin is not None:
                    self.process.stdin.close()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            with contextlib.suppress(OSError):
                self.process.stdout.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class Worker:
    """One process running one function's handler."""

    def __init__(self, zygote: Zygote, function: LocalFunction, environment: Mapping[str, str]) -> None:
        self.function = function
        self.pid, self._requests, self._responses = zygote.spawn(environment, function.code_dir)
        self._ready = False
        self._dead = False

    def _read(self, timeout_s: float) -> dict[str, Any]:
        try:
            return _read_line(self._responses, timeout_s, self.alive)
        except WorkerCrashed as error:
            raise WorkerCrashed(f"worker process {self.pid}: {error}") from None

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
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
        except OSError as error:
            raise WorkerCrashed(f"worker process {self.pid} is gone: {error}") from error
        try:
            return self._read(timeout_s)
        except TimeoutError:
            self.kill()
            raise WorkerTimedOut from None

    def alive(self) -> bool:
        """Whether the process is still running."""
        if self._dead:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self._dead = True
        except PermissionError:  # pragma: no cover - the pid was reused by someone else's process
            self._dead = True
        return not self._dead

    def terminate(self) -> None:
        """Stop the process now; the thread waiting for its answer sees it gone (and releases it, closing its pipes)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._dead = True

    def kill(self) -> None:
        """Stop the process and close its pipes."""
        self.terminate()
        for stream in (self._requests, self._responses):
            with contextlib.suppress(OSError):
                stream.close()


class FunctionPool:
    """At most max_workers worker processes of one function; invocations wait for a free one."""

    def __init__(self, name: str, function: LocalFunction, environment: Mapping[str, str], max_workers: int, zygote: Any) -> None:
        """zygote: a callable returning the runtime's Zygote (started on first use)."""
        if max_workers < 1:
            raise SandboxError(f"{name}: max_workers must be 1 or more")
        self.name = name
        self.function = function
        self.environment = dict(environment)
        self.max_workers = max_workers
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()  # handed out by acquire, not released yet
        self._live = 0
        self._closed = False
        self._condition = threading.Condition()
        self.cold_starts = 0
        self._zygote = zygote

    def _start(self) -> Worker:
        worker = Worker(self._zygote(), self.function, {**self.environment, "AWS_LAMBDA_LOG_STREAM_NAME": _log_stream()})
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
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                if self._live < self.max_workers:
                    self._live += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._condition.wait(remaining):
                    raise TimeoutError(f"{self.name}: no worker came free in {timeout_s:g} s")
        try:
            started = self._start()
        except BaseException:
            with self._condition:
                self._live -= 1
                self._condition.notify()
            raise
        with self._condition:
            self._busy.add(started)
        return started

    def release(self, worker: Worker, *, healthy: bool) -> None:
        """Give a worker back after an invocation; unhealthy ones are stopped."""
        with self._condition:
            self._busy.discard(worker)
            keep = healthy and not self._closed and worker.alive()
            if keep:
                self._idle.append(worker)
            else:
                self._live -= 1
            self._condition.notify()
        if not keep:
            worker.kill()

    def close(self) -> None:
        """Stop every worker now, busy ones too: a handler asleep for minutes must not hold the stop (it ends crashed)."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._live -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.kill()
        for worker in busy:
            worker.terminate()

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
