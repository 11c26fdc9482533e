"""Asynchronous invocations: SNS -> Lambda deliveries and ``InvocationType=Event`` calls.

Each is queued and the caller returns at once (``Publish`` returns before the handler runs, as on
AWS). Queued events of one function run on as many threads as the function has worker
processes, so they run concurrently and in no guaranteed order. A failed event is retried per the
function's EventInvokeConfig ``MaximumRetryAttempts`` (else ``async_retry_attempts``) after
``async_retry_delays_s`` (1 and 2 seconds, where AWS waits about 1 and 2 minutes: long enough for
an invocation still in progress to finish first), then its invocation record goes to the
OnFailure destination.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.sns.models import Subscription

from ..records import Outcome, function_name_from_arn, iso_ms, utcnow
from .destinations import send_to

if TYPE_CHECKING:
    from ..runtime.lambda_runtime import FunctionRuntime


class AsyncInvoker:
    """Lambda's async event queue, one executor per function."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._stopping = threading.Event()

    def submit(self, fn: LambdaFunction, event: Any, source: str) -> None:
        """Queue one event for fn; return at once."""
        with self._lock:
            if self._stopped:
                return
            executor = self._executors.get(fn.function_name)
            if executor is None:
                workers = self.runtime.concurrency(fn.function_name)
                executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sandbox-async-{fn.function_name}")
                self._executors[fn.function_name] = executor
            self.runtime.work_started(1)
            executor.submit(self._run, fn, event, source)

    def _run(self, fn: LambdaFunction, event: Any, source: str) -> None:
        try:
            self.invoke_with_retries(fn, event, source)
        except Exception as error:  # a sandbox fault: recorded, never lost in a thread
            self.runtime.record_failure(fn.function_name, source, error, "Sandbox.AsyncInvokeError")
        finally:
            self.runtime.work_finished(1)

    def invoke_with_retries(self, fn: LambdaFunction, event: Any, source: str) -> Outcome:
        """Invoke; retry per the event invoke config; then send the record to the OnFailure destination."""
        config = fn.event_invoke_config[-1].config if fn.event_invoke_config else {}
        retries = int(config.get("MaximumRetryAttempts", self.runtime.async_retry_attempts))
        outcome = self.runtime.invoke(fn, event, source)
        attempts = 1
        while outcome.error is not None and attempts <= retries and not self._stopped:
            if outcome.error.error_type.startswith("Sandbox.Handler"):
                break
            delays = self.runtime.async_retry_delays_s
            if delays and self._stopping.wait(delays[min(attempts - 1, len(delays) - 1)]):
                break
            outcome = self.runtime.invoke(fn, event, f"{source}-retry")
            attempts += 1
        destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if outcome.error is not None and destination and not self._stopped:
            record = {
                "version": "1.0",
                "timestamp": iso_ms(utcnow()),
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
            send_to(destination, json.dumps(record, default=str))
        return outcome

    def deliver_sns(
        self,
        subscription: Subscription,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: Mapping[str, Any] | None,
    ) -> None:
        """Queue one SNS notification to a lambda-protocol subscription, as the event AWS sends."""
        name, qualifier = function_name_from_arn(subscription.endpoint)
        region = subscription.endpoint.split(":")[3]
        try:
            fn = get_lambda_backend(subscription.account_id, region).get_function(name, qualifier)
        except Exception as error:  # SNS drops deliveries to missing functions; keep a trace of it
            self.runtime.record_failure(name, "sns", error, "Sandbox.FunctionNotFound")
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
                        "Timestamp": iso_ms(utcnow()),
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
        self.submit(fn, event, "sns")

    def stop(self) -> None:
        """Run nothing more that is queued."""
        self._stopping.set()
        with self._lock:
            self._stopped = True
            executors = list(self._executors.values())
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)
