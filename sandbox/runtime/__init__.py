"""Lambda, locally: worker processes per function, reached by moto through its replaced seams.

``lambda_runtime.LocalLambdaRuntime`` routes invocations; ``pool`` holds each function's worker
processes (``worker.py`` is the program each runs); ``endpoint.LocalEndpoint`` is the local HTTP
endpoint the workers call (moto in server mode plus the SMS gateway); ``records`` holds the data
types.
"""

from ..records import HandlerError, InvocationRecord, LocalFunction, Outcome, SandboxError, StreamBatchRecord
from .endpoint import LocalEndpoint
from .lambda_runtime import DEFAULT_MAX_WORKERS, LocalLambdaRuntime

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "HandlerError",
    "InvocationRecord",
    "LocalEndpoint",
    "LocalFunction",
    "LocalLambdaRuntime",
    "Outcome",
    "SandboxError",
    "StreamBatchRecord",
]
