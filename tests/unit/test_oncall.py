"""On-call definitions and schedule resolution: a pure function of (definitions, overrides, instant)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from escalation.oncall.definitions import Definitions, Override, Restriction
from escalation.oncall.fields import format_loc
from escalation.oncall.schedule import on_call, resolve_level, shifts
from tests.conftest import REPO_ROOT

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def person(phone: str, zone: str = "Europe/London") -> dict[str, Any]:
    return {"name": phone, "phone": phone, "zone": zone}


PEOPLE = {
    "alice": person("+447700900001"),
    "bob": person("+447700900002"),
    "carol": person("+12025550103", "America/New_York"),
    "dan": person("+12025550104", "America/New_York"),
}


def layer(participants: list[str], shift: dict[str, int], handoff: str, zone: str, start: str, **extra: Any) -> dict[str, Any]:
    return {"participants": participants, "shift": shift, "handoff": handoff, "zone": zone, "start": start, **extra}


def definitions(rotations: dict[str, list[dict[str, Any]]], policies: dict[str, Any] | None = None) -> Definitions:
    return Definitions.model_validate(
        {
            "people": PEOPLE,
            "rotations": {name: {"layers": layers} for name, layers in rotations.items()},
            "policies": policies or {},
        }
    )


def who(defs: Definitions, rotation: str, at: datetime, overrides: list[Override] | None = None) -> str | None:
    found = on_call(defs, overrides or [], rotation, at)
    return None if found is None else found.id


def override(
    rotation: str, person: str, start: datetime, end: datetime, created: datetime, covers: str | None = None
) -> Override:
    return Override.model_validate(
        {"rotation": rotation, "person": person, "from": start, "to": end, "created": created, "covers": covers}
    )


# --- daily and weekly rotations ----------------------------------------------------------------


def test_daily_rotation_hands_off_at_the_local_time_each_day() -> None:
    defs = definitions({"r": [layer(["alice", "bob", "carol"], {"days": 1}, "09:00", "Europe/London", "2026-01-01")]})
    assert who(defs, "r", utc(2026, 1, 1, 9)) == "alice"
    assert who(defs, "r", utc(2026, 1, 2, 8, 59, 59)) == "alice"
    assert who(defs, "r", utc(2026, 1, 2, 9)) == "bob"
    assert who(defs, "r", utc(2026, 1, 3, 9)) == "carol"
    assert who(defs, "r", utc(2026, 1, 4, 9)) == "alice"  # round again
    assert who(defs, "r", utc(2026, 1, 31, 12)) == "alice"  # day 30: 30 % 3 == 0


def test_weekly_rotation_hands_off_on_the_weekday_of_its_start() -> None:
    defs = definitions({"r": [layer(["alice", "bob"], {"weeks": 1}, "10:00", "Europe/London", "2026-01-05")]})  # a Monday
    assert who(defs, "r", utc(2026, 1, 5, 10)) == "alice"
    assert who(defs, "r", utc(2026, 1, 11, 23)) == "alice"  # Sunday
    assert who(defs, "r", utc(2026, 1, 12, 9, 59)) == "alice"
    assert who(defs, "r", utc(2026, 1, 12, 10)) == "bob"
    assert who(defs, "r", utc(2026, 1, 19, 10)) == "alice"


def test_two_day_and_twelve_hour_shifts() -> None:
    defs = definitions(
        {
            "two_days": [layer(["alice", "bob"], {"days": 2}, "08:00", "UTC", "2026-01-01")],
            "halves": [layer(["alice", "bob"], {"hours": 12}, "08:00", "UTC", "2026-01-01")],
        }
    )
    assert who(defs, "two_days", utc(2026, 1, 2, 20)) == "alice"
    assert who(defs, "two_days", utc(2026, 1, 3, 8)) == "bob"
    assert who(defs, "halves", utc(2026, 1, 1, 19, 59)) == "alice"
    assert who(defs, "halves", utc(2026, 1, 1, 20)) == "bob"
    assert who(defs, "halves", utc(2026, 1, 2, 8)) == "alice"


def test_nobody_before_a_layer_starts() -> None:
    defs = definitions({"r": [layer(["alice", "bob"], {"days": 1}, "09:00", "Europe/London", "2026-01-01")]})
    assert who(defs, "r", utc(2026, 1, 1, 8, 59)) is None
    assert who(defs, "r", utc(2025, 6, 1)) is None


# --- DST: the handoff happens at the local wall-clock time on both sides of the change ------------


def test_weekly_handoff_on_the_london_spring_change_day() -> None:
    # Sundays at 09:00 London; 2026-03-29 is the day the clocks go forward (01:00 GMT -> 02:00 BST).
    defs = definitions({"r": [layer(["alice", "bob", "carol"], {"weeks": 1}, "09:00", "Europe/London", "2026-03-15")]})
    assert who(defs, "r", utc(2026, 3, 22, 8, 59, 59)) == "alice"  # 08:59:59 GMT
    assert who(defs, "r", utc(2026, 3, 22, 9)) == "bob"  # 09:00 GMT
    assert who(defs, "r", utc(2026, 3, 29, 7, 59, 59)) == "bob"  # 08:59:59 BST
    assert who(defs, "r", utc(2026, 3, 29, 8)) == "carol"  # 09:00 BST, an hour earlier in UTC
    assert who(defs, "r", utc(2026, 4, 5, 8)) == "alice"  # 09:00 BST the week after


def test_daily_handoff_across_the_london_autumn_change() -> None:
    # 2026-10-25: 02:00 BST -> 01:00 GMT.
    defs = definitions({"r": [layer(["alice", "bob"], {"days": 1}, "09:00", "Europe/London", "2026-10-24")]})
    assert who(defs, "r", utc(2026, 10, 24, 8)) == "alice"  # 09:00 BST
    assert who(defs, "r", utc(2026, 10, 25, 8, 59)) == "alice"  # 08:59 GMT: the shift lasts 25 hours
    assert who(defs, "r", utc(2026, 10, 25, 9)) == "bob"  # 09:00 GMT
    assert datetime(2026, 10, 25, 9, tzinfo=LONDON).utcoffset() == timedelta(0)
    assert datetime(2026, 10, 24, 9, tzinfo=LONDON).utcoffset() == timedelta(hours=1)


def test_daily_handoff_across_the_new_york_spring_change() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT; 08:00 is 13:00 UTC before, 12:00 UTC after.
    defs = definitions({"r": [layer(["carol", "dan"], {"days": 1}, "08:00", "America/New_York", "2026-03-07")]})
    assert who(defs, "r", utc(2026, 3, 7, 12, 59)) is None  # 07:59 EST, before the start
    assert who(defs, "r", utc(2026, 3, 7, 13)) == "carol"  # 08:00 EST
    assert who(defs, "r", utc(2026, 3, 8, 11, 59)) == "carol"  # 07:59 EDT: a 23-hour shift
    assert who(defs, "r", utc(2026, 3, 8, 12)) == "dan"  # 08:00 EDT
    assert who(defs, "r", utc(2026, 3, 9, 12)) == "carol"


def test_weekly_handoff_on_the_new_york_autumn_change_day() -> None:
    # 2026-11-01 (a Sunday): 02:00 EDT -> 01:00 EST.
    defs = definitions({"r": [layer(["carol", "dan"], {"weeks": 1}, "08:00", "America/New_York", "2026-10-25")]})
    assert who(defs, "r", utc(2026, 10, 25, 12)) == "carol"  # 08:00 EDT
    assert who(defs, "r", utc(2026, 11, 1, 12, 30)) == "carol"  # 07:30 EST
    assert who(defs, "r", utc(2026, 11, 1, 13)) == "dan"  # 08:00 EST


def test_handoff_at_a_repeated_hour_happens_once_at_its_first_occurrence() -> None:
    # London 2026-10-25: 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
    defs = definitions({"r": [layer(["alice", "bob"], {"days": 1}, "01:30", "Europe/London", "2026-10-24")]})
    assert who(defs, "r", utc(2026, 10, 25, 0, 29)) == "alice"
    assert who(defs, "r", utc(2026, 10, 25, 0, 30)) == "bob"
    assert who(defs, "r", utc(2026, 10, 25, 1, 15)) == "bob"  # 01:15 GMT, the second time round: no flip back
    assert who(defs, "r", utc(2026, 10, 26, 1, 29)) == "bob"
    assert who(defs, "r", utc(2026, 10, 26, 1, 30)) == "alice"


@pytest.mark.parametrize(
    ("zone", "start", "handoff", "before", "after"),
    [
        # London 2026-03-29 skips 01:00-02:00: 01:30 is taken with the GMT offset, i.e. 02:30 BST.
        ("Europe/London", "2026-03-28", "01:30", utc(2026, 3, 29, 1, 29), utc(2026, 3, 29, 1, 30)),
        # New York 2026-03-08 skips 02:00-03:00: 02:30 is taken with the EST offset, i.e. 03:30 EDT.
        ("America/New_York", "2026-03-07", "02:30", utc(2026, 3, 8, 7, 29), utc(2026, 3, 8, 7, 30)),
    ],
)
def test_handoff_at_a_skipped_time_happens_an_hour_later_on_the_wall_clock(
    zone: str, start: str, handoff: str, before: datetime, after: datetime
) -> None:
    defs = definitions({"r": [layer(["alice", "bob"], {"days": 1}, handoff, zone, start)]})
    assert who(defs, "r", before) == "alice"
    assert who(defs, "r", after) == "bob"


# --- layers and restrictions -------------------------------------------------------------------


@pytest.fixture
def layered() -> Definitions:
    office = layer(
        ["alice", "dan", "bob"],
        {"days": 1},
        "09:00",
        "Europe/London",
        "2026-01-05",
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}],
    )
    return definitions({"platform": [layer(["bob", "alice"], {"weeks": 1}, "10:00", "Europe/London", "2026-01-05"), office]})


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 1, 6, 10), "dan"),  # Tuesday in office hours: the higher layer, day 1
        (utc(2026, 1, 6, 16, 59), "dan"),
        (utc(2026, 1, 6, 17), "bob"),  # after 17:00 the base layer shows through
        (utc(2026, 1, 7, 8, 59), "bob"),
        (utc(2026, 1, 10, 12), "bob"),  # Saturday: the restriction is weekdays only
        (utc(2026, 1, 12, 9, 30), "dan"),  # Monday, day 7 of the office layer
        (utc(2026, 1, 12, 17, 30), "alice"),  # Monday evening: the base layer handed off at 10:00
        (utc(2026, 7, 2, 7, 30), "alice"),  # Thursday 08:30 BST: base layer, week 25
        (utc(2026, 7, 2, 8, 30), "dan"),  # 09:30 BST: office hours on local time, day 178
        (utc(2026, 7, 2, 15, 59), "dan"),  # 16:59 BST
        (utc(2026, 7, 2, 16, 30), "alice"),  # 17:30 BST: the base layer again
    ],
)
def test_higher_layer_wins_inside_its_restriction(layered: Definitions, at: datetime, expected: str) -> None:
    assert who(layered, "platform", at) == expected


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (datetime(2026, 1, 9, 20), True),  # Friday evening
        (datetime(2026, 1, 10, 8, 59), True),  # Saturday morning, carried over from Friday
        (datetime(2026, 1, 10, 9), False),
        (datetime(2026, 1, 10, 20), False),  # Saturday is not listed
        (datetime(2026, 1, 9, 16, 59), False),
    ],
)
def test_overnight_restriction_runs_into_the_next_day(local: datetime, inside: bool) -> None:
    restriction = Restriction.model_validate({"days": ["fri"], "from": "17:00", "to": "09:00"})
    assert restriction.covers(local) is inside


def test_restriction_without_hours_covers_whole_days() -> None:
    restriction = Restriction.model_validate({"days": ["sat", "sun"]})
    assert restriction.covers(datetime(2026, 1, 10, 0, 0))
    assert restriction.covers(datetime(2026, 1, 11, 23, 59))
    assert not restriction.covers(datetime(2026, 1, 12, 0, 0))


# --- overrides ---------------------------------------------------------------------------------


@pytest.fixture
def plain() -> Definitions:
    return definitions({"r": [layer(["alice", "bob"], {"weeks": 1}, "09:00", "UTC", "2026-01-05")]})


def test_override_takes_precedence_over_the_rotation(plain: Definitions) -> None:
    cover = override("r", "carol", utc(2026, 1, 6, 12), utc(2026, 1, 6, 18), created=utc(2026, 1, 1))
    assert who(plain, "r", utc(2026, 1, 6, 11, 59), [cover]) == "alice"
    assert who(plain, "r", utc(2026, 1, 6, 12), [cover]) == "carol"
    assert who(plain, "r", utc(2026, 1, 6, 17, 59), [cover]) == "carol"
    assert who(plain, "r", utc(2026, 1, 6, 18), [cover]) == "alice"  # 'to' is exclusive


def test_overlapping_overrides_latest_created_wins_even_when_wider(plain: Definitions) -> None:
    narrow_old = override("r", "bob", utc(2026, 1, 6, 13), utc(2026, 1, 6, 14), created=utc(2026, 1, 1))
    wide = override("r", "carol", utc(2026, 1, 6, 10), utc(2026, 1, 6, 20), created=utc(2026, 1, 2))
    narrow_new = override("r", "dan", utc(2026, 1, 6, 15), utc(2026, 1, 6, 16), created=utc(2026, 1, 3))
    for overrides in ([narrow_old, wide, narrow_new], [narrow_new, wide, narrow_old]):  # list order does not matter
        assert who(plain, "r", utc(2026, 1, 6, 13, 30), overrides) == "carol"  # wide was created after narrow_old
        assert who(plain, "r", utc(2026, 1, 6, 15, 30), overrides) == "dan"
        assert who(plain, "r", utc(2026, 1, 6, 19), overrides) == "carol"
        assert who(plain, "r", utc(2026, 1, 6, 21), overrides) == "alice"


def test_override_created_at_the_same_instant_goes_to_the_later_in_the_list(plain: Definitions) -> None:
    first = override("r", "carol", utc(2026, 1, 6), utc(2026, 1, 7), created=utc(2026, 1, 1))
    second = override("r", "dan", utc(2026, 1, 6), utc(2026, 1, 7), created=utc(2026, 1, 1))
    assert who(plain, "r", utc(2026, 1, 6, 12), [first, second]) == "dan"
    assert who(plain, "r", utc(2026, 1, 6, 12), [second, first]) == "carol"


def test_override_that_covers_someone_applies_only_to_their_shifts(plain: Definitions) -> None:
    cover_bob = override("r", "dan", utc(2026, 1, 5), utc(2026, 1, 20), created=utc(2026, 1, 1), covers="bob")
    assert who(plain, "r", utc(2026, 1, 6), [cover_bob]) == "alice"  # alice's week: untouched
    assert who(plain, "r", utc(2026, 1, 13), [cover_bob]) == "dan"  # bob's week: dan covers


def test_override_of_another_rotation_or_an_unknown_person_is_ignored(plain: Definitions) -> None:
    other = override("elsewhere", "carol", utc(2026, 1, 6), utc(2026, 1, 7), created=utc(2026, 1, 1))
    gone = override("r", "zoe", utc(2026, 1, 6), utc(2026, 1, 7), created=utc(2026, 1, 2))
    assert who(plain, "r", utc(2026, 1, 6, 12), [other, gone]) == "alice"


def test_override_fills_a_gap_where_no_layer_is_in_effect(plain: Definitions) -> None:
    before_start = override("r", "carol", utc(2026, 1, 1), utc(2026, 1, 2), created=utc(2025, 12, 1))
    assert who(plain, "r", utc(2026, 1, 1, 12)) is None
    assert who(plain, "r", utc(2026, 1, 1, 12), [before_start]) == "carol"


def test_override_window_must_be_ordered_and_aware() -> None:
    with pytest.raises(ValidationError, match="'to' must be after 'from'"):
        override("r", "carol", utc(2026, 1, 2), utc(2026, 1, 1), created=utc(2026, 1, 1))
    with pytest.raises(ValidationError) as error:
        override("r", "carol", datetime(2026, 1, 1), utc(2026, 1, 2), created=utc(2026, 1, 1))
    assert [format_loc(detail["loc"]) for detail in error.value.errors()] == ["from"]


# --- single participant, policies, empty level -------------------------------------------------


@pytest.mark.parametrize(
    "at", [utc(2026, 1, 1, 9), utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 1), utc(2026, 10, 25, 1, 30), utc(2030, 1, 1)]
)
def test_rotation_with_one_participant_is_always_them(at: datetime) -> None:
    defs = definitions({"solo": [layer(["carol"], {"hours": 8}, "09:00", "Europe/London", "2026-01-01")]})
    assert who(defs, "solo", at) == "carol"


POLICIES = {
    "payments": {
        "repeat": 1,
        "levels": [
            {"targets": [{"rotation": "primary"}], "ack_timeout_seconds": 300},
            {"targets": [{"rotation": "office"}, {"person": "dan"}, {"rotation": "primary"}], "ack_timeout_seconds": 600},
            {"targets": [{"rotation": "office"}]},
        ],
    }
}


@pytest.fixture
def with_policy() -> Definitions:
    office = layer(
        ["bob"],
        {"days": 1},
        "09:00",
        "Europe/London",
        "2026-01-05",
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}],
    )
    return definitions(
        {"primary": [layer(["alice", "carol"], {"weeks": 1}, "09:00", "Europe/London", "2026-01-05")], "office": [office]},
        POLICIES,
    )


def test_level_pages_every_target_together_each_person_once(with_policy: Definitions) -> None:
    tuesday_noon = utc(2026, 1, 6, 12)
    assert [p.id for p in resolve_level(with_policy, [], "payments", 0, tuesday_noon)] == ["alice"]
    assert [p.id for p in resolve_level(with_policy, [], "payments", 1, tuesday_noon)] == ["bob", "dan", "alice"]
    cover = override("primary", "dan", utc(2026, 1, 6), utc(2026, 1, 7), created=utc(2026, 1, 1))
    assert [p.id for p in resolve_level(with_policy, [cover], "payments", 1, tuesday_noon)] == ["bob", "dan"]
    assert with_policy.policies["payments"].levels[1].ack_timeout_seconds == 600
    assert with_policy.policies["payments"].levels[2].ack_timeout_seconds == 300  # the default


def test_level_resolved_at_each_instant_follows_the_handoff(with_policy: Definitions) -> None:
    assert [p.id for p in resolve_level(with_policy, [], "payments", 0, utc(2026, 1, 12, 8, 59))] == ["alice"]
    assert [p.id for p in resolve_level(with_policy, [], "payments", 0, utc(2026, 1, 12, 9))] == ["carol"]


def test_empty_level_returns_an_empty_list(with_policy: Definitions) -> None:
    saturday = utc(2026, 1, 10, 12)
    assert resolve_level(with_policy, [], "payments", 2, saturday) == []
    assert [p.id for p in resolve_level(with_policy, [], "payments", 1, saturday)] == ["dan", "alice"]  # the others still page


def test_instant_without_zone_is_refused(plain: Definitions) -> None:
    with pytest.raises(ValueError, match="time zone"):
        on_call(plain, [], "r", datetime(2026, 1, 6, 12))


# --- validation errors name the path -----------------------------------------------------------


def valid_document() -> dict[str, Any]:
    return {
        "people": json.loads(json.dumps(PEOPLE)),
        "rotations": {
            "primary": {"layers": [layer(["alice", "carol"], {"weeks": 1}, "09:00", "Europe/London", "2026-01-05")]},
            "office": {"layers": [layer(["bob"], {"days": 1}, "09:00", "Europe/London", "2026-01-05")]},
        },
        "policies": json.loads(json.dumps(POLICIES)),
    }


def error_paths(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as error:
        Definitions.model_validate(document)
    return {format_loc(detail["loc"]): detail["msg"] for detail in error.value.errors()}


def test_valid_document_passes() -> None:
    assert set(Definitions.model_validate(valid_document()).policies) == {"payments"}


def test_unknown_person_in_a_rotation() -> None:
    document = valid_document()
    document["rotations"]["primary"]["layers"][0]["participants"] = ["alice", "zoe"]
    errors = error_paths(document)
    assert list(errors) == ["rotations.primary.layers[0].participants[1]"]
    assert "unknown person 'zoe'" in errors["rotations.primary.layers[0].participants[1]"]


def test_target_naming_an_unknown_rotation() -> None:
    document = valid_document()
    document["policies"]["payments"]["levels"][1]["targets"][0] = {"rotation": "nights"}
    errors = error_paths(document)
    assert list(errors) == ["policies.payments.levels[1].targets[0].rotation"]
    assert "unknown rotation 'nights' (known: office, primary)" in errors["policies.payments.levels[1].targets[0].rotation"]


def test_target_naming_an_unknown_person_and_a_target_with_both_kinds() -> None:
    document = valid_document()
    document["policies"]["payments"]["levels"][1]["targets"][1] = {"person": "zoe"}
    assert list(error_paths(document)) == ["policies.payments.levels[1].targets[1].person"]
    document = valid_document()
    document["policies"]["payments"]["levels"][0]["targets"][0] = {"rotation": "primary", "person": "alice"}
    assert error_paths(document) == {"policies.payments.levels[0].targets[0]": "give exactly one of rotation or person"}


def test_level_without_targets() -> None:
    document = valid_document()
    document["policies"]["payments"]["levels"][1]["targets"] = []
    assert list(error_paths(document)) == ["policies.payments.levels[1].targets"]


@pytest.mark.parametrize("phone", ["07700900001", "+44 7700 900001", "+0447700900001", 447700900001])
def test_bad_e164_number(phone: object) -> None:
    document = valid_document()
    document["people"]["bob"]["phone"] = phone
    errors = error_paths(document)
    assert list(errors) == ["people.bob.phone"]
    assert "E.164" in errors["people.bob.phone"]


def test_bad_zones() -> None:
    document = valid_document()
    document["people"]["carol"]["zone"] = "America/Gotham"
    document["rotations"]["office"]["layers"][0]["zone"] = "BST"
    errors = error_paths(document)
    assert set(errors) == {"people.carol.zone", "rotations.office.layers[0].zone"}
    assert "unknown time zone 'America/Gotham'" in errors["people.carol.zone"]


def test_unquoted_time_and_shift_with_two_units() -> None:
    document = valid_document()
    document["rotations"]["office"]["layers"][0]["handoff"] = 1020  # what YAML makes of an unquoted 17:00
    document["rotations"]["primary"]["layers"][0]["shift"] = {"days": 1, "weeks": 1}
    errors = error_paths(document)
    assert "quotes" in errors["rotations.office.layers[0].handoff"]
    assert errors["rotations.primary.layers[0].shift"] == "give exactly one of hours, days or weeks, e.g. {weeks: 1}"


def test_unknown_keys_and_bad_restriction_days() -> None:
    document = valid_document()
    document["policies"]["payments"]["repaet"] = 2
    document["rotations"]["office"]["layers"][0]["restrictions"] = [{"days": ["monday"], "from": "09:00", "to": "17:00"}]
    assert set(error_paths(document)) == {"policies.payments.repaet", "rotations.office.layers[0].restrictions[0].days[0]"}


def test_person_id_must_match_its_key() -> None:
    document = valid_document()
    document["people"]["bob"]["id"] = "robert"
    assert list(error_paths(document)) == ["people.bob.id"]


def test_format_loc() -> None:
    assert format_loc(("policies", "payments", "levels", 1, "targets")) == "policies.payments.levels[1].targets"
    assert format_loc(()) == "(top level)"


# --- JSON round trip (what the functions will read) --------------------------------------------


def test_definitions_and_overrides_round_trip_through_json(with_policy: Definitions) -> None:
    text = json.dumps(with_policy.model_dump(mode="json"))
    assert Definitions.model_validate(json.loads(text)) == with_policy
    assert Definitions.model_validate_json(text) == with_policy
    cover = override("primary", "dan", utc(2026, 1, 6), utc(2026, 1, 7), created=utc(2026, 1, 1), covers="alice")
    dumped = cover.model_dump(mode="json")
    assert dumped["from"] == "2026-01-06T00:00:00Z"
    assert Override.model_validate(json.loads(json.dumps(dumped))) == cover


# --- pydantic stays out of the other functions -------------------------------------------------


def test_only_the_oncall_package_imports_pydantic() -> None:
    lambdas = REPO_ROOT / "lambdas"
    imports = re.compile(r"^\s*(?:import|from)\s+(?:pydantic|pydantic_core|yaml)\b", re.MULTILINE)
    importers = sorted(str(path.relative_to(lambdas)) for path in lambdas.rglob("*.py") if imports.search(path.read_text()))
    assert importers, "the on-call model is built on pydantic"
    assert [path for path in importers if not path.startswith("escalation/oncall/")] == []
    assert not re.search(
        r"^\s*(?:import|from)\s+yaml\b", (lambdas / "escalation" / "oncall" / "definitions.py").read_text(), re.MULTILINE
    )
    handlers = ["page_contact", "start_escalation", "handle_reply", "mark_unacknowledged"]
    script = f"import sys; import {', '.join(handlers)}; print(sorted(m for m in ('pydantic', 'yaml') if m in sys.modules))"
    result = subprocess.run(  # a fresh interpreter: this test process has pydantic loaded already
        [sys.executable, "-c", script],
        cwd=lambdas,
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_DEFAULT_REGION": "eu-west-2"},
    )
    assert result.stdout.strip() == "[]"


# --- property: a rotation always has exactly one of its participants ---------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC", "America/Santiago"]


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=6),
    unit=st.sampled_from(["hours", "days", "weeks"]),
    length=st.integers(min_value=1, max_value=5),
    zone=st.sampled_from(ZONES),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    handoff=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3 * 366)),
)
def test_any_instant_after_the_start_has_exactly_one_participant(
    size: int, unit: str, length: int, zone: str, start: date, handoff: time, offset: timedelta
) -> None:
    participants = ["alice", "bob", "carol", "dan", "alice", "bob"][:size]
    defs = definitions({"r": [layer(participants, {unit: length}, handoff.strftime("%H:%M"), zone, start.isoformat())]})
    first_handoff = datetime.combine(start, handoff, tzinfo=ZoneInfo(zone))
    at = first_handoff + offset
    found = on_call(defs, [], "r", at)
    assert found is not None
    assert found.id in participants
    assert on_call(defs, [], "r", first_handoff - timedelta(microseconds=1)) is None


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    handoff_hour=st.integers(min_value=4, max_value=22),  # away from the hours DST changes skip or repeat
    day=st.integers(min_value=0, max_value=800),
)
def test_daily_handoff_is_at_the_local_time_every_day(zone: str, start: date, handoff_hour: int, day: int) -> None:
    defs = definitions({"r": [layer(["alice", "bob", "carol"], {"days": 1}, f"{handoff_hour:02d}:00", zone, start.isoformat())]})
    handoff = datetime.combine(start + timedelta(days=day), time(handoff_hour), tzinfo=ZoneInfo(zone))
    expected = ["alice", "bob", "carol"][day % 3]
    assert who(defs, "r", handoff) == expected
    if day:
        assert who(defs, "r", handoff - timedelta(seconds=1)) == ["alice", "bob", "carol"][(day - 1) % 3]


# --- shifts: the schedule over a span ------------------------------------------------------------


def spans(found: list[Any]) -> list[tuple[datetime, datetime, str | None]]:
    return [(shift.start, shift.end, None if shift.person is None else shift.person.id) for shift in found]


def test_shifts_of_a_weekly_rotation_are_its_handoffs() -> None:
    defs = definitions({"r": [layer(["alice", "bob"], {"weeks": 1}, "10:00", "UTC", "2026-01-05")]})
    found = shifts(defs, [], "r", utc(2026, 1, 7), utc(2026, 1, 21))
    assert spans(found) == [
        (utc(2026, 1, 7), utc(2026, 1, 12, 10), "alice"),  # clipped to the span
        (utc(2026, 1, 12, 10), utc(2026, 1, 19, 10), "bob"),
        (utc(2026, 1, 19, 10), utc(2026, 1, 21), "alice"),
    ]


def test_shifts_keep_the_local_handoff_across_the_london_spring_change() -> None:
    defs = definitions({"r": [layer(["alice", "bob"], {"days": 1}, "09:00", "Europe/London", "2026-03-27")]})
    found = shifts(defs, [], "r", utc(2026, 3, 28, 9), utc(2026, 3, 30, 8))
    assert spans(found) == [
        (utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), "bob"),  # 09:00 GMT to 09:00 BST: 23 hours
        (utc(2026, 3, 29, 8), utc(2026, 3, 30, 8), "alice"),
    ]
    assert found[0].end - found[0].start == timedelta(hours=23)


def test_shifts_across_the_new_york_autumn_change_last_25_hours() -> None:
    # 2026-11-01: 02:00 EDT -> 01:00 EST; 08:00 is 12:00 UTC before, 13:00 UTC after.
    defs = definitions({"r": [layer(["carol", "dan"], {"days": 1}, "08:00", "America/New_York", "2026-10-30")]})
    found = shifts(defs, [], "r", utc(2026, 10, 31, 12), utc(2026, 11, 2, 13))
    assert spans(found) == [
        (utc(2026, 10, 31, 12), utc(2026, 11, 1, 13), "dan"),
        (utc(2026, 11, 1, 13), utc(2026, 11, 2, 13), "carol"),
    ]


def test_shifts_show_an_override_and_the_gap_before_the_start() -> None:
    defs = definitions({"r": [layer(["alice", "bob"], {"days": 1}, "09:00", "UTC", "2026-01-01")]})
    cover = override("r", "dan", utc(2026, 1, 1, 12), utc(2026, 1, 1, 14), created=utc(2025, 12, 1))
    ignored = override("other", "carol", utc(2026, 1, 1, 10), utc(2026, 1, 1, 11), created=utc(2025, 12, 1))
    found = shifts(defs, [cover, ignored], "r", utc(2026, 1, 1, 6), utc(2026, 1, 2, 10))
    assert spans(found) == [
        (utc(2026, 1, 1, 6), utc(2026, 1, 1, 9), None),
        (utc(2026, 1, 1, 9), utc(2026, 1, 1, 12), "alice"),
        (utc(2026, 1, 1, 12), utc(2026, 1, 1, 14), "dan"),
        (utc(2026, 1, 1, 14), utc(2026, 1, 2, 9), "alice"),
        (utc(2026, 1, 2, 9), utc(2026, 1, 2, 10), "bob"),
    ]


def test_shifts_follow_restrictions_of_a_higher_layer() -> None:
    office = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}
    defs = definitions(
        {
            "r": [
                layer(["bob"], {"weeks": 1}, "00:00", "Europe/London", "2026-01-01"),
                layer(["alice"], {"days": 1}, "09:00", "Europe/London", "2026-01-01", restrictions=[office]),
            ]
        }
    )
    # Friday 2026-01-09 to Monday 2026-01-12 noon (London is on GMT: UTC equals local time).
    found = shifts(defs, [], "r", utc(2026, 1, 9), utc(2026, 1, 12, 12))
    assert spans(found) == [
        (utc(2026, 1, 9), utc(2026, 1, 9, 9), "bob"),
        (utc(2026, 1, 9, 9), utc(2026, 1, 9, 17), "alice"),
        (utc(2026, 1, 9, 17), utc(2026, 1, 12, 9), "bob"),  # the weekend joins into one shift
        (utc(2026, 1, 12, 9), utc(2026, 1, 12, 12), "alice"),
    ]


def test_shifts_of_an_empty_span_are_none() -> None:
    defs = definitions({"r": [layer(["alice"], {"days": 1}, "09:00", "UTC", "2026-01-01")]})
    assert shifts(defs, [], "r", utc(2026, 1, 2), utc(2026, 1, 2)) == []


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(["hours", "days", "weeks"]),
    length=st.integers(min_value=1, max_value=3),
    zone=st.sampled_from(ZONES),
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
    handoff=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    probes=st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=8),
)
def test_shifts_cover_the_span_without_gaps_and_agree_with_on_call(
    unit: str, length: int, zone: str, start: date, handoff: time, offset: timedelta, probes: list[float]
) -> None:
    office = {"days": ["mon", "wed", "fri"], "from": "08:30", "to": "18:00"}
    defs = definitions(
        {
            "r": [
                layer(["alice", "bob", "carol"], {unit: length}, handoff.strftime("%H:%M"), zone, start.isoformat()),
                layer(["dan", "alice"], {"days": 1}, "08:30", "Europe/London", start.isoformat(), restrictions=[office]),
            ]
        }
    )
    span_start = datetime.combine(start, time(0), tzinfo=UTC) + offset
    span_end = span_start + timedelta(days=9)
    found = shifts(defs, [], "r", span_start, span_end)
    assert found[0].start == span_start and found[-1].end == span_end
    assert all(a.end == b.start and a.person != b.person for a, b in pairwise(found))
    for fraction in probes:
        at = span_start + (span_end - span_start) * fraction
        if at == span_end:
            continue
        shift = next(shift for shift in found if shift.start <= at < shift.end)
        assert shift.person == on_call(defs, [], "r", at)
