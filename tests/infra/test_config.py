"""Context validation: a bad value fails synth with a message naming the key."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import app
from stacks.config import ConfigError, EscalationConfig, load_config
from tests.infra.support import CDK_JSON_CONTEXT, PROJECT

APP_KEYS = {
    "originationIdentity", "smsApi", "pinpointApplicationId", "configurationSet", "ackTimeoutSeconds", "reminders",
    "repeat", "maxSmsSegments", "configureTwoWay", "opsEmail", "powertoolsLayerVersion", "messageTtlDays",
}  # fmt: skip


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"ackTimeoutSeconds": "abc"}, "ackTimeoutSeconds"),
        ({"ackTimeoutSeconds": 0}, "ackTimeoutSeconds"),
        ({"reminders": 99}, "reminders"),
        ({"reminders": "x"}, "reminders"),
        ({"repeat": -1}, "repeat"),
        ({"maxSmsSegments": 11}, "maxSmsSegments"),
        ({"messageTtlDays": "soon"}, "messageTtlDays"),
        ({"powertoolsLayerVersion": "latest"}, "powertoolsLayerVersion"),
        ({"smsApi": "sns"}, "smsApi"),
        ({"smsApi": "pinpoint"}, "pinpointApplicationId"),
        ({"smsApi": "pinpoint", "pinpointApplicationId": "my-app"}, "pinpointApplicationId"),
        ({"configureTwoWay": "maybe"}, "configureTwoWay"),
        ({"configureTwoWay": True, "originationIdentity": "+447700900001"}, "originationIdentity"),
        ({"configureTwoWay": "true", "originationIdentity": ""}, "originationIdentity"),
        ({"configureTwoWay": True, "originationIdentity": "pool-0123456789abcdef"}, "originationIdentity"),
        ({"opsEmail": "nope"}, "opsEmail"),
        ({"originationIdentity": 447700900001}, "originationIdentity"),
    ],
)
def test_invalid_context_raises_config_error_naming_the_key(context: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)
    assert str(raised.value).startswith(f"{key}:"), str(raised.value)


def test_strings_from_the_command_line_are_accepted() -> None:
    config = load_config(
        {
            "ackTimeoutSeconds": "120",
            "reminders": "3",
            "repeat": " 1 ",
            "maxSmsSegments": "2",
            "configureTwoWay": "true",
            "originationIdentity": "phone-0123456789abcdef",
            "opsEmail": "ops@example.com",
        }
    )
    assert config.ack_timeout_seconds == 120
    assert config.reminders == 3
    assert config.repeat == 1
    assert config.max_sms_segments == 2
    assert config.configure_two_way is True
    assert config.two_way_phone_number_id == "phone-0123456789abcdef"


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "", False])
def test_false_spellings_leave_two_way_off(value: object) -> None:
    assert load_config({"configureTwoWay": value}).configure_two_way is False


def test_two_way_accepts_a_phone_number_arn() -> None:
    arn = "arn:aws:sms-voice:eu-west-1:123456789012:phone-number/phone-0123456789abcdef"
    assert load_config({"configureTwoWay": "true", "originationIdentity": arn}).two_way_phone_number_id == arn


def test_pinpoint_with_an_application_id_is_accepted() -> None:
    config = load_config({"smsApi": "pinpoint", "pinpointApplicationId": "0123456789abcdef0123456789abcdef"})
    assert config.sms_api == "pinpoint"


def test_cdk_json_defaults_are_valid_and_match_the_code_defaults() -> None:
    from_cdk_json = load_config({key: value for key, value in CDK_JSON_CONTEXT.items() if key in APP_KEYS})
    assert from_cdk_json == load_config({}) == EscalationConfig()


def test_cdk_json_documents_every_setting_the_app_reads() -> None:
    assert set(app.CONTEXT_KEYS) - {"stackName"} == APP_KEYS
    assert set(app.CONTEXT_KEYS) <= set(CDK_JSON_CONTEXT)


def test_cli_synth_with_invalid_context_exits_1_naming_the_key(tmp_path: Path) -> None:
    # The CDK CLI hands context (cdk.json + -c) to the app in CDK_CONTEXT_JSON; run app.py the same way.
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**CDK_JSON_CONTEXT, "reminders": "x"}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "Invalid configuration: reminders:" in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()
