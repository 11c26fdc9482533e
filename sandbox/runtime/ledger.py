"""What the runtime keeps about its work: every invocation, every failure, every stream batch."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from ..records import HandlerError, InvocationRecord, Outcome, StreamBatchRecord, utcnow


@dataclass(frozen=True)
class Call:
    """Identity of one invocation, for records and error payloads."""

    function_name: str
    source: str
    request_id: str
    started: Any

    @classmethod
    def start(cls, function_name: str, source: str) -> Call:
        """A new invocation starting now."""
        return cls(function_name=function_name, source=source, request_id=str(uuid.uuid4()), started=utcnow())


class Ledger:
    """The records; appended from any thread."""

    def __init__(self) -> None:
        """An empty ledger."""
        self.errors: list[HandlerError] = []
        self.invocations: list[InvocationRecord] = []
        self.stream_batches: list[StreamBatchRecord] = []
        self._lock = threading.Lock()

    def error_outcome(self, call: Call, error_type: str, message: str, stack: tuple[str, ...] = ()) -> Outcome:
        """Keep a failure; the Lambda error payload that reports it."""
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

    def record(self, call: Call, duration: float, outcome: Outcome, *, worker: int = 0) -> Outcome:
        """Keep one invocation; its outcome, unchanged."""
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

    def record_batch(self, record: StreamBatchRecord) -> None:
        """Keep what happened to one stream batch."""
        with self._lock:
            self.stream_batches.append(record)
