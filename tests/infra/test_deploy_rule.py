"""A template that could not hear replies synthesizes (demo, tests, CI) but is refused at deploy, naming the key."""

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.support import Synth

RULE = "RepliesMustReachTheStack"


def evaluate(expression: Any) -> bool:
    """The rule-specific intrinsics the stack uses, evaluated as CloudFormation does (literal arguments only)."""
    ((function, argument),) = expression.items()
    if function == "Fn::Contains":
        values, value = argument
        return bool(value in values)
    if function == "Fn::Equals":
        return bool(argument[0] == argument[1])
    if function == "Fn::Not":
        return not evaluate(argument[0])
    raise AssertionError(f"unexpected rule function {function}")


def refusals(synth: Synth) -> list[str]:
    """The descriptions of the assertions of our rule that would fail at deploy."""
    rule = synth.raw.get("Rules", {}).get(RULE)
    if rule is None:
        return []
    assert "RuleCondition" not in rule  # it always applies
    return [assertion["AssertDescription"] for assertion in rule["Assertions"] if not evaluate(assertion["Assert"])]


def test_with_no_settings_the_template_is_refused_naming_both_keys(default_synth: Synth) -> None:
    messages = refusals(default_synth)
    assert [message.split(":")[0] for message in messages] == ["originationIdentity", "configureTwoWay"]
    assert "twoWayManagedElsewhere=true" in messages[1]


def test_pinpoint_without_an_identity_is_refused_too(pinpoint_synth: Synth) -> None:
    assert [message.split(":")[0] for message in refusals(pinpoint_synth)] == ["originationIdentity", "configureTwoWay"]


@pytest.mark.parametrize("name", ["two_way", "limited"])
def test_a_number_whose_replies_reach_the_stack_deploys(request: pytest.FixtureRequest, name: str) -> None:
    synth: Synth = request.getfixturevalue(f"{name}_synth")
    assert RULE not in synth.raw.get("Rules", {})


def test_the_rule_evaluation_above_can_refuse_and_accept() -> None:
    assert evaluate({"Fn::Contains": [["deployable"], "refused"]}) is False
    assert evaluate({"Fn::Not": [{"Fn::Equals": ["phone-1", ""]}]}) is True


def test_synth_warns_that_the_template_cannot_be_deployed(default_synth: Synth) -> None:
    annotations = Annotations.from_stack(default_synth.stack)
    for key in ("originationIdentity", "configureTwoWay"):
        annotations.has_warning("*", Match.string_like_regexp(f"this template cannot be deployed: {key}:"))


def test_synth_warns_when_destinations_are_not_limited(default_synth: Synth, limited_synth: Synth) -> None:
    pattern = Match.string_like_regexp("allowedCountries is empty: SMS may be sent to any country")
    Annotations.from_stack(default_synth.stack).has_warning("*", pattern)
    Annotations.from_stack(limited_synth.stack).has_no_warning("*", pattern)
    Annotations.from_stack(limited_synth.stack).has_no_warning("*", Match.string_like_regexp("cannot be deployed"))


def test_synth_warns_when_the_acknowledgement_window_is_short_enough_for_a_slow_send_to_use_it_up(
    default_synth: Synth, two_way_synth: Synth
) -> None:
    pattern = Match.string_like_regexp("a very slow send can use it up and count as silence")
    Annotations.from_stack(two_way_synth.stack).has_warning("*", pattern)  # ackTimeoutSeconds=120
    Annotations.from_stack(default_synth.stack).has_no_warning("*", pattern)  # 300, the default
