"""Every moto 5.2.5 method the sandbox replaces at run time, in one place.

moto without Docker never runs function code: ``lambda.invoke`` answers with the request body and
DynamoDB-stream / SNS deliveries try Docker and fail. ``install(target)`` replaces five seams;
``tests/sandbox/test_moto_internals.py`` checks each one's signature and the source lines the
replacement relies on, so a moto upgrade fails there first:

* ``moto.awslambda.models.LambdaFunction.invoke``: every invocation path ends here (Step Functions
  ``lambda:invoke`` tasks, ``lambda.invoke``, ``InvokeAsync``). RequestResponse calls run the
  handler in a worker process and wait; ``Event`` calls are queued and return at once.
* ``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``: the no-Docker backend answers
  without calling the function; the replacement restores the base ``LambdaBackend.invoke``.
* ``moto.awslambda.models.LambdaBackend.send_dynamodb_items``: called synchronously inside every
  write to a table with a stream; the replacement hands the new records to the mapping's poller
  and returns, so the write returns before the handler runs, as on AWS.
* ``moto.sns.models.Subscription.publish`` (lambda protocol only): moto sends a canned event with
  a fake topic ARN and message id; the replacement queues the real event as an asynchronous
  invoke, so ``Publish`` returns before the handler runs.
* ``moto.core.botocore_stubber.BotocoreStubber.process_request``: in-process calls to moto (the
  sandbox's own threads, Step Functions' executions) take the same API lock as calls over HTTP
  (see ``sandbox.runtime.endpoint``): each moto call is atomic, as a DynamoDB conditional write is
  on AWS, while handlers run concurrently between their calls. Lambda invocations do not take it.
* The two waits that end a task at its ``TimeoutSeconds`` (an acknowledgement window):
  ``threading`` as seen by ``moto...state.exec.execute_state`` (whose only use is the
  ``threading.Event()`` a state's timeout waits on) and ``CallbackEndpoint.wait`` (the
  ``waitForTaskToken`` wait). Both go through ``WINDOWS`` (``sandbox.windows``): a timeout whose time is up still waits
  while a scenario holds the windows open (a scripted reply on its way, see ``WindowHolds``), so a
  scenario's verdict never depends on how fast the machine is. Outside scenarios only the
  runtime's work in flight holds them: in ``make sandbox`` a window runs out once nothing runs.

``cloudformation_resource_classes(override)`` replaces a sixth, only while ``sandbox.deploy``
creates a stack: ``moto.cloudformation.parsing.resource_class_from_type``, so that the resource
types moto's CloudFormation skips or gets wrong are created by the deployer's own classes (``sandbox.cfn_compensations``).

Handler exceptions become Lambda function errors as on AWS: ``X-Amz-Function-Error: Unhandled``
and a payload ``{"errorType": <exception class name>, "errorMessage": ..., "stackTrace": ...}``,
which Step Functions turns into a task failure whose error is that class name.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, Protocol

from botocore.awsrequest import AWSPreparedRequest
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudformation import parsing as cfn_parsing
from moto.core.botocore_stubber import BotocoreStubber
from moto.sns.models import Subscription
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackOutcome

from .records import Outcome, SandboxError
from .windows import WINDOWS, ThreadingForTimeouts

API_LOCK: Final = threading.RLock()
"""Held while moto handles one API call (not a Lambda invocation), in-process or over HTTP."""


class Target(Protocol):
    """What the replaced methods hand their work to (the installed LocalLambdaRuntime)."""

    def invoke(self, fn: LambdaFunction, event: Any, source: str) -> Outcome:
        """Run the handler now and return its outcome."""

    def invoke_event(self, fn: LambdaFunction, event: Any, source: str) -> None:
        """Queue an asynchronous invocation."""

    def deliver_stream(self, backend: LambdaBackend, function_arn: str, items: list[Any], source_arn: str) -> str:
        """Hand new stream records to the mapping's poller."""

    def deliver_sns(
        self, subscription: Subscription, message: str, message_id: str, subject: str | None, attributes: Any
    ) -> None:
        """Queue one SNS notification for a lambda-protocol subscription."""


class _Installed:
    target: Target | None = None
    originals: dict[str, Any] = {}


def installed() -> Target:
    """The target the replaced methods call."""
    target = _Installed.target
    if target is None:
        raise SandboxError("no LocalLambdaRuntime installed")
    return target


def install(target: Target) -> None:
    """Replace the seams; only one target at a time."""
    with API_LOCK:
        if _Installed.target is not None:
            raise SandboxError("another LocalLambdaRuntime is already installed")
        _Installed.originals = {
            "LambdaFunction.invoke": LambdaFunction.invoke,
            "LambdaSimpleBackend.invoke": LambdaSimpleBackend.invoke,
            "LambdaBackend.send_dynamodb_items": LambdaBackend.send_dynamodb_items,
            "Subscription.publish": Subscription.publish,
            "BotocoreStubber.process_request": BotocoreStubber.process_request,
            "execute_state.threading": vars(execute_state)["threading"],
            "CallbackEndpoint.wait": CallbackEndpoint.wait,
        }
        _Installed.target = target
        WINDOWS.reset()
        LambdaFunction.invoke = _function_invoke  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = _simple_invoke  # type: ignore[method-assign]
        LambdaBackend.send_dynamodb_items = _send_dynamodb_items  # type: ignore[method-assign]
        Subscription.publish = _subscription_publish  # type: ignore[method-assign]
        BotocoreStubber.process_request = _process_request  # type: ignore[method-assign]
        vars(execute_state)["threading"] = ThreadingForTimeouts
        CallbackEndpoint.wait = _callback_wait  # type: ignore[method-assign]


def uninstall(target: Target) -> None:
    """Put moto back as it was; safe to call twice."""
    with API_LOCK:
        if _Installed.target is not target:
            return
        originals = _Installed.originals
        LambdaFunction.invoke = originals["LambdaFunction.invoke"]  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = originals["LambdaSimpleBackend.invoke"]  # type: ignore[method-assign]
        LambdaBackend.send_dynamodb_items = originals["LambdaBackend.send_dynamodb_items"]  # type: ignore[method-assign]
        Subscription.publish = originals["Subscription.publish"]  # type: ignore[method-assign]
        BotocoreStubber.process_request = originals["BotocoreStubber.process_request"]  # type: ignore[method-assign]
        vars(execute_state)["threading"] = originals["execute_state.threading"]
        CallbackEndpoint.wait = originals["CallbackEndpoint.wait"]  # type: ignore[method-assign]
        WINDOWS.reset()
        _Installed.target = None


@contextmanager
def cloudformation_resource_classes(override: Callable[[str], Any]) -> Iterator[None]:
    """While active, moto's CloudFormation creates a resource type with override(type) unless it is None."""
    original = cfn_parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        replacement = override(resource_type)
        return replacement if replacement is not None else original(resource_type)

    cfn_parsing.resource_class_from_type = resource_class_from_type
    try:
        yield
    finally:
        cfn_parsing.resource_class_from_type = original


def is_lambda_call(url: str, authorization: str | None) -> bool:
    """Whether a request is a Lambda API call (those never hold the API lock: handlers call moto)."""
    if authorization and "/lambda/aws4_request" in authorization:
        return True
    return "://lambda." in url


# -- the replacements (module-level so they can be compared and restored) -----------------------


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup on whatever mapping moto passes around."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _function_invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
    """LambdaFunction.invoke: run the local handler instead of Docker."""
    target = installed()
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = json.loads(body) if body else {}
    invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "Event":
        target.invoke_event(self, event, "invoke-async")
        return ""
    if invocation_type == "DryRun":
        return ""
    outcome = target.invoke(self, event, "invoke")
    if outcome.error is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    response_headers["x-amz-log-result"] = base64.b64encode(b"logs are not captured by the sandbox\n").decode()
    return outcome.payload


def _simple_invoke(  # noqa: PLR0917 - moto's signature
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    """LambdaSimpleBackend.invoke: go through the function like the Docker backend."""
    return LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)


def _send_dynamodb_items(self: LambdaBackend, function_arn: str, items: list[Any], source: str) -> str:
    """LambdaBackend.send_dynamodb_items: queue the records for the event source mapping's poller."""
    return installed().deliver_stream(self, function_arn, items, source)


def _subscription_publish(  # noqa: PLR0917 - moto's signature
    self: Subscription,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> None:
    """Subscription.publish: the real event, queued, for lambda endpoints; moto's code otherwise."""
    if self.protocol != "lambda":
        _Installed.originals["Subscription.publish"](
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
    installed().deliver_sns(self, message, message_id, subject, message_attributes)


def _process_request(self: BotocoreStubber, request: AWSPreparedRequest) -> Any:
    """BotocoreStubber.process_request: one in-process moto call at a time, Lambda invocations excepted."""
    original = _Installed.originals["BotocoreStubber.process_request"]
    if is_lambda_call(str(request.url), str(request.headers.get("Authorization") or "")):
        return original(self, request)
    with API_LOCK:
        return original(self, request)


def _callback_wait(self: CallbackEndpoint, timeout: float | None = None) -> CallbackOutcome | None:
    """CallbackEndpoint.wait: the waitForTaskToken wait, its timeout held by WINDOWS."""
    WINDOWS.wait(self._notify_event, timeout)
    return self.get_outcome()
