"""Notification rules per person (oncall.yaml `notify`), checked at synth, and the setting for chains of numbers."""

from __future__ import annotations

from typing import Any

import pytest

from escalation.oncall.definitions import Definitions
from escalation.voice.ssml import MAX_SPOKEN_DESCRIPTION, call_script, spelled
from stacks.config import load_config
from stacks.config_errors import ConfigError
from stacks.oncall_config import OncallConfigError, parse_oncall

ONCALL = """
people:
  alice: {{name: Alice, phone: "+447700900001", zone: Europe/London, notify: {notify}}}
  bob: {{name: Bob, phone: "+447700900002", zone: Europe/London}}
rotations:
  primary:
    layers: [{{participants: [alice, bob], shift: {{weeks: 1}}, handoff: "09:00", zone: Europe/London, start: 2026-01-05}}]
policies:
  payments:
    levels:
      - {{targets: [{{rotation: primary}}], ack_timeout_seconds: 300}}
      - {{targets: [{{person: bob}}], ack_timeout_seconds: 600}}
"""


def parse(notify: str) -> Definitions:
    return parse_oncall(ONCALL.format(notify=notify))


def test_a_text_then_a_call_two_minutes_later() -> None:
    definitions = parse("[{sms: 0}, {voice: 2}]")
    assert definitions.people["alice"].voice_after_seconds == 120
    assert definitions.people["bob"].voice_after_seconds is None  # no rules: texted only
    assert Definitions.model_validate_json(definitions.model_dump_json()) == definitions  # as the functions read it


@pytest.mark.parametrize(
    ("notify", "error"),
    [
        ("[{voice: 2}]", "people.alice.notify: the list starts with {sms: 0}: the level's text goes when it pages the person"),
        ("[{sms: 1}, {voice: 2}]", "people.alice.notify: the list starts with {sms: 0}"),
        ("[{sms: 0}, {fax: 1}]", "people.alice.notify[1]: unknown method 'fax' (known: sms, voice)"),
        (
            "[{sms: 0}, {voice: 1, sms: 2}]",
            "people.alice.notify[1]: must be one method and its delay in minutes, e.g. {voice: 2}",
        ),
        ("[{sms: 0}, voice]", "people.alice.notify[1]: must be one method and its delay in minutes"),
        ("[{sms: 0}, {voice: -1}]", "people.alice.notify[1]: voice: the delay must be whole minutes from 0 to 1440, got -1"),
        ("[{sms: 0}, {voice: 1.5}]", "people.alice.notify[1]: voice: the delay must be whole minutes from 0 to 1440, got 1.5"),
        ("[{sms: 0}, {voice: yes}]", "people.alice.notify[1]: voice: the delay must be whole minutes from 0 to 1440, got True"),
        ("[{sms: 0}, {voice: 2}, {voice: 3}]", "people.alice.notify: [2]: voice is listed twice; give each method once"),
        ("[]", "people.alice.notify: the list starts with {sms: 0}"),
        (
            "[{sms: 0}, {voice: 5}]",
            "people.alice.notify[1].voice: a call 5 minutes after the page never rings: policies.payments.levels[0] pages "
            "them and ends after 300 s (ack_timeout_seconds); call sooner or wait longer",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_path(notify: str, error: str) -> None:
    with pytest.raises(OncallConfigError) as raised:
        parse(notify)
    assert f"oncall.yaml: {error}" in str(raised.value)


def test_the_window_check_follows_rotations_and_people() -> None:
    # bob is in the rotation of level 0 (300 s) and named at level 1 (600 s): a 5-minute call never rings at level 0.
    text = ONCALL.format(notify="[{sms: 0}]").replace(
        '"+447700900002", zone: Europe/London}', '"+447700900002", zone: Europe/London, notify: [{sms: 0}, {voice: 5}]}'
    )
    with pytest.raises(OncallConfigError, match=r"people\.bob\.notify\[1\]\.voice: .*policies\.payments\.levels\[0\]"):
        parse_oncall(text)


@pytest.mark.parametrize(
    ("context", "error"),
    [
        ({"voiceAfterSeconds": "300"}, "voiceAfterSeconds: a call 300 s after the page never rings"),
        ({"voiceAfterSeconds": "-1"}, "voiceAfterSeconds: must be between 0 and 86400, got -1"),
        ({"voiceAfterSeconds": "soon"}, "voiceAfterSeconds: must be a whole number"),
        (
            {"voiceAfterSeconds": "60", "smsApi": "pinpoint", "pinpointApplicationId": "0" * 32},
            "voiceAfterSeconds: calls need smsApi=v2",
        ),
    ],
)
def test_voice_after_seconds_is_checked(context: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_config(context)


def test_voice_after_seconds_defaults_to_never() -> None:
    assert load_config({}).voice_after_seconds == 0
    assert load_config({"voiceAfterSeconds": "120"}).voice_after_seconds == 120


def test_a_call_says_what_the_id_digit_by_digit_and_how_to_answer_twice() -> None:
    ssml = call_script("4821", "Disk full on db-1 & <replica>")
    assert ssml.startswith("<speak>") and ssml.endswith("</speak>")
    assert ssml.count("This is an incident page.") == 2  # said twice
    assert ssml.count(f"Reply YES {spelled('4821')} by text to acknowledge.") == 2
    assert '<say-as interpret-as="characters">4821</say-as>' in ssml
    assert "Disk full on db-1 &amp; &lt;replica&gt;" in ssml  # escaped: the SSML stays well formed


def test_a_storm_call_counts_the_open_incidents_and_asks_for_yes_all() -> None:
    ssml = call_script("4821", "Disk full", open_incidents=12)
    assert ssml.count("You have 12 open incidents.") == 2 and "Reply YES ALL by text" in ssml


def test_a_long_description_is_cut_short() -> None:
    ssml = call_script("1", "word " * 500)
    assert len(ssml) < 2 * MAX_SPOKEN_DESCRIPTION + 800 and "..." in ssml
    with pytest.raises(ValueError, match="open_incidents"):
        call_script("1", "x", open_incidents=0)
