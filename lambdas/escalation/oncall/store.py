"""The on-call table: the deployed definitions (written at deploy) and the overrides (written by the CLI).

One DynamoDB table, keys ``pk`` and ``sk``:

- ``pk = "definitions", sk = "current"``: ``body`` (the checked definitions as JSON, see
  oncall.Definitions), ``version`` (the first 16 hex digits of the body's SHA-256). The stack writes
  it on every deploy whose oncall.yaml changed; functions and the CLI read it, so both see the
  definitions that are deployed, never a local file.
- ``pk = "override", sk = <override id>``: ``rotation``, ``person``, ``from``, ``to`` (ISO-8601 UTC),
  ``covers`` (optional), ``created``, ``created_by``, and ``expires_at`` (epoch seconds; the table's
  TTL removes an override 30 days after it ends).

Definitions are cached per container by version, so a page costs one small GetItem and one Query.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from escalation.oncall.definitions import Definitions, Override

DEFINITIONS_KEY = {"pk": "definitions", "sk": "current"}
OVERRIDE_PARTITION = "override"
OVERRIDE_KEEP_AFTER_END = timedelta(days=30)


class NoDefinitions(LookupError):
    """Nothing is deployed in the on-call table (the stack was deployed without oncall.yaml)."""


def definitions_body(definitions: Definitions) -> str:
    """The JSON the stack writes: stable key order, so an unchanged file deploys as no change."""
    return json.dumps(definitions.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def definitions_version(body: str) -> str:
    """A short content hash naming one deployed version of the definitions."""
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def definitions_item(definitions: Definitions) -> dict[str, str]:
    """The item the stack puts at deploy (plain strings, as in an AwsCustomResource putItem call)."""
    body = definitions_body(definitions)
    return {**DEFINITIONS_KEY, "body": body, "version": definitions_version(body)}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class OncallStore:
    """Reads the deployed definitions and reads or writes overrides."""

    _cache: dict[str, Definitions] = {}  # by version, shared by the instances of one container

    def __init__(self, table: Any) -> None:
        self.table = table

    def definitions(self) -> Definitions:
        """The deployed definitions; NoDefinitions when none are deployed."""
        item = self.table.get_item(Key=DEFINITIONS_KEY, ConsistentRead=True).get("Item")
        if not item:
            raise NoDefinitions("no on-call definitions are deployed (oncall.yaml)")
        version = str(item.get("version", ""))
        cached = self._cache.get(version)
        if cached is None:
            cached = Definitions.model_validate_json(str(item["body"]))
            self._cache.clear()
            self._cache[version] = cached
        return cached

    def version(self) -> str | None:
        """The deployed definitions' version, or None."""
        item = self.table.get_item(Key=DEFINITIONS_KEY, ProjectionExpression="version").get("Item")
        return str(item["version"]) if item else None

    def override_items(self) -> list[dict[str, Any]]:
        """Every stored override item (ended ones too, until the TTL removes them), oldest first."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": OVERRIDE_PARTITION},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda item: (str(item.get("created", "")), str(item["sk"])))

    def overrides(self) -> list[Override]:
        """The stored overrides as models, in creation order (what oncall.on_call expects)."""
        return [override_from_item(item) for item in self.override_items()]

    def add_override(
        self,
        *,
        rotation: str,
        person: str,
        start: datetime,
        end: datetime,
        covers: str | None = None,
        created_by: str = "",
        now: datetime | None = None,
    ) -> tuple[str, Override]:
        """Store an override (checked by the model first); returns its id and the override."""
        created = now or datetime.now(UTC)
        override = Override.model_validate(
            {"rotation": rotation, "person": person, "from": start, "to": end, "covers": covers, "created": created}
        )
        override_id = f"{created.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        item: dict[str, Any] = {
            "pk": OVERRIDE_PARTITION,
            "sk": override_id,
            "rotation": rotation,
            "person": person,
            "from": _iso(override.from_),
            "to": _iso(override.to),
            "created": _iso(created),
            "created_by": created_by,
            "expires_at": int((override.to + OVERRIDE_KEEP_AFTER_END).timestamp()),
        }
        if covers:
            item["covers"] = covers
        self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        return override_id, override

    def remove_override(self, override_id: str) -> bool:
        """Delete an override; False when there was none with that id."""
        response = self.table.delete_item(Key={"pk": OVERRIDE_PARTITION, "sk": override_id}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))


def override_from_item(item: dict[str, Any]) -> Override:
    """An override item as the model."""
    return Override.model_validate(
        {
            "rotation": item["rotation"],
            "person": item["person"],
            "from": item["from"],
            "to": item["to"],
            "covers": item.get("covers") or None,
            "created": item["created"],
        }
    )
