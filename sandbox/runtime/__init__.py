"""Lambda, locally: worker processes per function, reached by moto through its replaced seams.

``lambda_runtime.FunctionRuntime`` routes invocations; ``pool`` holds each function's worker
processes (``worker.py`` is the program each runs, ``environment`` what it sees); ``ledger`` keeps
what happened; ``endpoint.LocalEndpoint`` is the local HTTP endpoint the workers call (moto in server
mode plus the SMS gateway); ``sandbox.records`` holds the data types. The event sources
(``sandbox.event_sources``) call this package, never the reverse; ``sandbox.local_lambda`` puts the two
together.
"""

from ..records import HandlerError, InvocationRecord, LocalFunction, Outcome, SandboxError, StreamBatchRecord
from .endpoint import LocalEndpoint
from .lambda_runtime import DEFAULT_MAX_WORKERS, FunctionRuntime

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "FunctionRuntime",
    "HandlerError",
    "InvocationRecord",
    "LocalEndpoint",
    "LocalFunction",
    "Outcome",
    "SandboxError",
    "StreamBatchRecord",
]
