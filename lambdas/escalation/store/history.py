"""The incident history archive: every incident item that was replaced or deleted, kept as it was.

A PutItem over an existing id (a new incident reusing the id, a retried PutItem from an integration, a
PutItem that closes or breaks the item) replaces the whole item, timeline included, and so does a
delete. The stream record of that write carries the old item (the stream has NEW_AND_OLD_IMAGES); the
start handler copies it into the history table before it looks at the new item. The archive is
append-only: one item per replacing stream record, keyed by incident id and `replaced_at` (the time of
the change, then `#` and the stream sequence number), written with a condition, so a redelivered record
writes it once. The incident item itself only ever holds the current incident's timeline.
"""

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from escalation.incidents.timeline import utc_now
from escalation.platform import aws_clients
from escalation.platform.settings import ConfigurationError, get_settings
from escalation.store.incident_table import is_conditional_failure

SORT_KEY = "replaced_at"  # stacks/storage.py keys the table with it
# The app's first write to an item (record_started or mark_invalid) sets stat_date together with the first
# timeline entry, and no write removes it: an old image with stat_date holds history the app wrote.
HISTORY_MARKER = "stat_date"

_deserializer = TypeDeserializer()


def _string(image: dict[str, Any], name: str) -> str | None:
    """The value of a string attribute of a stream image (DynamoDB JSON), None when absent or not a string."""
    attribute = image.get(name)
    if not isinstance(attribute, dict):
        return None
    value = attribute.get("S")
    return value if isinstance(value, str) else None


def _timeline(image: dict[str, Any]) -> list[Any]:
    attribute = image.get("timeline")
    entries = attribute.get("L") if isinstance(attribute, dict) else None
    return entries if isinstance(entries, list) else []


def had_history(image: dict[str, Any]) -> bool:
    """True when the app has written to this item (it has a timeline and a status date)."""
    return _string(image, HISTORY_MARKER) is not None


def is_replacement(record: dict[str, Any]) -> bool:
    """A stream record whose write took an incident's history off the item: it must be archived.

    A delete of an item the app had written to, or a write that left no execution_arn on such an item
    (the app's own writes never remove it: a PutItem over the id did) and did not carry its timeline
    over. An UpdateItem that keeps the timeline, such as an invalid item fixed in place, loses nothing.
    The stream mapping's filters (stacks/storage.py replaced_incident_filters) pass every record this accepts.
    """
    dynamodb = record.get("dynamodb") or {}
    old: dict[str, Any] = dynamodb.get("OldImage") or {}
    new: dict[str, Any] = dynamodb.get("NewImage") or {}
    if not had_history(old):
        return False
    event_name = record.get("eventName")
    if event_name == "REMOVE":
        return True
    if event_name != "MODIFY" or _string(new, "execution_arn") is not None:
        return False
    kept = _timeline(old)
    return _timeline(new)[: len(kept)] != kept


def replaced_at(record: dict[str, Any]) -> str:
    """The archive sort key of a stream record: when the change happened, then its sequence number.

    Both come from the record, so a redelivered record gets the same key; the time makes a query over an
    incident id list its earlier incidents in order.
    """
    dynamodb = record["dynamodb"]
    when = datetime.fromtimestamp(float(dynamodb["ApproximateCreationDateTime"]), UTC)
    return f"{when.isoformat(timespec='seconds').replace('+00:00', 'Z')}#{dynamodb['SequenceNumber']}"


class HistoryArchive:
    """Writes replaced incident items into the append-only history table, each once."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def keep(self, record: dict[str, Any]) -> bool:
        """Archive the old image of a replacing stream record; False when it was archived already."""
        dynamodb = record["dynamodb"]
        old = {name: _deserializer.deserialize(value) for name, value in dynamodb["OldImage"].items()}
        item = {
            **old,
            SORT_KEY: replaced_at(record),
            "change": "deleted" if record.get("eventName") == "REMOVE" else "replaced",
            "archived_at": utc_now(),
        }
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(incident_id)")
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True


def history_archive() -> HistoryArchive:
    """The archive of this function's deployment (HISTORY_TABLE)."""
    table = get_settings().history_table
    if not table:
        raise ConfigurationError("environment variable HISTORY_TABLE is not set: a replaced incident cannot be archived")
    return HistoryArchive(aws_clients.dynamodb().Table(table))
