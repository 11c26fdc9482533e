"""The stream mapping's filters and the start handler's own rules agree, record by record.

The filters are read from the synthesized template (what Lambda would apply) and evaluated with an
EventBridge-style matcher (moto's, the one the local sandbox applies); the rules are the handler's
is_new_incident and is_replacement. Starting is exact both ways; archiving may see more records than it
keeps (an UpdateItem that carried the timeline over), never fewer; the app's own writes reach nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Capture
from moto.events.models import EventPattern, EventPatternParser

from escalation.incidents.start import is_new_incident, is_new_pass
from escalation.store.history import is_replacement
from tests.infra.support import Synth

EXECUTION = {"S": "arn:aws:states:eu-west-2:123456789012:execution:IncidentEscalation:incident-123-0"}
STAT_DATE = {"S": "2026-01-01T00:00:00.000Z"}
CREATED = {"L": [{"M": {"at": STAT_DATE, "event": {"S": "created"}}}]}
INVALID = {"L": [{"M": {"at": STAT_DATE, "event": {"S": "invalid"}}}]}
USER = {"incident_id": {"S": "123"}, "description": {"S": "Disk full"}, "first_contact": {"S": "+447700900001"}}
OPEN = {**USER, "incident_stat": {"S": "not_acknowledged"}}
STARTED = {**OPEN, "execution_arn": EXECUTION, "stat_date": STAT_DATE, "timeline": CREATED}
MARKED_INVALID = {**OPEN, "incident_stat": {"S": "invalid"}, "stat_date": STAT_DATE, "timeline": INVALID}

RESOLVED, ACKNOWLEDGED = {"S": "resolved"}, {"S": "acknowledged"}
EXHAUSTED = {**STARTED, "incident_stat": {"S": "unacknowledged"}}
FAILED = {**STARTED, "incident_stat": {"S": "failed"}}
NEXT_PASS = {**STARTED, "execution_arn": {"S": EXECUTION["S"] + "-pass2"}}

# name: (eventName, OldImage, NewImage, starts, archives)
RECORDS: dict[str, tuple[str, dict[str, Any] | None, dict[str, Any] | None, bool, bool]] = {
    "a new item": ("INSERT", None, OPEN, True, False),
    "a new item without status": ("INSERT", None, USER, True, False),
    "an item replaced before it was processed": ("MODIFY", OPEN, OPEN, True, False),
    "the app records the start": ("MODIFY", OPEN, STARTED, False, False),
    "the app marks an item invalid": ("MODIFY", OPEN, MARKED_INVALID, False, False),
    "the app parks a token": ("MODIFY", STARTED, {**STARTED, "task_token": {"S": "t"}}, False, False),
    "the app acknowledges": ("MODIFY", STARTED, {**STARTED, "incident_stat": {"S": "acknowledged"}}, False, False),
    "a put over a started incident": ("MODIFY", STARTED, OPEN, True, True),
    "a put without status over a started incident": ("MODIFY", STARTED, USER, True, True),
    "a put with a number status over a started incident": ("MODIFY", STARTED, {**USER, "incident_stat": {"N": "1"}}, True, True),
    "a put that closes a started incident": ("MODIFY", STARTED, {**USER, "incident_stat": {"S": "acknowledged"}}, False, True),
    "a put over an invalid item": ("MODIFY", MARKED_INVALID, OPEN, True, True),
    "an invalid item fixed in place": ("MODIFY", MARKED_INVALID, {**MARKED_INVALID, **OPEN}, True, False),
    "an invalid item fixed, timeline dropped": ("MODIFY", MARKED_INVALID, {**OPEN, "stat_date": STAT_DATE}, True, True),
    "a started incident deleted": ("REMOVE", STARTED, None, False, True),
    "an invalid item deleted": ("REMOVE", MARKED_INVALID, None, False, True),
    "an unprocessed item deleted": ("REMOVE", OPEN, None, False, False),
    "an alert resolves an item before its start": ("MODIFY", OPEN, {**OPEN, "incident_stat": RESOLVED}, False, False),
    "an alert acknowledges an item before its start": ("MODIFY", OPEN, {**OPEN, "incident_stat": ACKNOWLEDGED}, False, False),
    "the app exhausts the chain": ("MODIFY", STARTED, EXHAUSTED, False, False),
    "an alert escalates an exhausted incident again": ("MODIFY", EXHAUSTED, NEXT_PASS, True, False),
    "an alert escalates a failed incident again": ("MODIFY", FAILED, NEXT_PASS, True, False),
    "a YES after the chain was exhausted": ("MODIFY", EXHAUSTED, {**EXHAUSTED, "incident_stat": ACKNOWLEDGED}, False, False),
}


def _record(event_name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1767225600,
        "Keys": {"incident_id": {"S": "123"}},
        "SequenceNumber": "100000000000000000001",
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        dynamodb["OldImage"] = old
    if new is not None:
        dynamodb["NewImage"] = new
    return {"eventID": "1", "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


def _patterns(synth: Synth) -> list[EventPattern]:
    filters = Capture()
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"FunctionName": {"Ref": synth.logical_id(synth.stack.start.function)}, "FilterCriteria": {"Filters": filters}},
    )
    return [EventPattern(entry["Pattern"], EventPatternParser(entry["Pattern"]).parse()) for entry in filters.as_array()]


def _matches(patterns: list[EventPattern], record: dict[str, Any]) -> bool:
    return any(pattern.matches_event(record) for pattern in patterns)


@pytest.mark.parametrize("name", list(RECORDS))
def test_filters_and_handler_rules_agree(default_synth: Synth, name: str) -> None:
    event_name, old, new, starts, archives = RECORDS[name]
    record = _record(event_name, old, new)
    patterns = _patterns(default_synth)
    start_patterns, archive_patterns = patterns[:4], patterns[4:]

    assert (is_new_incident(record) or is_new_pass(record)) is starts
    assert is_replacement(record) is archives
    assert _matches(start_patterns, record) is starts  # exactly the records that start an escalation (or a new pass)
    if archives:
        assert _matches(archive_patterns, record)  # nothing to archive is filtered out
    assert _matches(patterns, record) is (starts or archives)  # the app's own writes reach no function


def test_filter_patterns_fit_lambdas_limits(default_synth: Synth) -> None:
    filters = Capture()
    default_synth.template.has_resource_properties("AWS::Lambda::EventSourceMapping", {"FilterCriteria": {"Filters": filters}})
    patterns = [entry["Pattern"] for entry in filters.as_array()]
    assert len(patterns) <= 5  # the default quota of filters per event source mapping
    assert all(len(pattern) <= 4096 for pattern in patterns)  # a filter pattern's size limit
