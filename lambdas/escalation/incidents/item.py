"""The incident item a user writes, checked before anyone is paged."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from escalation.incidents.status import Status
from escalation.sms.phone_numbers import is_e164
from escalation.sms.segments import NO_URL

MAX_CONTACTS = 10
MAX_INCIDENT_ID_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 2000
MAX_URL_LENGTH = 1024


class InvalidIncident(ValueError):
    """The item cannot be paged; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Incident:
    """A pageable incident: who to page, in order (numbers, or an escalation policy), and what to tell them."""

    incident_id: str
    description: str
    url: str | None
    contacts: tuple[str, ...]  # empty when the incident names a policy
    policy: str | None = None


_TYPE_NAMES = {"S": "string", "N": "number", "L": "list", "M": "map", "BOOL": "boolean", "NULL": "null"}


def _string(image: dict[str, Any], field: str, *, required: bool, max_length: int) -> str | None:
    attribute = image.get(field)
    if attribute is None:
        if required:
            raise InvalidIncident(field, "is required")
        return None
    if "S" not in attribute:
        kind = _TYPE_NAMES.get(next(iter(attribute), ""), "an unsupported type")
        raise InvalidIncident(field, f"must be a string (S), got {kind}")
    value: str = attribute["S"]
    if required and not value.strip():
        raise InvalidIncident(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidIncident(field, f"is {len(value)} characters long; the limit is {max_length}")
    return value


def _phone(value: object, field: str) -> str:
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise InvalidIncident(field, f"{value!r} is not an E.164 phone number such as +447700900001")
    return value.strip()


def _check_destination(number: str, field: str, allowed_calling_codes: tuple[str, ...]) -> None:
    """Refuse a number outside the allowed countries (allowedCountries, as calling codes; none: no limit)."""
    if allowed_calling_codes and not any(number.startswith(f"+{code}") for code in allowed_calling_codes):
        codes = ", ".join(f"+{code}" for code in allowed_calling_codes)
        raise InvalidIncident(field, f"{number} is outside the countries this deployment may text (calling codes {codes})")


def _chain(image: dict[str, Any], allowed_calling_codes: tuple[str, ...] = ()) -> tuple[str, ...]:
    if "contacts" in image:
        attribute = image["contacts"]
        if "L" not in attribute:
            raise InvalidIncident("contacts", "must be a list (L) of phone numbers")
        items = attribute["L"]
        if not items:
            raise InvalidIncident("contacts", "must name at least one phone number")
        if len(items) > MAX_CONTACTS:
            raise InvalidIncident("contacts", f"has {len(items)} numbers; the limit is {MAX_CONTACTS}")
        chain = []
        for index, item in enumerate(items):
            field = f"contacts[{index}]"
            if "S" not in item:
                raise InvalidIncident(field, "must be a string (S)")
            chain.append(_phone(item["S"], field))
            _check_destination(chain[-1], field, allowed_calling_codes)
    else:
        first = _string(image, "first_contact", required=True, max_length=32)
        second = _string(image, "second_contact", required=False, max_length=32)
        chain = [_phone(first, "first_contact")]
        _check_destination(chain[-1], "first_contact", allowed_calling_codes)
        if second is not None and second.strip():
            chain.append(_phone(second, "second_contact"))
            _check_destination(chain[-1], "second_contact", allowed_calling_codes)
    duplicates = sorted({number for number in chain if chain.count(number) > 1})
    if duplicates:
        raise InvalidIncident("contacts", f"lists {duplicates[0]} more than once")
    return tuple(chain)


def _policy(image: dict[str, Any], policies: Collection[str] | None) -> str | None:
    """The escalation policy the item names, checked against the deployed ones (None: the item names numbers)."""
    if "policy" not in image:
        return None
    given = [field for field in ("contacts", "first_contact", "second_contact") if field in image]
    if given:
        raise InvalidIncident("policy", f"give either policy or {given[0]}, not both")
    policy = _string(image, "policy", required=True, max_length=64)
    assert policy is not None
    policy = policy.strip()
    if policies is None:
        raise InvalidIncident("policy", "no on-call definitions are deployed (oncall.yaml); name contacts instead")
    if policy not in policies:
        known = ", ".join(sorted(policies)) or "none defined"
        raise InvalidIncident("policy", f"unknown escalation policy {policy!r} (deployed: {known})")
    return policy


def parse_incident(
    image: dict[str, Any], *, allowed_calling_codes: tuple[str, ...] = (), policies: Collection[str] | None = None
) -> Incident:
    """Check a new item (DynamoDB JSON, as in a stream record's NewImage) and return the incident.

    allowed_calling_codes ("44", "353"): contacts must be in these countries; an End User Messaging
    protect configuration enforces the same countries precisely (calling codes such as +1 are shared).
    policies: the escalation policies deployed (oncall.yaml), None when none are; an item may name one
    in `policy` instead of numbers.
    """
    incident_id = _string(image, "incident_id", required=True, max_length=MAX_INCIDENT_ID_LENGTH)
    status = _string(image, "incident_stat", required=False, max_length=32)
    if status is not None and status != Status.NOT_ACKNOWLEDGED:
        raise InvalidIncident("incident_stat", f"must be {Status.NOT_ACKNOWLEDGED!s} on a new incident, got {status!r}")
    description = _string(image, "description", required=True, max_length=MAX_DESCRIPTION_LENGTH)
    url = _string(image, "url", required=False, max_length=MAX_URL_LENGTH)
    if url is not None:
        url = url.strip()
        if url.casefold() in ("", NO_URL):
            url = None
        elif not url.startswith(("https://", "http://")):
            raise InvalidIncident("url", f'must start with https:// or http://, or be "{NO_URL}"')
    assert incident_id is not None and description is not None  # required=True guarantees both
    policy = _policy(image, policies)
    contacts = () if policy is not None else _chain(image, allowed_calling_codes)
    return Incident(incident_id=incident_id, description=description.strip(), url=url, contacts=contacts, policy=policy)
