"""Deploy a synthesized CDK stack (cdk.out) into moto and fill the gaps of moto 5.2.5's CloudFormation.

What moto's ``create_stack`` does not do, and what the sandbox does about it (while the stack is
being created, ``moto.cloudformation.parsing.resource_class_from_type`` is replaced, see
``sandbox.moto_patches``, so the compensating classes of ``sandbox.cfn_compensations`` are used, in
template dependency order, with Refs already resolved):

* ``AWS::SNS::Subscription``, ``AWS::SNS::TopicPolicy``, ``AWS::SQS::QueuePolicy``: skipped by
  moto; created here through the SNS/SQS APIs (subscriptions keep FilterPolicy and friends).
* ``AWS::StepFunctions::StateMachine``: moto creates it in the plain backend, which cannot run
  executions when ``execute_state_machine`` is on (DescribeStateMachine then fails); created here
  in the backend the API uses, honouring StateMachineType and DefinitionSubstitutions.
* ``Custom::*``: moto invokes the provider function in a thread and waits for an HTTP callback
  that never comes in decorator mode (the stack stays CREATE_IN_PROGRESS). AwsCustomResource
  resources (``Custom::AWS``) are emulated by making their SDK call with boto3 against moto (or
  the sandbox's fakes, ``sandbox.aws_sdk_call``); other types run a handler from ``custom_resource_handlers`` or are
  recorded as skipped.

Also: the ``BootstrapVersion`` parameter and ``CheckBootstrapVersion`` rule are removed, file
assets are zipped and uploaded to the bucket/key named in ``<stack>.assets.json`` (``sandbox.cloud_assembly``),
and the function map for ``sandbox.runtime`` is built (python functions only).

Not handled: stack updates and deletes (the patch is only active during create), Docker image
assets, Lambda layers (moto's CloudFormation drops the ``Layers`` property without error; the
venv's packages stand in for them).
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.cloudformation.models import cloudformation_backends

from .cfn_compensations import (
    IGNORED_TYPES,
    CustomResourceCall,
    CustomResourceHandler,
    DeployContext,
    StrictFailure,
    compensations,
    is_unsupported,
)
from .cloud_assembly import load_stack, prepare_template, publish_assets
from .records import DeployError, LocalFunction, SandboxError

Capability = Literal["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
CAPABILITIES: list[Capability] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


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
    context = DeployContext(region=region, handlers=dict(custom_resource_handlers or {}), strict=strict)
    unsupported = [
        f"{logical_id} ({resource['Type']})"
        for logical_id, resource in prepared.get("Resources", {}).items()
        if is_unsupported(resource["Type"]) and resource["Type"] not in IGNORED_TYPES
    ]
    with compensations(context), warnings.catch_warnings():
        # moto warns for each type it skips (again on every describe); DeployedStack.warnings lists them
        warnings.simplefilter("ignore", UserWarning)
        try:
            response = cfn.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(prepared),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
                Capabilities=CAPABILITIES,
            )
        except StrictFailure as failure:
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
