"""Every alarm can reach ops: alarm action -> SNS topic -> topic policy -> KMS key policy, walked in the template.

A topic policy replaces SNS's default one, and a customer-managed key must admit the publishing service: a
missing Allow at either link makes an alarm fire into nothing. The walker evaluates the policies for the request
CloudWatch makes (service principal, this account, the alarm's ARN, TLS, the topic's encryption context) and
reports every link that would refuse it; the mutation tests below prove it notices each kind of break.
"""

import copy
import fnmatch
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.infra.support import Synth, as_list

ACCOUNT = "111122223333"
REGION = "eu-west-2"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
CLOUDWATCH = "cloudwatch.amazonaws.com"
ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:sns:topicArn"
ALARM_ACTION_LISTS = ("AlarmActions", "OKActions", "InsufficientDataActions")


class Unsupported(Exception):
    """The template uses something this walker cannot evaluate: better to fail than to guess."""


class Walker:
    """Resolves values of one template and evaluates its SNS topic and KMS key policies."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, dict[str, Any]] = template["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: resource for name, resource in self.resources.items() if resource["Type"] == resource_type}

    def resolve(self, value: Any) -> str:
        """A concrete string for a template value, as CloudFormation would produce it in ACCOUNT and REGION."""
        if isinstance(value, str):
            for name, concrete in PSEUDO.items():
                value = value.replace(f"${{{name}}}", concrete)
            return value
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                if argument in PSEUDO:
                    return PSEUDO[argument]
                return self._ref(argument)
            if function == "Fn::GetAtt" and argument[1] == "Arn":
                return self._arn(argument[0])
            if function == "Fn::Join":
                separator, parts = argument
                return str(separator).join(self.resolve(part) for part in parts)
        raise Unsupported(f"cannot resolve {value!r}")

    def _ref(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        if resource["Type"] == "AWS::SNS::Topic":
            name = resource["Properties"].get("TopicName")
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.resolve(name) if name else logical_id + '-generated'}"
        raise Unsupported(f"Ref to {resource['Type']}")

    def _arn(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        if resource["Type"] == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical_id}"
        raise Unsupported(f"Arn of {resource['Type']}")

    def allows(self, document: dict[str, Any], *, action: str, resource: str, context: dict[str, str]) -> bool:
        """IAM evaluation of one resource policy for a request by the CloudWatch service principal."""
        allowed = False
        for statement in document["Statement"]:
            if {"NotPrincipal", "NotAction", "NotResource"} & set(statement):
                raise Unsupported(f"statement with a Not* element: {statement}")
            if not (
                _principal_matches(statement["Principal"])
                and any(fnmatch.fnmatchcase(action, pattern) for pattern in as_list(statement["Action"]))
                and any(fnmatch.fnmatchcase(resource, self.resolve(value)) for value in as_list(statement["Resource"]))
                and self._conditions_hold(statement.get("Condition", {}), context)
            ):
                continue
            if statement["Effect"] == "Deny":
                return False
            allowed = True
        return allowed

    def _conditions_hold(self, conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
        for operator, tests in conditions.items():
            if operator not in ("StringEquals", "ArnEquals", "Bool", "StringLike", "ArnLike"):
                raise Unsupported(f"condition operator {operator}")
            for key, expected in tests.items():
                if key not in context:
                    return False  # a condition on a key the request does not carry never holds
                values = [self.resolve(value) for value in as_list(expected)]
                if operator in ("StringLike", "ArnLike"):
                    matched = any(fnmatch.fnmatchcase(context[key], value) for value in values)
                else:
                    matched = context[key] in values
                if not matched:
                    return False
        return True


def _principal_matches(principal: Any) -> bool:
    if principal == "*" or principal == {"AWS": "*"}:
        return True
    return isinstance(principal, dict) and CLOUDWATCH in as_list(principal.get("Service", []))


def delivery_problems(template: dict[str, Any]) -> tuple[int, list[str]]:
    """(alarm actions walked, every link that would refuse CloudWatch's publish)."""
    walker = Walker(template)
    problems: list[str] = []
    walked = 0
    alarms = walker.of_type("AWS::CloudWatch::Alarm")
    if not alarms:
        problems.append("the template has no alarms")
    for alarm_id, alarm in alarms.items():
        properties = alarm["Properties"]
        if not properties.get("AlarmActions"):
            problems.append(f"{alarm_id}: no alarm action")
        alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{properties.get('AlarmName', alarm_id)}"
        context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": alarm_arn, "aws:SecureTransport": "true"}
        for action in (action for key in ALARM_ACTION_LISTS for action in properties.get(key, [])):
            walked += 1
            problems.extend(f"{alarm_id}: {problem}" for problem in _topic_problems(walker, action, context))
    return walked, problems


def _topic_problems(walker: Walker, action: Any, context: dict[str, str]) -> list[str]:
    topic_id = action.get("Ref") if isinstance(action, dict) else None
    if topic_id not in walker.of_type("AWS::SNS::Topic"):
        return [f"action {action!r} is not an SNS topic of this stack"]
    topic_arn = walker.resolve(action)
    policies = [
        policy
        for policy in walker.of_type("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in policy["Properties"]["Topics"]
    ]
    if len(policies) != 1:
        return [f"topic {topic_id} has {len(policies)} topic policies (expected exactly one, which replaces the default)"]
    problems = []
    if not walker.allows(policies[0]["Properties"]["PolicyDocument"], action="sns:Publish", resource=topic_arn, context=context):
        problems.append(f"topic policy of {topic_id} does not let CloudWatch publish")
    key = walker.resources[topic_id]["Properties"].get("KmsMasterKeyId")
    if key is None:
        return problems  # unencrypted: nothing more to pass
    key_id = key.get("Fn::GetAtt", [None])[0] if isinstance(key, dict) else None
    if key_id not in walker.of_type("AWS::KMS::Key"):
        return [*problems, f"topic {topic_id} is encrypted with {key!r}, not a key of this stack CloudWatch can be admitted to"]
    key_context = {**context, ENCRYPTION_CONTEXT: topic_arn}
    document = walker.resources[key_id]["Properties"]["KeyPolicy"]
    key_arn = walker.resolve(key)
    for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
        if not walker.allows(document, action=kms_action, resource=key_arn, context=key_context):
            problems.append(f"key {key_id} does not let CloudWatch {kms_action} for topic {topic_id}")
    return problems


def test_every_alarm_action_can_publish_to_its_topic_through_its_key(any_synth: Synth) -> None:
    walked, problems = delivery_problems(any_synth.raw)
    assert problems == []
    assert walked == len(any_synth.of_type("AWS::CloudWatch::Alarm"))  # one action each, all walked


# -- the walker notices each kind of break ---------------------------------------------------------------------


def _ops(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (alarm,) = [alarm for alarm in template["Resources"].values() if alarm["Type"] == "AWS::CloudWatch::Alarm"][:1]
    topic_id = alarm["Properties"]["AlarmActions"][0]["Ref"]
    return topic_id, template["Resources"][topic_id]


def _topic_policy(template: dict[str, Any]) -> dict[str, Any]:
    topic_id, _ = _ops(template)
    (policy,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SNS::TopicPolicy" and {"Ref": topic_id} in resource["Properties"]["Topics"]
    ]
    return policy


def _cloudwatch_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [statement for statement in document["Statement"] if _principal_matches(statement["Principal"])]


def _key_policy(template: dict[str, Any]) -> dict[str, Any]:
    _, topic = _ops(template)
    document: dict[str, Any] = template["Resources"][topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"][
        "KeyPolicy"
    ]
    return document


def _drop_topic_allow(template: dict[str, Any]) -> None:
    # The base's mistake: enforce_ssl's policy with its Deny only.
    document = _topic_policy(template)["Properties"]["PolicyDocument"]
    document["Statement"] = [statement for statement in document["Statement"] if statement["Effect"] == "Deny"]


def _other_account_in_topic_policy(template: dict[str, Any]) -> None:
    document = _topic_policy(template)["Properties"]["PolicyDocument"]
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            statement["Condition"]["StringEquals"]["aws:SourceAccount"] = "444455556666"


def _deny_everyone(template: dict[str, Any]) -> None:
    _topic_policy(template)["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "*"}
    )


def _no_topic_policy(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    policy = _topic_policy(template)
    del resources[next(name for name, resource in resources.items() if resource is policy)]


def _drop_key_statement(template: dict[str, Any]) -> None:
    document = _key_policy(template)
    document["Statement"] = [
        statement for statement in document["Statement"] if CLOUDWATCH not in as_list(statement["Principal"].get("Service", []))
    ]


def _key_context_of_another_topic(template: dict[str, Any]) -> None:
    for statement in _key_policy(template)["Statement"]:
        if CLOUDWATCH in as_list(statement["Principal"].get("Service", [])):
            statement["Condition"]["StringEquals"][ENCRYPTION_CONTEXT] = f"arn:aws:sns:{REGION}:{ACCOUNT}:someone-else"


def _key_without_generate_data_key(template: dict[str, Any]) -> None:
    for statement in _key_policy(template)["Statement"]:
        if CLOUDWATCH in as_list(statement["Principal"].get("Service", [])):
            statement["Action"] = ["kms:Decrypt"]


def _aws_managed_key(template: dict[str, Any]) -> None:
    _, topic = _ops(template)
    topic["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"


def _action_outside_the_stack(template: dict[str, Any]) -> None:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            resource["Properties"]["AlarmActions"] = [f"arn:aws:sns:{REGION}:{ACCOUNT}:elsewhere"]
            return


def _alarm_without_action(template: dict[str, Any]) -> None:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            del resource["Properties"]["AlarmActions"]
            return


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_drop_topic_allow, "topic policy of .* does not let CloudWatch publish"),
        (_other_account_in_topic_policy, "topic policy of .* does not let CloudWatch publish"),
        (_deny_everyone, "topic policy of .* does not let CloudWatch publish"),
        (_no_topic_policy, "has 0 topic policies"),
        (_drop_key_statement, "does not let CloudWatch kms:GenerateDataKey"),
        (_key_context_of_another_topic, "does not let CloudWatch kms:Decrypt"),
        (_key_without_generate_data_key, "does not let CloudWatch kms:GenerateDataKey for topic"),
        (_aws_managed_key, "encrypted with 'alias/aws/sns'"),
        (_action_outside_the_stack, "is not an SNS topic of this stack"),
        (_alarm_without_action, "no alarm action"),
    ],
)
def test_a_broken_link_is_reported(default_synth: Synth, break_it: Callable[[dict[str, Any]], None], expected: str) -> None:
    template = copy.deepcopy(default_synth.raw)
    assert delivery_problems(template)[1] == []  # the same template, unbroken, passes
    break_it(template)
    _, problems = delivery_problems(template)
    assert problems, f"{break_it.__name__} went unnoticed"
    assert any(re.search(expected, problem) for problem in problems), problems


def test_a_condition_the_walker_cannot_evaluate_fails_loudly(default_synth: Synth) -> None:
    template = copy.deepcopy(default_synth.raw)
    for statement in _topic_policy(template)["Properties"]["PolicyDocument"]["Statement"]:
        statement.setdefault("Condition", {})["IpAddress"] = {"aws:SourceIp": "10.0.0.0/8"}
    with pytest.raises(Unsupported, match="IpAddress"):
        delivery_problems(template)
