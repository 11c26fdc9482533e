"""What moto 5.2.5's CloudFormation skips or gets wrong, created by classes of our own while a stack is created.

While ``compensations(context)`` is active, ``moto.cloudformation.parsing.resource_class_from_type`` is replaced
(``sandbox.moto_patches.cloudformation_resource_classes``), so these classes create the resource types below,
in template dependency order, with Refs already resolved. They are duck-typed: no CloudFormationModel subclass,
no global registration.

* ``AWS::SNS::Subscription``, ``AWS::SNS::TopicPolicy``, ``AWS::SQS::QueuePolicy``: skipped by moto; created
  here through the SNS/SQS APIs (subscriptions keep FilterPolicy and friends).
* ``AWS::Lambda::EventInvokeConfig``: created through the Lambda API.
* ``AWS::StepFunctions::StateMachine``: created in the backend the API (and executions) use.
* ``Custom::*``: ``Custom::AWS`` makes its SDK call (``sandbox.aws_sdk_call``); other types run a handler
  from the deployment's ``custom_resource_handlers`` or are recorded as skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.cloudformation import parsing as cfn_parsing
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import get_backend as get_sfn_backend
from moto.stepfunctions.utils import cfn_to_api_tags

from . import moto_patches
from .aws_sdk_call import aws_sdk_call
from .records import DeployError

IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})  # no behaviour to emulate
CustomResourceHandler = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""(logical id, resolved properties) -> data returned for Fn::GetAtt."""


@dataclass(frozen=True)
class CustomResourceCall:
    """What was done for one custom resource."""

    logical_id: str
    resource_type: str
    action: str  # "sdk-call", "handler", "skipped"
    detail: str
    error: str | None = None


class StrictFailure(Exception):
    """Raised inside moto's create_stack to abort a strict deployment."""


@dataclass
class DeployContext:
    """One deployment in progress: its region, custom resource handlers, strictness and what was done."""

    region: str
    handlers: dict[str, CustomResourceHandler]
    strict: bool
    calls: list[CustomResourceCall] = field(default_factory=list)


class _Active:
    """The deployment in progress; moto calls the compensating classes without a way to pass it."""

    lock = threading.Lock()
    context: DeployContext | None = None


def _context() -> DeployContext:
    if _Active.context is None:
        raise DeployError("compensating resource created outside deploy_template")
    return _Active.context


class _Resource:
    """Minimal CloudFormation model: what moto's ResourceMap reads from a created resource."""

    def __init__(self, physical_id: str, data: Mapping[str, Any] | None = None) -> None:
        self.physical_resource_id = physical_id
        self.data = dict(data or {})

    def is_created(self) -> bool:
        """Created synchronously, so always true."""
        return True

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        """Any attribute may be asked for; unknown ones resolve to None."""
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        """Fn::GetAtt support from the data collected at creation."""
        return self.data.get(attribute_name)

    @classmethod
    def delete_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> None:
        """Deleting is not supported; nothing to undo in moto for these."""


class _SnsSubscription(_Resource):
    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _SnsSubscription:
        props = cloudformation_json["Properties"]
        topic_arn = props["TopicArn"]
        sns = boto3.client("sns", region_name=props.get("Region") or topic_arn.split(":")[3])
        arn = sns.subscribe(TopicArn=topic_arn, Protocol=props["Protocol"], Endpoint=props.get("Endpoint", ""))["SubscriptionArn"]
        attributes = {
            "FilterPolicyScope": props.get("FilterPolicyScope"),  # must precede FilterPolicy
            "FilterPolicy": props.get("FilterPolicy"),
            "RawMessageDelivery": props.get("RawMessageDelivery"),
            "RedrivePolicy": props.get("RedrivePolicy"),
            "DeliveryPolicy": props.get("DeliveryPolicy"),
        }
        for name, value in attributes.items():
            if value is not None:
                if isinstance(value, dict):
                    text = json.dumps(value)
                else:
                    text = str(value).lower() if isinstance(value, bool) else str(value)
                sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue=text)
        return cls(arn, {"Arn": arn})


class _SnsTopicPolicy(_Resource):
    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _SnsTopicPolicy:
        props = cloudformation_json["Properties"]
        document = json.dumps(props["PolicyDocument"])
        for topic_arn in props.get("Topics", []):
            sns = boto3.client("sns", region_name=topic_arn.split(":")[3])
            sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=document)
        return cls(resource_name)


class _SqsQueuePolicy(_Resource):
    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _SqsQueuePolicy:
        props = cloudformation_json["Properties"]
        sqs = boto3.client("sqs", region_name=region_name)
        for queue_url in props.get("Queues", []):
            sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        return cls(resource_name)


class _StateMachine:
    """Creates the state machine in the backend that the Step Functions API (and executions) use."""

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        props = cloudformation_json["Properties"]
        definition = props.get("DefinitionString")
        if definition is None and "Definition" in props:
            definition = json.dumps(props["Definition"])
        if definition is None:
            raise DeployError(f"{kwargs.get('LogicalId')}: only DefinitionString/Definition are supported")
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        backend = get_sfn_backend(account_id, region_name)
        if not isinstance(backend, StepFunctionsParserBackend):
            _context().calls.append(
                CustomResourceCall(
                    kwargs.get("LogicalId", ""),
                    "AWS::StepFunctions::StateMachine",
                    "skipped",
                    "executions will not run: mock_aws lacks stepfunctions.execute_state_machine",
                )
            )
        return backend.create_state_machine(
            name=props.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=props.get("RoleArn", ""),
            tags=cfn_to_api_tags(props.get("Tags", [])),
            sm_type=props.get("StateMachineType", "STANDARD"),
        )

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        """Same attributes as moto's own model."""
        return attr in {"Arn", "Name", "StateMachineName", "DefinitionString", "RoleArn", "Tags"}


class _CustomResource(_Resource):
    """Custom resources: AwsCustomResource SDK calls are made for real (against moto)."""

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _CustomResource:
        context = _context()
        logical_id = kwargs.get("LogicalId", resource_name)
        resource_type = kwargs.get("ResourceType", "Custom::?")
        props = {k: v for k, v in cloudformation_json["Properties"].items() if k != "ServiceToken"}
        call_json = props.get("Create") or props.get("Update")
        try:
            if resource_type in context.handlers:
                data = dict(context.handlers[resource_type](logical_id, props))
                context.calls.append(CustomResourceCall(logical_id, resource_type, "handler", "custom_resource_handlers"))
                return cls(str(data.pop("PhysicalResourceId", f"{logical_id}-{uuid.uuid4().hex[:12]}")), data)
            if isinstance(call_json, str) and '"action"' in call_json:
                physical_id, data, detail = aws_sdk_call(call_json, logical_id, region_name)
                context.calls.append(CustomResourceCall(logical_id, resource_type, "sdk-call", detail))
                return cls(physical_id, data)
        except Exception as exc:  # reported (or raised in strict mode) instead of aborting silently
            error = f"{type(exc).__name__}: {exc}"
            context.calls.append(CustomResourceCall(logical_id, resource_type, "sdk-call", str(call_json)[:200], error))
            if context.strict:
                raise StrictFailure(f"custom resource {logical_id} failed: {error}") from exc
            return cls(f"{logical_id}-failed")
        context.calls.append(CustomResourceCall(logical_id, resource_type, "skipped", "no emulation for this type"))
        if context.strict:
            raise StrictFailure(f"custom resource {logical_id} ({resource_type}) has no emulation")
        return cls(f"{logical_id}-skipped")


class _LambdaEventInvokeConfig(_Resource):
    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _LambdaEventInvokeConfig:
        props = cloudformation_json["Properties"]
        request: dict[str, Any] = {"FunctionName": props["FunctionName"]}
        if props.get("Qualifier") not in (None, "$LATEST"):
            request["Qualifier"] = props["Qualifier"]
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in props:
                request[key] = int(props[key])
        if "DestinationConfig" in props:
            request["DestinationConfig"] = props["DestinationConfig"]
        boto3.client("lambda", region_name=region_name).put_function_event_invoke_config(**request)
        return cls(resource_name)


_COMPENSATED: dict[str, Any] = {
    "AWS::Lambda::EventInvokeConfig": _LambdaEventInvokeConfig,
    "AWS::SNS::Subscription": _SnsSubscription,
    "AWS::SNS::TopicPolicy": _SnsTopicPolicy,
    "AWS::SQS::QueuePolicy": _SqsQueuePolicy,
    "AWS::StepFunctions::StateMachine": _StateMachine,
}


def _compensating_class(resource_type: str) -> Any:
    """The class deploy uses instead of moto's for resource_type, or None for moto's own."""
    if resource_type in _COMPENSATED:
        return _COMPENSATED[resource_type]
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return _CustomResource
    return None


@contextmanager
def compensations(context: DeployContext) -> Iterator[None]:
    """Use the compensating classes for the duration of one create_stack."""
    moto_logger = logging.getLogger("moto")
    with _Active.lock, moto_patches.cloudformation_resource_classes(_compensating_class):
        _Active.context = context
        level = moto_logger.level
        # moto logs each type it skips; DeployedStack.warnings lists them instead
        moto_logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            moto_logger.setLevel(level)
            _Active.context = None


def is_unsupported(resource_type: str) -> bool:
    """Whether moto creates nothing for this type and no class here does either."""
    if resource_type in _COMPENSATED or resource_type.startswith("Custom::"):
        return False
    if resource_type == "AWS::CloudFormation::CustomResource":
        return False
    return resource_type in cfn_parsing.NULL_MODELS or resource_type not in cfn_parsing.get_model_map()
