"""Deploy a synthesized CDK stack (cdk.out) into moto and fill the gaps of moto 5.2.5's CloudFormation.

What moto's ``create_stack`` does not do, and what this module does about it (while the stack is
being created, ``moto.cloudformation.parsing.resource_class_from_type`` is replaced, see
``sandbox.moto_patches``, so the compensating classes below are used, in template dependency
order, with Refs already resolved):

* ``AWS::SNS::Subscription``, ``AWS::SNS::TopicPolicy``, ``AWS::SQS::QueuePolicy``: skipped by
  moto; created here through the SNS/SQS APIs (subscriptions keep FilterPolicy and friends).
* ``AWS::StepFunctions::StateMachine``: moto creates it in the plain backend, which cannot run
  executions when ``execute_state_machine`` is on (DescribeStateMachine then fails); created here
  in the backend the API uses, honouring StateMachineType and DefinitionSubstitutions.
* ``Custom::*``: moto invokes the provider function in a thread and waits for an HTTP callback
  that never comes in decorator mode (the stack stays CREATE_IN_PROGRESS). AwsCustomResource
  resources (``Custom::AWS``) are emulated by making their SDK call with boto3 against moto (or
  the sandbox's fakes); other types run a handler from ``custom_resource_handlers`` or are
  recorded as skipped.

Also: the ``BootstrapVersion`` parameter and ``CheckBootstrapVersion`` rule are removed, file
assets are zipped and uploaded to the bucket/key named in ``<stack>.assets.json``, and the
function map for ``sandbox.runtime`` is built (python functions only).

Not handled: stack updates and deletes (the patch is only active during create), Docker image
assets, Lambda layers (moto's CloudFormation drops the ``Layers`` property without error; the
venv's packages stand in for them).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import tempfile
import threading
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.session
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import Shape
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import cloudformation_backends
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import get_backend as get_sfn_backend
from moto.stepfunctions.utils import cfn_to_api_tags

from sandbox import moto_patches
from sandbox.records import LocalFunction, SandboxError

_IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})  # no behaviour to emulate
Capability = Literal["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
CAPABILITIES: list[Capability] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
CustomResourceHandler = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""(logical id, resolved properties) -> data returned for Fn::GetAtt."""


class DeployError(Exception):
    """The stack could not be deployed into moto."""


@dataclass(frozen=True)
class CloudAssemblyStack:
    """One stack of a cloud assembly: its template, asset manifest and directory."""

    name: str
    directory: Path
    template: dict[str, Any]
    assets: dict[str, Any]


@dataclass(frozen=True)
class CustomResourceCall:
    """What was done for one custom resource."""

    logical_id: str
    resource_type: str
    action: str  # "sdk-call", "handler", "skipped"
    detail: str
    error: str | None = None


@dataclass
class DeployedStack:
    """The deployed stack's ids and the local function map."""

    stack_name: str
    stack_id: str
    region: str
    physical_ids: dict[str, str]
    resource_types: dict[str, str]
    outputs: dict[str, str]
    functions: dict[str, LocalFunction]
    function_names: dict[str, str]
    skipped_functions: dict[str, str] = field(default_factory=dict)
    custom_resources: list[CustomResourceCall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def physical_id(self, logical_prefix: str) -> str:
        """Physical id of the one resource whose logical id starts with logical_prefix."""
        if logical_prefix in self.physical_ids:
            return self.physical_ids[logical_prefix]
        matches = [k for k in self.physical_ids if k.startswith(logical_prefix)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} logical ids start with {logical_prefix!r}: {matches}")
        return self.physical_ids[matches[0]]

    def function_name(self, logical_prefix: str) -> str:
        """Physical name of the one function whose logical id starts with logical_prefix."""
        matches = [k for k in self.function_names if k.startswith(logical_prefix)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} functions' logical ids start with {logical_prefix!r}: {matches}")
        return self.function_names[matches[0]]


# -- cloud assembly -----------------------------------------------------------------------------


def load_stack(cdk_out: Path, stack_name: str | None = None) -> CloudAssemblyStack:
    """Read one stack's template and asset manifest from a cdk.out directory."""
    manifest_path = cdk_out / "manifest.json"
    if not manifest_path.exists():
        raise DeployError(f"{cdk_out} has no manifest.json; run `npx cdk synth` first")
    artifacts: dict[str, Any] = json.loads(manifest_path.read_text())["artifacts"]
    stacks = {k: v for k, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"}
    if stack_name is None:
        if len(stacks) != 1:
            raise DeployError(f"choose a stack_name among {sorted(stacks)}")
        stack_name = next(iter(stacks))
    if stack_name not in stacks:
        raise DeployError(f"no stack {stack_name!r} in {cdk_out}; have {sorted(stacks)}")
    artifact = stacks[stack_name]
    template = json.loads((cdk_out / artifact["properties"]["templateFile"]).read_text())
    assets: dict[str, Any] = {"files": {}, "dockerImages": {}}
    for dependency in artifact.get("dependencies", []):
        dep = artifacts.get(dependency, {})
        if dep.get("type") == "cdk:asset-manifest":
            assets = json.loads((cdk_out / dep["properties"]["file"]).read_text())
    deployed_name = artifact["properties"].get("stackName", stack_name)  # differs from the artifact id in stages
    return CloudAssemblyStack(name=deployed_name, directory=cdk_out, template=template, assets=assets)


def _substitute(text: str, account: str, region: str) -> str:
    return text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region).replace("${AWS::Partition}", "aws")


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of directory, as the CDK CLI would publish it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def publish_assets(stack: CloudAssemblyStack, account: str, region: str) -> dict[str, Path]:
    """Upload file assets to moto S3; return S3 object key -> local asset directory (zip assets)."""
    s3 = boto3.client("s3", region_name=region)
    directories: dict[str, Path] = {}
    for asset in stack.assets.get("files", {}).values():
        source = stack.directory / asset["source"]["path"]
        for destination in asset["destinations"].values():
            bucket = _substitute(destination["bucketName"], account, region)
            key = _substitute(destination["objectKey"], account, region)
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError:
                if region == "us-east-1":
                    s3.create_bucket(Bucket=bucket)
                else:
                    config: Any = {"LocationConstraint": region}  # any region string; the stubs list literals
                    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=config)
            if source.is_dir():
                s3.put_object(Bucket=bucket, Key=key, Body=zip_directory(source))
                directories[key] = source
            else:
                s3.put_object(Bucket=bucket, Key=key, Body=source.read_bytes())
    return directories


def prepare_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of template without the CDK bootstrap version check (no bootstrap stack in moto), mock integrations completed."""
    prepared = copy.deepcopy(dict(template))
    prepared.get("Parameters", {}).pop("BootstrapVersion", None)
    prepared.get("Rules", {}).pop("CheckBootstrapVersion", None)
    for section in ("Parameters", "Rules"):
        if section in prepared and not prepared[section]:
            del prepared[section]
    for resource in prepared.get("Resources", {}).values():
        integration = resource.get("Properties", {}).get("Integration") or {}
        if resource.get("Type") == "AWS::ApiGateway::Method" and integration.get("Type") == "MOCK":
            # moto's CloudFormation reads both even for a mock integration (AWS needs neither); nothing calls it here.
            integration.setdefault("IntegrationHttpMethod", "POST")
            integration.setdefault("Uri", "")
    return prepared


# -- deployment ---------------------------------------------------------------------------------


def set_output(deployed: DeployedStack, key: str, value: str) -> None:
    """Change a deployed stack's output, as `describe-stacks` (and so the CLI) reads it.

    For a value only the sandbox knows, such as the local Events API URL (moto cannot resolve the API
    stage in `url_for_path`, so the template's value reads `.../None/enqueue`).
    """
    account = boto3.client("sts", region_name=deployed.region).get_caller_identity()["Account"]
    stack = cloudformation_backends[account][deployed.region].stacks[deployed.stack_id]
    output = stack.output_map[key]
    if output is None:
        raise SandboxError(f"{deployed.stack_name} has no output {key}")
    output.value = value
    deployed.outputs[key] = value


def deploy_cdk_out(
    cdk_out: Path,
    stack_name: str | None = None,
    *,
    region_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
    custom_resource_handlers: Mapping[str, CustomResourceHandler] | None = None,
    strict: bool = False,
) -> DeployedStack:
    """Publish assets and create one stack of cdk_out in moto (call inside mock_aws)."""
    stack = load_stack(cdk_out, stack_name)
    region = region_name or boto3.session.Session().region_name or "us-east-1"
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    asset_dirs = publish_assets(stack, account, region)
    deployed = deploy_template(
        stack.template,
        stack.name,
        region_name=region,
        parameters=parameters,
        asset_dirs=asset_dirs,
        custom_resource_handlers=custom_resource_handlers,
        strict=strict,
    )
    if stack.assets.get("dockerImages"):
        deployed.warnings.append("Docker image assets are not published (no Docker)")
    return deployed


def deploy_template(
    template: Mapping[str, Any],
    stack_name: str,
    *,
    region_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
    asset_dirs: Mapping[str, Path] | None = None,
    custom_resource_handlers: Mapping[str, CustomResourceHandler] | None = None,
    strict: bool = False,
) -> DeployedStack:
    """Create a stack from a template dict in moto, compensating moto's CloudFormation gaps."""
    region = region_name or boto3.session.Session().region_name or "us-east-1"
    prepared = prepare_template(template)
    cfn = boto3.client("cloudformation", region_name=region)
    context = _DeployContext(region=region, handlers=dict(custom_resource_handlers or {}), strict=strict)
    unsupported = [
        f"{logical_id} ({resource['Type']})"
        for logical_id, resource in prepared.get("Resources", {}).items()
        if _is_unsupported(resource["Type"]) and resource["Type"] not in _IGNORED_TYPES
    ]
    with _compensations(context), warnings.catch_warnings():
        # moto warns for each type it skips (again on every describe); DeployedStack.warnings lists them
        warnings.simplefilter("ignore", UserWarning)
        try:
            response = cfn.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(prepared),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
                Capabilities=CAPABILITIES,
            )
        except _StrictFailure as failure:
            raise DeployError(str(failure)) from None
        description = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    if description["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(f"stack {stack_name} is {description['StackStatus']}: {description.get('StackStatusReason')}")
    physical_ids: dict[str, str] = {}
    resource_types: dict[str, str] = {}
    for resource in resources:
        logical_id = resource.get("LogicalResourceId")
        if logical_id:
            resource_types[logical_id] = resource.get("ResourceType", "")
            if resource.get("PhysicalResourceId"):
                physical_ids[logical_id] = resource["PhysicalResourceId"]
    deployed = DeployedStack(
        stack_name=stack_name,
        stack_id=response["StackId"],
        region=region,
        physical_ids=physical_ids,
        resource_types=resource_types,
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in description.get("Outputs", [])},
        functions={},
        function_names={},
        custom_resources=context.calls,
        warnings=[f"not created (no moto support): {', '.join(unsupported)}"] if unsupported else [],
    )
    _map_functions(deployed, prepared, dict(asset_dirs or {}))
    return deployed


def _is_unsupported(resource_type: str) -> bool:
    if resource_type in _COMPENSATED or resource_type.startswith("Custom::"):
        return False
    if resource_type == "AWS::CloudFormation::CustomResource":
        return False
    return resource_type in cfn_parsing.NULL_MODELS or resource_type not in cfn_parsing.get_model_map()


def _map_functions(deployed: DeployedStack, template: Mapping[str, Any], asset_dirs: Mapping[str, Path]) -> None:
    """Fill deployed.functions from the created functions' configuration and their code."""
    client = boto3.client("lambda", region_name=deployed.region)
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != "AWS::Lambda::Function" or logical_id not in deployed.physical_ids:
            continue
        name = deployed.physical_ids[logical_id]
        deployed.function_names[logical_id] = name
        config = client.get_function_configuration(FunctionName=name)
        runtime = config.get("Runtime") or ""
        if not runtime.startswith("python"):
            deployed.skipped_functions[name] = f"runtime {runtime or 'unknown'} cannot run in-process"
            continue
        code = resource["Properties"].get("Code", {})
        key = code.get("S3Key")
        code_dir = asset_dirs.get(key) if isinstance(key, str) else None
        if code_dir is None:
            code_dir = _extract_code(name, deployed.region)  # inline ZipFile or code not from cdk.out
        deployed.functions[name] = LocalFunction(
            code_dir=code_dir,
            handler=config["Handler"],
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            memory_mb=int(config.get("MemorySize", 128)),
            timeout_s=float(config.get("Timeout", 3)),
            runtime=runtime,
        )


def _extract_code(function_name: str, region: str) -> Path:
    """Unzip the code moto stored for a function into a temporary directory."""
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    fn = get_lambda_backend(account, region).get_function(function_name)
    directory = Path(tempfile.mkdtemp(prefix=f"sandbox-{function_name[:40]}-"))
    with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
        archive.extractall(directory)
    return directory


# -- compensating resource classes (duck-typed: no CloudFormationModel subclass, no global registration)


class _StrictFailure(Exception):
    """Raised inside moto's create_stack to abort a strict deployment."""


@dataclass
class _DeployContext:
    region: str
    handlers: dict[str, CustomResourceHandler]
    strict: bool
    calls: list[CustomResourceCall] = field(default_factory=list)


class _Active:
    """The deployment in progress; moto calls the compensating classes without a way to pass it."""

    lock = threading.Lock()
    context: _DeployContext | None = None


def _context() -> _DeployContext:
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
                physical_id, data, detail = _aws_sdk_call(call_json, logical_id, region_name)
                context.calls.append(CustomResourceCall(logical_id, resource_type, "sdk-call", detail))
                return cls(physical_id, data)
        except Exception as exc:  # reported (or raised in strict mode) instead of aborting silently
            error = f"{type(exc).__name__}: {exc}"
            context.calls.append(CustomResourceCall(logical_id, resource_type, "sdk-call", str(call_json)[:200], error))
            if context.strict:
                raise _StrictFailure(f"custom resource {logical_id} failed: {error}") from exc
            return cls(f"{logical_id}-failed")
        context.calls.append(CustomResourceCall(logical_id, resource_type, "skipped", "no emulation for this type"))
        if context.strict:
            raise _StrictFailure(f"custom resource {logical_id} ({resource_type}) has no emulation")
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
def _compensations(context: _DeployContext) -> Iterator[None]:
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


# -- AwsCustomResource emulation ----------------------------------------------------------------


def _aws_sdk_call(call_json: str, logical_id: str, region: str) -> tuple[str, dict[str, Any], str]:
    """Make an AwsCustomResource SDK call with boto3; return (physical id, flattened data, summary)."""
    call = json.loads(call_json)
    service = boto3_service_name(call["service"])
    action = call["action"].removesuffix("Command")
    operation = action[0].upper() + action[1:]
    # The service comes from the template at run time, so boto3-stubs cannot pick an overload
    client: Any = boto3.client(service, region_name=call.get("region") or region)  # type: ignore[call-overload]
    model = client.meta.service_model.operation_model(operation)
    params = _coerce(_decode_booleans(call.get("parameters") or {}), model.input_shape)
    summary = f"{service}.{xform_name(operation)}({json.dumps(params, default=str)[:300]})"
    try:
        response = getattr(client, xform_name(operation))(**params)
    except ClientError as exc:
        ignore = call.get("ignoreErrorCodesMatching")
        if ignore and re.search(ignore, exc.response["Error"]["Code"]):
            response = {}
        else:
            raise
    response.pop("ResponseMetadata", None)
    data = _flatten(response)
    output_paths = call.get("outputPaths") or ([call["outputPath"]] if call.get("outputPath") else None)
    if output_paths:
        data = {k: v for k, v in data.items() if any(k.startswith(p) for p in output_paths)}
    physical = call.get("physicalResourceId") or {}
    if "id" in physical:
        physical_id = str(physical["id"])
    elif "responsePath" in physical:
        physical_id = str(_flatten(response).get(physical["responsePath"]))
    else:
        physical_id = f"{logical_id}-{uuid.uuid4().hex[:12]}"
    return physical_id, data, summary


# JavaScript SDK names that differ from boto3's; anything else falls back to comparing serviceIds (slow)
_JS_SERVICE_ALIASES = {
    "cloudwatchlogs": "logs",
    "eventbridge": "events",
    "sfn": "stepfunctions",
    "cognitoidentityserviceprovider": "cognito-idp",
    "elasticloadbalancingv2": "elbv2",
    "elasticloadbalancing": "elb",
    "pinpointsmsvoicev2": "pinpoint-sms-voice-v2",
}


def boto3_service_name(js_name: str) -> str:
    """boto3's name for a JavaScript SDK service name such as 'SSM' or '@aws-sdk/client-ssm'."""
    wanted = re.sub(r"[^a-z0-9]", "", js_name.removeprefix("@aws-sdk/client-").lower())
    if wanted in _JS_SERVICE_ALIASES:
        return _JS_SERVICE_ALIASES[wanted]
    session = botocore.session.get_session()
    services = session.get_available_services()
    for name in services:
        if re.sub(r"[^a-z0-9]", "", name) == wanted:
            return str(name)
    for name in services:  # slow path: compare with serviceId (e.g. CloudWatchLogs -> logs)
        service_id = session.get_service_model(name).service_id
        if re.sub(r"[^a-z0-9]", "", str(service_id).lower()) == wanted:
            return str(name)
    raise DeployError(f"no boto3 service for SDK service {js_name!r}")


def _decode_booleans(value: Any) -> Any:
    """Undo AwsCustomResource's encoding of booleans as 'TRUE:BOOLEAN' / 'FALSE:BOOLEAN'."""
    if isinstance(value, dict):
        return {k: _decode_booleans(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_booleans(v) for v in value]
    if value == "TRUE:BOOLEAN":
        return True
    if value == "FALSE:BOOLEAN":
        return False
    return value


def _coerce(value: Any, shape: Shape | None) -> Any:
    """Convert CloudFormation's stringly values to the types the service model asks for."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: _coerce(v, members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_coerce(v, shape.member) for v in value]  # type: ignore[attr-defined]
    if kind == "map" and isinstance(value, dict):
        return {k: _coerce(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    if isinstance(value, str):
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
        if kind == "boolean":
            return value.lower() == "true"
        if kind == "blob":
            return value.encode()
    return value


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Response flattened to dotted paths, as AwsCustomResource exposes it to Fn::GetAtt."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value} if prefix else {}
    for key, item in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, (dict, list)):
            flat.update(_flatten(item, path))
        else:
            flat[path] = item if isinstance(item, (str, int, float, bool)) or item is None else str(item)
    return flat
