"""Validation of the incident item a user writes (DynamoDB JSON, as in the stream's NewImage)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation.incidents.item import Incident, InvalidIncident, parse_incident
from escalation.sms.phone_numbers import is_e164

FIRST = "+447700900001"
SECOND = "+447700900002"


def _contacts(*numbers: str) -> dict[str, Any]:
    return {"L": [{"S": number} for number in numbers]}


def _error(item: dict[str, Any]) -> InvalidIncident:
    with pytest.raises(InvalidIncident) as caught:
        parse_incident(item)
    return caught.value


def test_sample_item_is_valid_and_pages_first_then_second_contact(seed_item: dict[str, Any]) -> None:
    assert parse_incident(seed_item) == Incident(
        incident_id="123",
        description="Error 111, unit 1 malfunctioned. Urgent assistance is required.",
        url="https://example.com/incident/111/overview",
        contacts=(FIRST, SECOND),
    )


@pytest.mark.parametrize("field", ["incident_id", "description", "first_contact"])
def test_missing_required_field_is_named(seed_item: dict[str, Any], field: str) -> None:
    del seed_item[field]
    error = _error(seed_item)
    assert error.field == field
    assert str(error) == f"{field}: is required"


def test_optional_fields_may_be_missing(seed_item: dict[str, Any]) -> None:
    for field in ("incident_stat", "double_escalation", "url", "second_contact"):
        del seed_item[field]
    incident = parse_incident(seed_item)
    assert incident.url is None
    assert incident.contacts == (FIRST,)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_contact", "07700900001"),
        ("first_contact", "+44 7700 900001"),
        ("second_contact", "447700900002"),
        ("second_contact", "+0447700900002"),
        ("second_contact", "+44770090000212345"),
        ("first_contact", "call Bob"),
    ],
)
def test_bad_phone_number_marks_item_invalid_with_field_name(seed_item: dict[str, Any], field: str, value: str) -> None:
    seed_item[field] = {"S": value}
    error = _error(seed_item)
    assert str(error).startswith(f"{field}: ")
    assert "E.164" in str(error)


def test_surrounding_spaces_around_a_number_are_forgiven(seed_item: dict[str, Any]) -> None:
    seed_item["first_contact"] = {"S": f" {FIRST} "}
    assert parse_incident(seed_item).contacts == (FIRST, SECOND)


def test_empty_second_contact_means_a_single_level_chain(seed_item: dict[str, Any]) -> None:
    seed_item["second_contact"] = {"S": ""}
    assert parse_incident(seed_item).contacts == (FIRST,)


@pytest.mark.parametrize(
    ("field", "attribute", "kind"),
    [
        ("description", {"N": "111"}, "number"),
        ("incident_id", {"N": "123"}, "number"),
        ("first_contact", {"L": [{"S": FIRST}]}, "list"),
        ("url", {"BOOL": True}, "boolean"),
        ("second_contact", {"NULL": True}, "null"),
        ("description", {"SS": ["a", "b"]}, "an unsupported type"),
    ],
)
def test_wrong_attribute_type_is_named(seed_item: dict[str, Any], field: str, attribute: dict[str, Any], kind: str) -> None:
    seed_item[field] = attribute
    assert str(_error(seed_item)) == f"{field}: must be a string (S), got {kind}"


def test_blank_description_is_rejected(seed_item: dict[str, Any]) -> None:
    seed_item["description"] = {"S": "   "}
    assert str(_error(seed_item)) == "description: must not be empty"


def test_oversized_description_is_rejected_with_its_length(seed_item: dict[str, Any]) -> None:
    seed_item["description"] = {"S": "x" * 2001}
    assert str(_error(seed_item)) == "description: is 2001 characters long; the limit is 2000"


def test_incident_already_past_not_acknowledged_is_not_paged_again(seed_item: dict[str, Any]) -> None:
    seed_item["incident_stat"] = {"S": "acknowledged"}
    assert str(_error(seed_item)).startswith("incident_stat: must be not_acknowledged")


@pytest.mark.parametrize("url", ["no url", "NO URL", " no url ", ""])
def test_no_url_means_no_url(seed_item: dict[str, Any], url: str) -> None:
    seed_item["url"] = {"S": url}
    assert parse_incident(seed_item).url is None


def test_url_must_be_http_or_no_url(seed_item: dict[str, Any]) -> None:
    seed_item["url"] = {"S": "javascript:alert(1)"}
    assert str(_error(seed_item)).startswith("url: must start with https:// or http://")


def test_contacts_list_overrides_first_and_second_contact(seed_item: dict[str, Any]) -> None:
    seed_item["first_contact"] = {"S": "not even a number"}  # ignored when contacts is present
    seed_item["contacts"] = _contacts("+447700900003", "+447700900004", "+447700900005")
    assert parse_incident(seed_item).contacts == ("+447700900003", "+447700900004", "+447700900005")


def test_contacts_list_of_ten_is_accepted(seed_item: dict[str, Any]) -> None:
    numbers = [f"+4477009000{index:02d}" for index in range(10)]
    seed_item["contacts"] = _contacts(*numbers)
    assert parse_incident(seed_item).contacts == tuple(numbers)


def test_contacts_list_longer_than_ten_is_rejected(seed_item: dict[str, Any]) -> None:
    seed_item["contacts"] = _contacts(*[f"+4477009000{index:02d}" for index in range(11)])
    assert str(_error(seed_item)) == "contacts: has 11 numbers; the limit is 10"


@pytest.mark.parametrize(
    ("contacts", "message"),
    [
        ({"L": []}, "contacts: must name at least one phone number"),
        ({"S": FIRST}, "contacts: must be a list (L) of phone numbers"),
        ({"L": [{"S": FIRST}, {"N": "447700900002"}]}, "contacts[1]: must be a string (S)"),
    ],
)
def test_malformed_contacts_list_is_named(seed_item: dict[str, Any], contacts: dict[str, Any], message: str) -> None:
    seed_item["contacts"] = contacts
    assert str(_error(seed_item)) == message


def test_bad_number_in_contacts_list_names_its_position(seed_item: dict[str, Any]) -> None:
    seed_item["contacts"] = _contacts(FIRST, SECOND, "12345")
    assert str(_error(seed_item)).startswith("contacts[2]: '12345' is not an E.164 phone number")


def test_duplicate_contacts_are_rejected(seed_item: dict[str, Any]) -> None:
    seed_item["second_contact"] = {"S": FIRST}
    assert str(_error(seed_item)) == f"contacts: lists {FIRST} more than once"
    seed_item["contacts"] = _contacts(SECOND, FIRST, SECOND)
    assert str(_error(seed_item)) == f"contacts: lists {SECOND} more than once"


# --- property: any DynamoDB-JSON-shaped item either parses or is rejected with a field name ---

_FIELDS = [
    "incident_id",
    "incident_stat",
    "double_escalation",
    "description",
    "url",
    "first_contact",
    "second_contact",
    "contacts",
]
_PHONE = st.builds(lambda cc, rest: f"+{cc}{rest}", st.integers(1, 999), st.text("0123456789", min_size=6, max_size=12))
_STRING = st.one_of(
    st.text(max_size=30),
    _PHONE,
    st.sampled_from(["", " ", "no url", "not_acknowledged", "acknowledged", "https://example.com/x", "ftp://x", "x" * 2001]),
)
_SCALAR = st.one_of(
    st.builds(lambda s: {"S": s}, _STRING),
    st.builds(lambda n: {"N": str(n)}, st.integers()),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.just({"SS": ["a", "b"]}),
    st.just({}),
)
_ATTRIBUTE = st.one_of(
    _SCALAR,
    st.builds(lambda items: {"L": items}, st.lists(_SCALAR, max_size=3)),
    st.builds(lambda items: {"M": items}, st.dictionaries(st.sampled_from(["S", "a"]), _SCALAR, max_size=2)),
)
_STRING_ATTRIBUTE = st.builds(lambda s: {"S": s}, _STRING)
_CONTACTS = st.builds(lambda items: {"L": items}, st.lists(st.builds(lambda s: {"S": s}, _PHONE) | _SCALAR, max_size=12))
# Every field is absent, well-typed or arbitrary; a few unknown attributes ride along.
_FIELD_VALUES = {
    **{field: _STRING_ATTRIBUTE | _ATTRIBUTE for field in _FIELDS if field != "contacts"},
    "first_contact": st.builds(lambda s: {"S": s}, _PHONE) | _ATTRIBUTE,
    "second_contact": st.builds(lambda s: {"S": s}, _PHONE) | _ATTRIBUTE,
    "contacts": _CONTACTS | _ATTRIBUTE,
    "owner": _ATTRIBUTE,
}
_VALID = {
    "incident_id": {"S": "INC-1"},
    "description": {"S": "Disk full"},
    "first_contact": {"S": "+447700900001"},
}
_ITEM = st.one_of(
    st.fixed_dictionaries({}, optional=_FIELD_VALUES),
    # A valid item with some fields removed or replaced: most examples sit near the valid boundary.
    st.builds(
        lambda overrides, removed: {key: value for key, value in {**_VALID, **overrides}.items() if key not in removed},
        st.fixed_dictionaries({}, optional=_FIELD_VALUES),
        st.sets(st.sampled_from(_FIELDS), max_size=2),
    ),
)


@settings(max_examples=250, deadline=None)
@given(_ITEM)
def test_item_parser_returns_incident_or_names_the_bad_field(item: dict[str, Any]) -> None:
    try:
        incident = parse_incident(item)
    except InvalidIncident as error:
        field = error.field.split("[", 1)[0]
        assert field in _FIELDS
        assert str(error).startswith(f"{error.field}: ")
        return
    assert incident.incident_id.strip()
    assert incident.description.strip()
    assert 1 <= len(incident.contacts) <= 10
    assert len(set(incident.contacts)) == len(incident.contacts)
    assert all(is_e164(number) for number in incident.contacts)
    assert incident.url is None or incident.url.startswith(("https://", "http://"))


def test_item_parser_accepts_generated_valid_items() -> None:
    """Guard for the property above: its strategy does produce valid items too."""
    found: list[Incident] = []

    @settings(max_examples=60, deadline=None)
    @given(_ITEM)
    def collect(item: dict[str, Any]) -> None:
        with contextlib.suppress(InvalidIncident):
            found.append(parse_incident(item))

    collect()
    assert found, "the item strategy never produced a valid incident"


def test_contacts_outside_the_allowed_countries_are_refused_naming_the_field(seed_item: dict[str, Any]) -> None:
    seed_item["second_contact"] = {"S": "+353861234567"}
    assert parse_incident(seed_item, allowed_calling_codes=("44", "353")).contacts[1] == "+353861234567"
    with pytest.raises(InvalidIncident, match=r"^second_contact: \+353861234567 is outside the countries") as raised:
        parse_incident(seed_item, allowed_calling_codes=("44",))
    assert raised.value.field == "second_contact"


def test_a_contacts_list_entry_outside_the_allowed_countries_is_named(seed_item: dict[str, Any]) -> None:
    seed_item["contacts"] = {"L": [{"S": "+447700900001"}, {"S": "+12025550123"}]}
    with pytest.raises(InvalidIncident, match=r"^contacts\[1\]: "):
        parse_incident(seed_item, allowed_calling_codes=("44",))


def test_no_allowed_countries_means_no_limit(seed_item: dict[str, Any]) -> None:
    seed_item["first_contact"] = {"S": "+12025550123"}
    assert parse_incident(seed_item).contacts[0] == "+12025550123"
