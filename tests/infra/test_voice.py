"""Voice calls in the template: only when some level may call, and each role with exactly what it needs."""

from typing import Any

import pytest

from stacks.config import load_config
from stacks.oncall_config import parse_oncall
from stacks.voice import calls_wanted
from tests.infra import test_iam
from tests.infra.support import PHONE_NUMBER_ID, Synth, actions_of, resources_for, role_statements, synthesize

SMS_ARN = "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:"
CALLS_GROUP = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/IncidentEscalation-calls/*"


@pytest.fixture(scope="module")
def voice_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A chain of plain numbers called two minutes after their page, from a phone number; a voice, a cap, a budget."""
    return synthesize(
        tmp_path_factory.mktemp("voice"), voiceAfterSeconds="120", originationIdentity=PHONE_NUMBER_ID, voiceId="AMY",
        voiceMaxPricePerMinute="0.10", spendBudgetUsd="30",
    )  # fmt: skip


def role(synth: Synth, construct: Any) -> list[dict[str, Any]]:
    return role_statements(synth, synth.logical_id(construct))


def event_types(synth: Synth) -> list[str]:
    (configuration_set,) = synth.of_type("AWS::SMSVOICE::ConfigurationSet").values()
    (destination,) = configuration_set["Properties"]["EventDestinations"]
    types: list[str] = destination["MatchingEventTypes"]
    return types


def test_without_calls_there_is_nothing_of_them(default_synth: Synth) -> None:
    assert default_synth.stack.voice is None
    assert not [name for name in default_synth.resources if name.startswith("VoiceCalls")]
    assert "scheduler:CreateSchedule" not in actions_of(role(default_synth, default_synth.stack.page.role))
    assert event_types(default_synth) == ["TEXT_ALL"]


def test_with_calls_the_function_calls_from_the_configured_number_only(voice_synth: Synth) -> None:
    voice = voice_synth.stack.voice
    granted = role(voice_synth, voice.handler.role)
    assert resources_for(granted, "sms-voice:SendVoiceMessage") == {
        f"{SMS_ARN}phone-number/{PHONE_NUMBER_ID}",
        f"{SMS_ARN}configuration-set/IncidentEscalation-texts",
        f"{SMS_ARN}opt-out-list/*",
        f"{SMS_ARN}protect-configuration/*",
    }
    assert "sms-voice:SendTextMessage" not in actions_of(granted)  # a call function never texts
    assert event_types(voice_synth) == ["TEXT_ALL", "VOICE_ALL"]  # voice receipts reach the timeline


def test_the_call_function_gets_exactly_the_incident_table_actions_its_code_makes(
    voice_synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(test_iam.HANDLER_MODULES, "voice", "place_call")
    actions = test_iam.repository_actions()
    methods, fields = test_iam.handler_uses("voice")
    assert methods == {"get", "get_many", "append"}
    expected = set().union(*(actions[method] for method in methods))
    arn = f"${{{voice_synth.logical_id(voice_synth.stack.storage.incidents)}.Arn}}"
    granted = {a for s in role(voice_synth, voice_synth.stack.voice.handler.role) if arn in s["Resource"] for a in s["Action"]}
    assert granted == expected
    assert {"once", "message_log"} <= fields


def test_the_page_step_may_only_create_call_schedules_and_hand_over_the_calls_role(voice_synth: Synth) -> None:
    voice = voice_synth.stack.voice
    granted = role(voice_synth, voice_synth.stack.page.role)
    assert resources_for(granted, "scheduler:CreateSchedule") == {CALLS_GROUP}
    assert "scheduler:DeleteSchedule" not in actions_of(granted)
    (pass_role,) = [statement for statement in granted if "iam:PassRole" in statement["Action"]]
    assert pass_role["Resource"] == [f"${{{voice_synth.logical_id(voice.scheduler_role)}.Arn}}"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    invoke = role(voice_synth, voice.scheduler_role)
    assert resources_for(invoke, "lambda:InvokeFunction") == {f"${{{voice_synth.logical_id(voice.function)}.Arn}}"}


def test_failed_calls_alarm_to_ops(voice_synth: Synth) -> None:
    alarms = {
        name: alarm for name, alarm in voice_synth.of_type("AWS::CloudWatch::Alarm").items() if name.startswith("VoiceCalls")
    }
    assert len(alarms) == 2
    ops = {"Ref": voice_synth.logical_id(voice_synth.stack.messaging.ops_topic)}
    assert all(alarm["Properties"]["AlarmActions"] == [ops] for alarm in alarms.values())


def test_a_persons_voice_rule_turns_calls_on() -> None:
    texted = parse_oncall('people: {alice: {name: A, phone: "+447700900001", zone: Europe/London}}')
    called = parse_oncall(
        'people: {alice: {name: A, phone: "+447700900001", zone: Europe/London, notify: [{sms: 0}, {voice: 1}]}}'
    )
    assert not calls_wanted(load_config({}), texted)
    assert calls_wanted(load_config({}), called)
    assert calls_wanted(load_config({"voiceAfterSeconds": "60"}), None)


def spend_alarm_metrics(synth: Synth) -> dict[str, tuple[str, float]]:
    """Each receipts alarm on a spend percentage: its id prefix -> (metric, threshold)."""
    return {
        name: (alarm["Properties"]["MetricName"], alarm["Properties"]["Threshold"])
        for name, alarm in synth.of_type("AWS::CloudWatch::Alarm").items()
        if alarm["Properties"].get("MetricName", "").endswith("SpendPercent")
    }


def test_the_voice_and_its_price_cap_reach_the_call_and_spend_is_watched_for_calls_and_the_budget(
    voice_synth: Synth, default_synth: Synth
) -> None:
    variables = voice_synth.resources[voice_synth.logical_id(voice_synth.stack.voice.function)]["Properties"]["Environment"]
    assert (variables["Variables"]["VOICE_ID"], variables["Variables"]["VOICE_MAX_PRICE_PER_MINUTE"]) == ("AMY", "0.10")
    check = voice_synth.resources[voice_synth.logical_id(voice_synth.stack.receipts.spend_check.function)]["Properties"]
    assert {k: v for k, v in check["Environment"]["Variables"].items() if k in ("CALLS", "SPEND_BUDGET_USD")} == {
        "CALLS": "1", "SPEND_BUDGET_USD": "30",
    }  # fmt: skip
    watched = sorted(spend_alarm_metrics(voice_synth).values())
    assert watched == sorted((metric, percent) for metric in ("SmsSpendPercent", "VoiceSpendPercent", "BudgetSpendPercent")
                             for percent in (80, 100))  # fmt: skip
    assert sorted(spend_alarm_metrics(default_synth).values()) == [("SmsSpendPercent", 80), ("SmsSpendPercent", 100)]


def test_the_operator_function_may_place_a_test_call_only_where_the_stack_calls(voice_synth: Synth, default_synth: Synth) -> None:
    called = role(voice_synth, voice_synth.stack.operator.role)
    assert resources_for(called, "sms-voice:SendVoiceMessage") == resources_for(
        role(voice_synth, voice_synth.stack.voice.handler.role), "sms-voice:SendVoiceMessage"
    )
    variables = voice_synth.resources[voice_synth.logical_id(voice_synth.stack.operator.function)]["Properties"]["Environment"]
    assert (variables["Variables"]["CALLS"], variables["Variables"]["VOICE_ID"]) == ("1", "AMY")
    assert "sms-voice:SendVoiceMessage" not in actions_of(role(default_synth, default_synth.stack.operator.role))
    plain = default_synth.resources[default_synth.logical_id(default_synth.stack.operator.function)]["Properties"]
    assert "CALLS" not in plain["Environment"]["Variables"]
