"""DynamoDB stream -> Lambda: one poller per event source mapping, off the writer's thread.

moto calls ``LambdaBackend.send_dynamodb_items`` inside every write to a table with a stream and
ignores the mapping's settings. Here that call only queues the new records (after the mapping's
FilterCriteria, which AWS applies before batching) and returns, so the write returns before any
handler runs. The mapping's poller thread takes up to BatchSize queued records at a time and
delivers one batch at a time, in order, as Lambda does for one shard (ParallelizationFactor 1):

* a function error retries the batch up to MaximumRetryAttempts (-1, "until the record expires"
  on AWS, is capped at ``infinite_retry_cap``), bisecting first when BisectBatchOnFunctionError
  is set (halves do not count as retries);
* with ReportBatchItemFailures, the batch is retried from the first reported record; an unknown
  or empty ``itemIdentifier`` fails the whole batch;
* when retries run out the batch's invocation record goes to the OnFailure destination (or the
  batch is dropped). Retries happen at once (AWS backs off).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import uuid
import weakref
from typing import TYPE_CHECKING, Any, Final, cast

from moto.awslambda.models import EventSourceMapping, LambdaBackend, LambdaFunction
from moto.events.models import EventPattern, EventPatternParser

from ..records import StreamBatchRecord, iso_ms, utcnow
from .destinations import send_to

if TYPE_CHECKING:
    from ..runtime.lambda_runtime import FunctionRuntime

FIRST_SEQUENCE_NUMBER: Final = 100000000000000000000  # 21 digits, like DynamoDB Streams
STOP_TIMEOUT_S: Final = 5.0


class StreamPoller:
    """The records queued for one mapping, and the thread delivering them batch by batch."""

    def __init__(self, runtime: FunctionRuntime, esm: EventSourceMapping, fn: LambdaFunction) -> None:
        self.runtime = runtime
        self.esm = esm
        self.fn = fn
        self._records: collections.deque[dict[str, Any]] = collections.deque()
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sandbox-stream-{fn.function_name}")
        self._thread.start()

    def add(self, records: list[dict[str, Any]]) -> None:
        """Queue records (already filtered) for delivery."""
        if not records:
            return
        self.runtime.work_started(len(records))
        with self._condition:
            self._records.extend(records)
            self._condition.notify()

    def stop(self) -> None:
        """Deliver nothing more; wait briefly for the batch in flight."""
        with self._condition:
            self._stopped = True
            self._condition.notify()
        self._thread.join(STOP_TIMEOUT_S)

    def _run(self) -> None:
        size = self.esm.batch_size or 100
        while True:
            with self._condition:
                while not self._records and not self._stopped:
                    self._condition.wait()
                if self._stopped:
                    return
                batch = [self._records.popleft() for _ in range(min(size, len(self._records)))]
            try:
                self._process(batch)
            except Exception as error:  # a sandbox fault: recorded, and the poller keeps going
                self.runtime.record_failure(self.fn.function_name, "dynamodb-stream", error, "Sandbox.StreamPollerError")
            finally:
                self.runtime.work_finished(len(batch))

    def _process(self, batch: list[dict[str, Any]]) -> None:
        esm, fn = self.esm, self.fn
        max_retries = esm.max_retry_attempts
        if max_retries is None or int(max_retries) < 0:
            max_retries = self.runtime.infinite_retry_cap
        report_failures = "ReportBatchItemFailures" in (esm.function_response_types or [])
        pending = batch
        retries = 0
        while pending:
            if self._stopped:
                return
            outcome = self.runtime.invoke(fn, {"Records": pending}, "dynamodb-stream")
            sequence = tuple(r["dynamodb"]["SequenceNumber"] for r in pending)
            if outcome.error is not None:
                self._record(sequence, "error", error_type=outcome.error.error_type)
                if esm.bisect_on_error and len(pending) > 1:
                    # Bisection does not count as a retry on AWS: each half gets the full budget
                    half = len(pending) // 2
                    self._process(pending[:half])
                    self._process(pending[half:])
                    return
                failed_from = 0
            else:
                failures = _batch_item_failures(outcome.result) if report_failures else ()
                if not failures:
                    self._record(sequence, "ok")
                    return
                self._record(sequence, "partial", batch_item_failures=failures)
                positions = [i for i, seq in enumerate(sequence) if seq in failures]
                failed_from = min(positions) if len(positions) == len(failures) else 0
            retries += 1
            if retries > int(max_retries):
                self._send_to_destination(pending[failed_from:], retries)
                return
            pending = pending[failed_from:]

    def _record(
        self, sequence: tuple[str, ...], outcome: str, *, batch_item_failures: tuple[str, ...] = (), error_type: str | None = None
    ) -> None:
        self.runtime.record_batch(
            StreamBatchRecord(
                function_name=self.fn.function_name,
                event_source_arn=self.esm.event_source_arn,
                sequence_numbers=sequence,
                outcome=outcome,
                batch_item_failures=batch_item_failures,
                error_type=error_type,
            )
        )

    def _send_to_destination(self, records: list[dict[str, Any]], attempts: int) -> None:
        sequence = tuple(r["dynamodb"]["SequenceNumber"] for r in records)
        destination = ((self.esm.destination_config or {}).get("OnFailure") or {}).get("Destination")
        if not destination:
            self._record(sequence, "dropped")
            return
        created = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
        body = json.dumps(
            {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": self.fn.function_arn,
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": attempts,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": iso_ms(utcnow()),
                "DDBStreamBatchInfo": {
                    "shardId": "shardId-00000001541626099285-f35f62ef",
                    "startSequenceNumber": sequence[0],
                    "endSequenceNumber": sequence[-1],
                    "approximateArrivalOfFirstRecord": created[0],
                    "approximateArrivalOfLastRecord": created[-1],
                    "batchSize": len(records),
                    "streamArn": self.esm.event_source_arn,
                },
            },
            default=str,
        )
        send_to(destination, body)
        self._record(sequence, "sent-to-destination")


class StreamDelivery:
    """Every mapping's poller; ``deliver`` is what the replaced ``send_dynamodb_items`` calls."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime
        self._pollers: dict[str, StreamPoller] = {}
        self._lock = threading.Lock()
        self._delivered: dict[str, weakref.WeakSet[Any]] = {}
        self._sequence: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._counter = 0
        self._stopped = False

    def deliver(self, backend: LambdaBackend, function_arn: str, items: list[Any], source_arn: str) -> str:
        """Queue the new records for the mapping of function_arn on source_arn; return at once."""
        # moto hands over every record still in the shard and numbers records from the shard's
        # length, which restarts once the shard is emptied: each record object is queued once per
        # mapping and gets its own sequence number.
        esm = _find_mapping(backend, function_arn, source_arn)
        if esm is None or not esm.enabled:
            return "disabled"
        fn = backend.get_function(function_arn)
        with self._lock:
            if self._stopped:
                return "delivered"
            delivered = self._delivered.setdefault(esm.uuid, weakref.WeakSet())
            fresh = [item for item in items if item not in delivered]
            delivered.update(fresh)
            for item in fresh:
                if item not in self._sequence:
                    self._counter += 1
                    self._sequence[item] = str(FIRST_SEQUENCE_NUMBER + self._counter)
            records = [_stream_record(item, backend.region_name, source_arn, self._sequence[item]) for item in fresh]
            poller = self._pollers.get(esm.uuid)
            if poller is None:
                poller = self._pollers[esm.uuid] = StreamPoller(self.runtime, esm, fn)
        patterns = _filter_patterns(esm)
        matched = [r for r in records if any(p.matches_event(cast(Any, r)) for p in patterns)] if patterns else records
        poller.add(matched)
        return "delivered"  # moto keeps re-sending the shard's records until this is truthy

    def stop(self) -> None:
        """Stop every poller."""
        with self._lock:
            self._stopped = True
            pollers = list(self._pollers.values())
        for poller in pollers:
            poller.stop()


def _find_mapping(backend: LambdaBackend, function_arn: str, source_arn: str) -> EventSourceMapping | None:
    for esm in backend._event_source_mappings.values():
        if esm.function_arn == function_arn and esm.event_source_arn == source_arn:
            return esm
    return None


def _stream_record(item: Any, region: str, source_arn: str, sequence_number: str) -> dict[str, Any]:
    """One moto StreamRecord as the Lambda event record AWS sends."""
    record = item.to_json()
    dynamodb = dict(record["dynamodb"], SequenceNumber=sequence_number)
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record["eventVersion"],
        "eventSource": record["eventSource"],
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": source_arn,
    }


def _filter_patterns(esm: EventSourceMapping) -> list[EventPattern]:
    """The mapping's FilterCriteria as EventBridge-style matchers (moto's own implementation)."""
    filters = (esm.filter_criteria or {}).get("Filters") or []
    return [EventPattern(f["Pattern"], EventPatternParser(f["Pattern"]).parse()) for f in filters if f.get("Pattern")]


def _batch_item_failures(result: Any) -> tuple[str, ...]:
    """Item identifiers from a ReportBatchItemFailures response; malformed responses fail all."""
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return ()
    failures = result["batchItemFailures"] or []
    return tuple(str((f or {}).get("itemIdentifier") or "") for f in failures)
