"""Routing keys: created per integration, stored only as hashes, rotatable, revocable."""

from __future__ import annotations

import re
from typing import Any

import pytest

from escalation.alerts.integration_checks import IntegrationError
from escalation.alerts.integrations import (
    Integration,
    create_integration,
    key_hash,
    list_integrations,
    lookup,
    revoke_key,
    rotate_key,
)
from tests.conftest import Aws
from tests.unit.alerts_support import create_integrations_table
from tests.unit.conftest import FIRST, SECOND


@pytest.fixture
def table(aws: Aws) -> Any:
    return create_integrations_table()


def test_a_new_integration_gets_a_32_hex_key_stored_only_as_its_hash(table: Any) -> None:
    created = create_integration(table, "prometheus", contacts=[], policy="platform")
    key = created["routing_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    stored = [str(value) for item in table.scan()["Items"] for value in item.values()]
    assert not any(key in value for value in stored)
    assert table.get_item(Key={"pk": f"key#{key_hash(key)}"})["Item"]["integration"] == "prometheus"
    assert lookup(table, key) == Integration("prometheus", (), "platform")


def test_rotation_keeps_the_old_key_working_until_it_is_revoked(table: Any) -> None:
    old = create_integration(table, "grafana", contacts=[FIRST])
    new = rotate_key(table, "grafana")
    assert new["routing_key"] != old["routing_key"]
    assert lookup(table, old["routing_key"]) is not None and lookup(table, new["routing_key"]) is not None
    assert list_integrations(table)[0]["key_ids"] == sorted([old["key_id"], new["key_id"]])

    revoke_key(table, "grafana", old["key_id"])
    assert lookup(table, old["routing_key"]) is None
    assert lookup(table, new["routing_key"]) == Integration("grafana", (FIRST,))
    assert list_integrations(table)[0]["key_ids"] == [new["key_id"]]


def test_unknown_and_malformed_keys_page_nothing(table: Any) -> None:
    create_integration(table, "ci", contacts=[FIRST])
    assert lookup(table, "0" * 32) is None
    assert lookup(table, "not-a-key") is None


@pytest.mark.parametrize(
    ("name", "contacts", "policy", "field"),
    [
        ("bad name!", [FIRST], None, "name"),
        ("ok", [], None, "contacts"),
        ("ok", ["07700900001"], None, "contacts[0]"),
        ("ok", [FIRST, FIRST], None, "contacts"),
        ("ok", [], "", "policy"),
        ("ok", [FIRST], "platform", "policy"),  # a policy or a contact chain, not both
    ],
)
def test_bad_requests_name_the_field(table: Any, name: str, contacts: list[str], policy: str | None, field: str) -> None:
    with pytest.raises(IntegrationError) as raised:
        create_integration(table, name, contacts=contacts, policy=policy)
    assert raised.value.field == field


def test_names_are_unique_and_only_existing_integrations_rotate(table: Any) -> None:
    create_integration(table, "ci", contacts=[FIRST])
    with pytest.raises(IntegrationError, match="exists already"):
        create_integration(table, "ci", contacts=[SECOND])
    with pytest.raises(IntegrationError, match="no integration"):
        rotate_key(table, "nope")
    with pytest.raises(IntegrationError, match="has no key"):
        revoke_key(table, "ci", "deadbeef")


def test_revocation_holds_and_listing_needs_no_scan_with_a_table_over_one_megabyte(table: Any) -> None:
    filler = "x" * 1_000
    with table.batch_writer() as batch:  # claims and counters that never expired: about 1.3 MB
        for index in range(1_300):
            prefix = ("dedup#", "short#", "rate#")[index % 3]
            batch.put_item(Item={"pk": f"{prefix}{index:05d}", "filler": filler})
    first_page = table.scan()
    assert "LastEvaluatedKey" in first_page  # one Scan page no longer holds the table
    created = create_integration(table, "alertmanager", contacts=[FIRST])
    rotated = rotate_key(table, "alertmanager")
    scans: list[str] = []
    table.meta.client.meta.events.register("before-call.dynamodb.Scan", lambda **_: scans.append("scan"))

    revoke_key(table, "alertmanager", created["key_id"])
    assert lookup(table, created["routing_key"]) is None  # refused on the very next request
    assert lookup(table, rotated["routing_key"]) == Integration("alertmanager", (FIRST,))
    [listed] = list_integrations(table)
    assert (listed["name"], listed["key_ids"]) == ("alertmanager", [rotated["key_id"]])
    assert scans == []
