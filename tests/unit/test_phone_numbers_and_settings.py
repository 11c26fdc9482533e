"""Phone number rules and the handlers' configuration."""

from __future__ import annotations

import pytest

from escalation.platform.settings import ConfigurationError, get_settings
from escalation.sms.phone_numbers import is_e164, mask


@pytest.mark.parametrize("number", ["+447700900001", "+14255550182", "+1234567", "+123456789012345"])
def test_e164_numbers_are_accepted(number: str) -> None:
    assert is_e164(number)


@pytest.mark.parametrize(
    "number",
    [
        "447700900001",
        "+0447700900001",
        "+123456",
        "+1234567890123456",
        "+44 7700 900001",
        "+44770090000a",
        "",
        None,
        447700900001,
    ],
)
def test_non_e164_values_are_rejected(number: object) -> None:
    assert not is_e164(number)


def test_mask_keeps_country_prefix_and_last_two_digits() -> None:
    assert mask("+447700900001") == "+44********01"
    assert len(mask("+447700900001")) == len("+447700900001")
    assert mask("+1234") == "*****"


def test_settings_read_the_stack_environment(aws_env: dict[str, str]) -> None:
    settings = get_settings()
    assert settings.incidents_table == "Incidents"
    assert settings.messages_table == "Messages"
    assert settings.sms_api == "v2"
    assert settings.max_sms_segments == 1
    assert settings.message_ttl_days == 30
    assert settings.repeat == 0


def test_unknown_sms_api_fails_naming_the_variable(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_API", "sns")
    with pytest.raises(ConfigurationError, match="SMS_API"):
        get_settings()


def test_missing_table_fails_naming_the_variable(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESSAGES_TABLE")
    with pytest.raises(ConfigurationError, match="MESSAGES_TABLE"):
        get_settings()


def test_non_integer_segment_budget_fails(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_SMS_SEGMENTS", "two")
    with pytest.raises(ConfigurationError, match="MAX_SMS_SEGMENTS"):
        get_settings()
