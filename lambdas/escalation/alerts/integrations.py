"""Integrations and their routing keys: who may send alerts, and whom their incidents page.

An integration is a name, a contact chain (E.164 numbers), an optional `policy` (an on-call policy
name, copied onto its incidents) and an optional `page_template` (what its pages say: escalation.alerts.page_template,
checked when set; nothing in it is ever evaluated). A routing key is 32 lowercase hex characters, like PagerDuty's; it is
shown once, when created, and stored only as its SHA-256. Rotating adds a key and leaves the old ones
working until they are revoked, so a sender can be switched over without a gap.

Items of the integrations table (partition key `pk`):

    integration#<name>   contacts, policy, page_template, created_at, keys: {key_id: created_at},
                         key_hashes: {key_id: sha256 hex}
    key#<sha256 hex>     integration, key_id (the first 8 hex characters of the hash), created_at, revoked_at
    integrations         names: the set of every integration's name (listing needs no Scan)

Revocation is immediate whatever the table's size: revoking removes the key id from the integration item
first, and a key is valid only while its integration item lists it (lookup reads both); the key item is
then marked revoked by its hash (kept on the integration item), with no Scan. Integrations created before
`key_hashes` existed fall back to a Scan that reads every page. Listing reads the `integrations` registry
(the same fallback for a table written before it).

Every function takes a boto3 Table resource and returns plain data, for the handlers and the CLI alike.
"""

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.integration_checks import (
    NAME,
    IntegrationError,
    check_countries,
    check_name,
    check_page_template,
    check_pages,
)
from escalation.incidents.timeline import utc_now
from escalation.store.incident_table import is_conditional_failure

ROUTING_KEY = re.compile(r"^[0-9a-f]{32}$")
KEY_ID_LENGTH = 8
REGISTRY = "integrations"  # the item listing every integration's name


@dataclass(frozen=True)
class Integration:
    """What a routing key pages."""

    name: str
    contacts: tuple[str, ...]
    policy: str | None = None
    page_template: str | None = None  # None: escalation.alerts.page_template.DEFAULT_TEMPLATE
    urgency: str | None = None  # high or low for every alert; None: by severity (escalation.incidents.urgency)


def key_hash(routing_key: str) -> str:
    """How a routing key is stored: its SHA-256, hex."""
    return hashlib.sha256(routing_key.encode()).hexdigest()


def _integration(item: dict[str, Any]) -> Integration:
    return Integration(
        name=str(item["name"]),
        contacts=tuple(item.get("contacts", [])),
        policy=item.get("policy"),
        page_template=item.get("page_template"),
        urgency=item.get("urgency"),
    )


def _new_key(table: Any, name: str, at: str) -> dict[str, str]:
    """Store a new routing key's hash for name and list it on the integration; returns the key (shown once)."""
    routing_key = secrets.token_hex(16)
    hashed = key_hash(routing_key)
    key_id = hashed[:KEY_ID_LENGTH]
    table.put_item(
        Item={"pk": f"key#{hashed}", "integration": name, "key_id": key_id, "created_at": at},
        ConditionExpression="attribute_not_exists(pk)",
    )
    try:
        table.update_item(
            Key={"pk": f"integration#{name}"},
            UpdateExpression="SET #keys.#id = :at, #hashes.#id = :hash",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#keys": "keys", "#hashes": "key_hashes", "#id": key_id},
            ExpressionAttributeValues={":at": at, ":hash": hashed},
        )
    except ClientError as error:
        table.delete_item(Key={"pk": f"key#{hashed}"})  # the integration vanished meanwhile: leave no orphan key
        if is_conditional_failure(error):
            raise IntegrationError("name", f"no integration {name!r}") from error
        raise
    return {"integration": name, "routing_key": routing_key, "key_id": key_id, "created_at": at}


def create_integration(
    table: Any,
    name: str,
    *,
    contacts: Sequence[str],
    policy: str | None = None,
    allowed_calling_codes: tuple[str, ...] = (),
    page_template: str | None = None,
) -> dict[str, str]:
    """Create an integration with its first routing key; returns {integration, routing_key, key_id, created_at}.

    allowed_calling_codes: the deployment's allowedCountries as calling codes; a contact outside them is refused.
    page_template: what its pages say (escalation.alerts.page_template); None for the default.
    """
    check_name(name)
    chain = check_pages(contacts, policy, allowed_calling_codes)
    template = check_page_template(page_template)
    at = utc_now()
    item: dict[str, Any] = {
        "pk": f"integration#{name}", "name": name, "contacts": list(chain), "created_at": at, "keys": {}, "key_hashes": {},
    }  # fmt: skip
    if policy is not None:
        item["policy"] = policy
    if template is not None:
        item["page_template"] = template
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as error:
        if is_conditional_failure(error):
            raise IntegrationError("name", f"an integration {name!r} exists already") from error
        raise
    _register(table, name)
    return _new_key(table, name, at)


def _register(table: Any, name: str) -> None:
    """Add name to the registry; a table written before it gets every existing integration first (one Scan, once)."""
    names = {name}
    if table.get_item(Key={"pk": REGISTRY}, ConsistentRead=True).get("Item") is None:
        existing = _scan_all(
            table, FilterExpression="begins_with(pk, :prefix)", ExpressionAttributeValues={":prefix": "integration#"}
        )
        names |= {str(item["name"]) for item in existing}
    table.update_item(
        Key={"pk": REGISTRY},
        UpdateExpression="ADD #names :names",
        ExpressionAttributeNames={"#names": "names"},
        ExpressionAttributeValues={":names": names},
    )


def rotate_key(table: Any, name: str, *, allowed_calling_codes: tuple[str, ...] = ()) -> dict[str, str]:
    """Add a routing key to an integration; the old keys keep working until revoked.

    allowed_calling_codes: as for create_integration; an integration paging a number outside them (created
    before allowedCountries left its country out) gets no new key, since its incidents would be refused.
    """
    check_name(name)
    if allowed_calling_codes:
        integration = by_name(table, name)
        if integration is None:
            raise IntegrationError("name", f"no integration {name!r}")
        check_countries(integration.contacts, allowed_calling_codes)
    return _new_key(table, name, utc_now())


def _set_or_remove(table: Any, name: str, attribute: str, value: str | None) -> None:
    """Set one setting of an existing integration (None: remove it, back to the default); IntegrationError if none."""
    update = (
        {"UpdateExpression": f"SET {attribute} = :value", "ExpressionAttributeValues": {":value": value}}
        if value is not None
        else {"UpdateExpression": f"REMOVE {attribute}"}
    )
    try:
        table.update_item(Key={"pk": f"integration#{name}"}, ConditionExpression="attribute_exists(pk)", **update)
    except ClientError as error:
        if is_conditional_failure(error):
            raise IntegrationError("name", f"no integration {name!r}") from error
        raise


def set_page_template(table: Any, name: str, page_template: str | None) -> dict[str, str | None]:
    """Change what an integration's pages say from now on (None: back to the default); incidents open keep theirs."""
    check_name(name)
    template = check_page_template(page_template)
    _set_or_remove(table, name, "page_template", template)
    return {"integration": name, "page_template": template}


def set_urgency(table: Any, name: str, urgency: str | None) -> dict[str, str | None]:
    """Every alert of the integration high or low from now on (None: by its severity, escalation.incidents.urgency)."""
    check_name(name)
    if urgency is not None and urgency not in ("high", "low"):
        raise IntegrationError("urgency", f"must be high, low or by-severity, got {urgency!r}")
    _set_or_remove(table, name, "urgency", urgency)
    return {"integration": name, "urgency": urgency or "by-severity"}


def revoke_key(table: Any, name: str, key_id: str) -> dict[str, str]:
    """Revoke one of an integration's keys (by key_id, or the routing key itself); events sent with it get 400."""
    check_name(name)
    integration = table.get_item(Key={"pk": f"integration#{name}"}, ConsistentRead=True).get("Item")
    if integration is None:
        raise IntegrationError("name", f"no integration {name!r}")
    if ROUTING_KEY.match(key_id):
        key_id = key_hash(key_id)[:KEY_ID_LENGTH]
    if key_id not in (integration.get("keys") or {}):
        raise IntegrationError("key_id", f"{name!r} has no key {key_id!r}")
    table.update_item(  # first: from now on lookup refuses the key, whatever happens next
        Key={"pk": f"integration#{name}"},
        UpdateExpression="REMOVE #keys.#id",
        ExpressionAttributeNames={"#keys": "keys", "#id": key_id},
    )
    hashed = (integration.get("key_hashes") or {}).get(key_id)
    at = utc_now()
    for pk in [f"key#{hashed}"] if hashed else _key_items_by_scan(table, name, key_id):
        try:
            table.update_item(
                Key={"pk": pk},
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :at)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": at},
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # else the key item is gone: nothing left to mark
    return {"integration": name, "key_id": key_id, "revoked_at": at}


def _scan_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a Scan with these arguments returns, page after page (tables written by older versions only)."""
    items: list[dict[str, Any]] = []
    while True:
        response = table.scan(ConsistentRead=True, **kwargs)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _key_items_by_scan(table: Any, name: str, key_id: str) -> list[str]:
    """The key items of an integration created before `key_hashes` (a Scan over every page)."""
    found = _scan_all(
        table, FilterExpression="integration = :name AND key_id = :id", ExpressionAttributeValues={":name": name, ":id": key_id}
    )
    return [str(item["pk"]) for item in found]


def list_integrations(table: Any) -> list[dict[str, Any]]:
    """Every integration: name, contacts, policy, key ids (never the keys)."""
    registry = table.get_item(Key={"pk": REGISTRY}, ConsistentRead=True).get("Item")
    if registry is None:  # a table written before the registry: read it all once
        items = _scan_all(
            table, FilterExpression="begins_with(pk, :prefix)", ExpressionAttributeValues={":prefix": "integration#"}
        )
    else:
        items = [item for item in (table.get_item(Key={"pk": f"integration#{name}"}, ConsistentRead=True).get("Item")
                                   for name in sorted(registry.get("names", set()))) if item is not None]  # fmt: skip
    return sorted(
        (
            {
                "name": item["name"],
                "contacts": list(item.get("contacts", [])),
                "policy": item.get("policy"),
                "page_template": item.get("page_template"),
                "key_ids": sorted((item.get("keys") or {}).keys()),
            }
            for item in items
        ),
        key=lambda entry: str(entry["name"]),
    )


def lookup(table: Any, routing_key: str) -> Integration | None:
    """The integration a routing key belongs to; None for an unknown or revoked key."""
    if not isinstance(routing_key, str) or not ROUTING_KEY.match(routing_key):
        return None
    key_item = table.get_item(Key={"pk": f"key#{key_hash(routing_key)}"}, ConsistentRead=True).get("Item")
    if key_item is None or "revoked_at" in key_item:
        return None
    item = table.get_item(Key={"pk": f"integration#{key_item['integration']}"}, ConsistentRead=True).get("Item")
    if item is None or key_item.get("key_id") not in (item.get("keys") or {}):
        return None  # revoked: its id is gone from the integration even if the key item is not marked yet
    return _integration(item)


def by_name(table: Any, name: str) -> Integration | None:
    """The integration called name (an alarm names it by tag, not by routing key); None if there is none."""
    if not isinstance(name, str) or not NAME.match(name):
        return None
    item = table.get_item(Key={"pk": f"integration#{name}"}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    return _integration(item)
