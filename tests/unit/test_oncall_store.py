"""The on-call table: deployed definitions and overrides, read back as the resolver needs them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from escalation.oncall.schedule import on_call
from escalation.oncall.store import (
    DEFINITIONS_KEY,
    NoDefinitions,
    OncallStore,
    definitions_item,
    definitions_version,
)
from stacks.oncall_config import load_oncall
from tests.conftest import REGION

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # a Monday, nine weeks after the start: alice's week in payments-primary


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name=REGION)
        created = resource.create_table(
            TableName="Oncall",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield created


def test_nothing_deployed_is_a_clear_error(table: Any) -> None:
    with pytest.raises(NoDefinitions, match="no on-call definitions are deployed"):
        OncallStore(table).definitions()
    assert OncallStore(table).version() is None


def test_deployed_definitions_round_trip_and_version_follows_content(table: Any) -> None:
    definitions = load_oncall()
    item = definitions_item(definitions)
    table.put_item(Item=item)
    store = OncallStore(table)
    assert store.definitions() == definitions
    assert store.version() == item["version"] == definitions_version(item["body"])
    # The same file deploys as the same item (stable JSON), so an unchanged oncall.yaml changes nothing.
    assert definitions_item(load_oncall()) == item
    # A changed definition is a new version, and the reader does not serve the old one from its cache.
    changed = definitions.model_copy(update={"policies": {}})
    table.put_item(Item=definitions_item(changed))
    assert store.definitions().policies == {}
    assert store.version() != item["version"]
    assert table.get_item(Key=DEFINITIONS_KEY)["Item"]["pk"] == "definitions"


def test_overrides_are_stored_listed_applied_and_removed(table: Any) -> None:
    definitions = load_oncall()
    table.put_item(Item=definitions_item(definitions))
    store = OncallStore(table)
    assert on_call(definitions, store.overrides(), "payments-primary", NOW).id == "alice"  # type: ignore[union-attr]
    override_id, override = store.add_override(
        rotation="payments-primary", person="dan", start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=3),
        created_by="test", now=NOW - timedelta(hours=2),
    )  # fmt: skip
    assert override.person == "dan"
    stored = store.override_items()
    assert [item["sk"] for item in stored] == [override_id]
    assert stored[0]["from"] == "2026-03-09T11:00:00Z" and stored[0]["to"] == "2026-03-09T15:00:00Z"
    assert stored[0]["expires_at"] == int((NOW + timedelta(hours=3, days=30)).timestamp())
    assert on_call(definitions, store.overrides(), "payments-primary", NOW).id == "dan"  # type: ignore[union-attr]
    assert store.remove_override(override_id) is True
    assert store.remove_override(override_id) is False  # removing twice is harmless and says so
    assert on_call(definitions, store.overrides(), "payments-primary", NOW).id == "alice"  # type: ignore[union-attr]


def test_a_bad_override_is_refused_before_anything_is_written(table: Any) -> None:
    with pytest.raises(ValidationError, match="'to' must be after 'from'"):
        OncallStore(table).add_override(rotation="payments-primary", person="dan", start=NOW, end=NOW)
    assert OncallStore(table).override_items() == []
