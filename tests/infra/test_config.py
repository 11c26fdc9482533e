"""Context validation: a bad value fails synth with a message naming the key."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest

import app
from stacks.config import EscalationConfig, load_config
from stacks.config_checks import ENGLISH_VOICES
from stacks.config_errors import ConfigError
from tests.infra.support import CDK_JSON_CONTEXT, PROJECT, synthesize

APP_KEYS = {
    "originationIdentity", "smsApi", "pinpointApplicationId", "configurationSet", "ackTimeoutSeconds", "reminders",
    "repeat", "maxSmsSegments", "configureTwoWay", "opsEmail", "powertoolsLayerVersion", "messageTtlDays",
    "twoWayManagedElsewhere", "allowedCountries", "smsPartsPerSecond", "faultRetrySeconds", "maxSmsPerIncident",
    "maxSmsPerHour", "oncallFile", "handoffNoticeMinutes", "alarmIntegration",
    "stormBatchSeconds", "maxSmsSegmentsUnicode", "repeatAfterSeconds",
    "selfTestSchedule", "selfTestTimezone", "selfTestReplyMinutes", "workingHours", "workingHoursZone", "voiceAfterSeconds",
    "voiceId", "voiceMaxPricePerMinute", "spendBudgetUsd",
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
        ({"maxSmsSegmentsUnicode": 0}, "maxSmsSegmentsUnicode"),
        ({"maxSmsSegmentsUnicode": 11}, "maxSmsSegmentsUnicode"),
        ({"maxSmsSegmentsUnicode": "two"}, "maxSmsSegmentsUnicode"),
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
        ({"originationIdentity": "phone number 1"}, "originationIdentity"),
        ({"originationIdentity": "arn:aws:sns:eu-west-2:123456789012:topic"}, "originationIdentity"),
        ({"configurationSet": "has spaces"}, "configurationSet"),
        ({"allowedCountries": "UK"}, "allowedCountries"),
        ({"allowedCountries": "GB,XX"}, "allowedCountries"),
        ({"allowedCountries": "GBR"}, "allowedCountries"),
        ({"allowedCountries": "[GB"}, "allowedCountries"),
        ({"allowedCountries": "[44]"}, "allowedCountries"),
        ({"allowedCountries": 44}, "allowedCountries"),
        ({"twoWayManagedElsewhere": "perhaps"}, "twoWayManagedElsewhere"),
        (
            {"twoWayManagedElsewhere": "true", "configureTwoWay": "true", "originationIdentity": "phone-0123456789abcdef"},
            "twoWayManagedElsewhere",
        ),
        ({"alarmIntegration": "db team"}, "alarmIntegration"),
        ({"alarmIntegration": 7}, "alarmIntegration"),
        ({"smsPartsPerSecond": 0}, "smsPartsPerSecond"),
        ({"smsPartsPerSecond": 1001}, "smsPartsPerSecond"),
        ({"smsPartsPerSecond": "fast"}, "smsPartsPerSecond"),
        ({"faultRetrySeconds": 0}, "faultRetrySeconds"),
        ({"maxSmsPerIncident": 40}, "maxSmsPerIncident"),  # below what a 10-contact chain may need
        ({"faultRetrySeconds": 86_401}, "faultRetrySeconds"),
        ({"maxSmsPerIncident": -1}, "maxSmsPerIncident"),
        ({"maxSmsPerHour": "many"}, "maxSmsPerHour"),
        ({"selfTestSchedule": "weekly"}, "selfTestSchedule"),
        ({"selfTestSchedule": "cron(0 10 * * MON)"}, "selfTestSchedule"),  # five fields: Scheduler's cron has six
        ({"selfTestSchedule": "rate(1 fortnight)"}, "selfTestSchedule"),
        ({"selfTestSchedule": "cron(0 10 ? * MON *)", "selfTestTimezone": "Europe/Londres"}, "selfTestTimezone"),
        ({"selfTestReplyMinutes": 15}, "selfTestReplyMinutes"),  # the function waits for replies within Lambda's 15 min
        ({"selfTestReplyMinutes": 0}, "selfTestReplyMinutes"),
        ({"workingHours": "weekdays 9-5"}, "workingHours"),
        ({"workingHours": "Mon-Fri 09:00-25:00"}, "workingHours"),
        ({"workingHoursZone": "CET+1"}, "workingHoursZone"),
        ({"voiceId": "TATYANA"}, "voiceId"),  # a Polly voice, but Russian: the call's words are English
        ({"voiceId": "HAL"}, "voiceId"),
        ({"voiceMaxPricePerMinute": "10 cents"}, "voiceMaxPricePerMinute"),
        ({"voiceMaxPricePerMinute": "100.0"}, "voiceMaxPricePerMinute"),  # the service takes two whole digits
        ({"voiceMaxPricePerMinute": "0.0"}, "voiceMaxPricePerMinute"),
        ({"spendBudgetUsd": "-5"}, "spendBudgetUsd"),
        ({"spendBudgetUsd": "ten"}, "spendBudgetUsd"),
    ],
)
def test_invalid_context_raises_config_error_naming_the_key(context: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)
    assert str(raised.value).startswith(f"{key}:"), str(raised.value)


def test_every_voice_offered_is_one_the_service_model_takes_and_speaks_english() -> None:
    model = botocore.session.get_session().get_service_model("pinpoint-sms-voice-v2")
    voices = set(model.operation_model("SendVoiceMessage").input_shape.members["VoiceId"].enum)
    assert set(ENGLISH_VOICES) <= voices
    assert all(language.startswith("en-") for language in ENGLISH_VOICES.values())
    config = load_config({"voiceId": "amy", "voiceMaxPricePerMinute": "0.10", "spendBudgetUsd": "25"})
    assert (config.voice_id, config.voice_max_price_per_minute, config.spend_budget_usd) == ("AMY", "0.10", 25)
    assert (load_config({}).voice_id, load_config({}).voice_max_price_per_minute) == ("MATTHEW", "")


def test_strings_from_the_command_line_are_accepted() -> None:
    config = load_config(
        {
            "ackTimeoutSeconds": "120",
            "reminders": "3",
            "repeat": " 1 ",
            "maxSmsSegments": "2",
            "maxSmsSegmentsUnicode": "3",
            "configureTwoWay": "true",
            "originationIdentity": "phone-0123456789abcdef",
            "opsEmail": "ops@example.com",
        }
    )
    assert config.ack_timeout_seconds == 120
    assert config.reminders == 3
    assert config.repeat == 1
    assert config.max_sms_segments == 2
    assert config.max_sms_segments_unicode == 3
    assert config.configure_two_way is True
    assert config.two_way_phone_number_id == "phone-0123456789abcdef"


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "", False])
def test_false_spellings_leave_two_way_off(value: object) -> None:
    assert load_config({"configureTwoWay": value}).configure_two_way is False


@pytest.mark.parametrize(
    "identity",
    [
        "phone-0123456789abcdef",
        "pool-0123456789abcdef",
        "+447700900001",
        "OnCall",
        "arn:aws:sms-voice:eu-west-2:123456789012:phone-number/phone-0123456789abcdef",
        "arn:aws:sms-voice:eu-west-2:123456789012:pool/pool-0123456789abcdef",
        "arn:aws:sms-voice:eu-west-2:123456789012:sender-id/OnCall/GB",
    ],
)
def test_every_kind_of_origination_identity_is_accepted(identity: str) -> None:
    assert load_config({"originationIdentity": identity}).origination_identity == identity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("GB", ("GB",)),
        ("gb, IE ", ("GB", "IE")),
        ("IE,GB,GB", ("GB", "IE")),
        ('["ie", "GB"]', ("GB", "IE")),
        (["US", "CA"], ("CA", "US")),
        ([], ()),
    ],
)
def test_allowed_countries_are_read_from_a_list_or_json_and_normalized(value: object, expected: tuple[str, ...]) -> None:
    assert load_config({"allowedCountries": value}).allowed_countries == expected


def test_a_bad_country_is_named_in_the_error() -> None:
    with pytest.raises(
        ConfigError, match=r"^allowedCountries: 'UK' is not an ISO 3166-1 alpha-2 country code \(the United Kingdom is GB\)"
    ):
        load_config({"allowedCountries": "IE,UK"})


def test_sms_limits_have_their_defaults_and_accept_command_line_strings() -> None:
    defaults = load_config({})
    assert (defaults.sms_parts_per_second, defaults.fault_retry_seconds) == (1, 900)
    # maxSmsPerIncident derived: 10 pages, 10 notices, 21 closing texts, and a margin for automatic answers.
    assert (defaults.max_sms_per_incident, defaults.max_sms_per_hour) == (41 + 40, 1000)
    config = load_config(
        {"smsPartsPerSecond": "20", "faultRetrySeconds": "3600", "maxSmsPerIncident": "500", "maxSmsPerHour": "50"}
    )
    assert (config.sms_parts_per_second, config.fault_retry_seconds) == (20, 3600)
    assert (config.max_sms_per_incident, config.max_sms_per_hour) == (500, 50)


@pytest.mark.parametrize(
    ("context", "keys"),
    [
        ({}, ["originationIdentity", "configureTwoWay"]),
        ({"originationIdentity": "phone-0123456789abcdef"}, ["configureTwoWay"]),
        ({"twoWayManagedElsewhere": True}, ["originationIdentity"]),
        ({"originationIdentity": "phone-0123456789abcdef", "configureTwoWay": "true"}, []),
        ({"originationIdentity": "pool-0123456789abcdef", "twoWayManagedElsewhere": "true"}, []),
    ],
)
def test_deploy_blockers_name_the_missing_setting(context: dict[str, Any], keys: list[str]) -> None:
    blockers = load_config(context).deploy_blockers()
    assert [blocker.split(":")[0] for blocker in blockers] == keys


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


def test_the_app_reads_every_setting_cdk_json_documents() -> None:
    # A setting in cdk.json that the app never reads would keep its default whatever -c says (CDK's own flags aside).
    settings = {key for key in CDK_JSON_CONTEXT if not key.startswith(("@aws-cdk", "aws-cdk", "@aws-cdk-containers"))}
    assert settings == set(app.CONTEXT_KEYS)


def test_max_sms_segments_unicode_from_the_command_line_reaches_every_function_that_texts(tmp_path: Path) -> None:
    synth = synthesize(tmp_path, maxSmsSegmentsUnicode="3")  # as `cdk deploy -c maxSmsSegmentsUnicode=3` passes it
    texting = [
        function["Properties"]["Environment"]["Variables"]
        for function in synth.of_type("AWS::Lambda::Function").values()
        if "MAX_SMS_SEGMENTS" in function["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert texting and all(env["MAX_SMS_SEGMENTS_UNICODE"] == "3" for env in texting)


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
