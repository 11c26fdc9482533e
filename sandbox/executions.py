"""Step Functions on moto: wait for executions, stop them cleanly, read what they did.

``MOTO_CONFIG`` is the ``mock_aws(config=...)`` the sandbox is built for (functions run locally,
state machines execute). ``wait_for_executions`` raises after a time limit, never hangs;
``drain_executions`` (call before leaving ``mock_aws``) stops running executions and wakes their
task-token waits, which moto's StopExecution leaves blocked until TimeoutSeconds;
``states_entered`` lists the states an execution entered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import boto3
from moto.core.config import DefaultConfig
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import get_backend as get_sfn_backend

MOTO_CONFIG: Final[DefaultConfig] = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}
"""The ``mock_aws(config=...)`` the sandbox is built for."""

TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


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
            if arn not in stopped and _stop_execution(sfn, arn):
                stopped.append(arn)
        _interrupt_task_token_waits(set(running), sfn.meta.region_name)
        time.sleep(0.05)
    for thread in list(TMP_THREADS):
        if thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise ExecutionsStillRunning(f"Step Functions worker thread {thread.name} did not finish")
    return stopped


def _stop_execution(sfn: Any, arn: str) -> bool:
    """Stop one execution; False when moto cannot yet (started a moment ago: the caller tries again)."""
    try:
        sfn.stop_execution(executionArn=arn, error="Sandbox.Drained")
    except AttributeError:  # moto sets up an execution's environment on its own thread, after StartExecution returns
        return False
    return True


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
