"""Levels of an escalation chain: a phone number, or a level of an escalation policy resolved when it is paged.

The item's ``escalation_chain`` (and the workflow's ``contacts``) holds one entry per level: an E.164
number for the sample's contacts, or ``policy:<policy>:<index>`` for an incident that names a
policy. A policy level is resolved into numbers by page_contact when the level is first paged (so
a handoff during an incident pages the new person) and the numbers are kept on the item in
``level_contacts`` (level -> numbers): its reminders and retries page the same people, and replies
are matched against them. A new pass over the policy (``repeat``) is a new level, resolved afresh.
"""

from collections.abc import Mapping
from typing import Any

POLICY_PREFIX = "policy:"


def policy_level(policy: str, index: int) -> str:
    """The chain entry of level ``index`` (0-based) of ``policy``."""
    return f"{POLICY_PREFIX}{policy}:{index}"


def parse_policy_level(entry: str) -> tuple[str, int] | None:
    """(policy, index) of a policy level entry; None for a phone number."""
    if not entry.startswith(POLICY_PREFIX):
        return None
    policy, _, index = entry[len(POLICY_PREFIX) :].rpartition(":")
    return policy, int(index)


def label(entry: str) -> str:
    """How a level is named in the timeline and to ops: the number, or ``payments level 2`` (1-based)."""
    parsed = parse_policy_level(entry)
    return entry if parsed is None else f"{parsed[0]} level {parsed[1] + 1}"


def phone_of(entry: str) -> str | None:
    """The number of a phone entry, None for a policy level (whose numbers are on the item)."""
    return None if entry.startswith(POLICY_PREFIX) else entry


def numbers_at(item: Mapping[str, Any], level: int) -> list[str]:
    """The numbers level ``level`` paged (or pages): the entry itself, or the policy level's resolution."""
    chain: list[str] = list(item.get("escalation_chain", []))
    if level >= len(chain):
        return []
    phone = phone_of(chain[level])
    if phone is not None:
        return [phone]
    resolved: Mapping[str, Any] = item.get("level_contacts") or {}
    return [str(number) for number in resolved.get(str(level), [])]


def numbers_up_to(item: Mapping[str, Any], level: int) -> list[str]:
    """Everyone the chain has reached up to ``level``, once each, in the order they were paged."""
    numbers: dict[str, None] = {}
    for index in range(level + 1):
        numbers.update(dict.fromkeys(numbers_at(item, index)))
    return list(numbers)


def current_numbers(item: Mapping[str, Any]) -> list[str]:
    """The numbers the level in flight pages (several for a policy level with several targets)."""
    numbers = item.get("current_contacts")
    if numbers:
        return [str(number) for number in numbers]
    single = item.get("current_contact")
    return [str(single)] if single else []


def paged_contacts(item: Mapping[str, Any]) -> list[str]:
    """Everyone paged so far, once each, except numbers a page could not reach."""
    unreachable = set(item.get("unreachable", []))
    return [number for number in numbers_up_to(item, int(item.get("escalation_level", 0))) if number not in unreachable]
