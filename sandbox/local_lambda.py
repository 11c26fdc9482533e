"""Lambda, locally and whole: the function runtime, the event sources that feed it, installed into moto.

``LocalLambdaRuntime(endpoint_url=...)`` is ``sandbox.runtime.FunctionRuntime`` (worker processes per
function) with ``sandbox.event_sources`` (stream pollers, the async-invoke queue) attached; ``install()``
replaces moto's seams (``sandbox.moto_patches``) so that every invocation, stream record and SNS delivery
moto makes reaches it. Only one may be installed at a time.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.sns.models import Subscription

from . import moto_patches
from .event_sources.async_invoke import AsyncInvoker
from .event_sources.streams import StreamDelivery
from .runtime.lambda_runtime import FunctionRuntime


class LocalLambdaRuntime(FunctionRuntime):
    """Runs moto's Lambda invocations in per-function worker processes; only one may be installed."""

    streams: StreamDelivery
    async_events: AsyncInvoker

    def _start_sources(self) -> None:
        self.streams = StreamDelivery(self)
        self.async_events = AsyncInvoker(self)

    # -- installation -------------------------------------------------------------------------

    def install(self) -> LocalLambdaRuntime:
        """Replace moto's seams so that every Lambda invocation reaches this runtime."""
        moto_patches.install(self)
        return self

    def uninstall(self) -> None:
        """Stop delivering, stop every worker, put moto back; safe to call twice."""
        self.streams.stop()
        self.async_events.stop()
        self.close()
        moto_patches.uninstall(self)

    def __enter__(self) -> LocalLambdaRuntime:
        """Install on entering a with block."""
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        """Uninstall on leaving a with block."""
        self.uninstall()

    # -- what the replaced moto methods call besides invoke ---------------------------------------

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
