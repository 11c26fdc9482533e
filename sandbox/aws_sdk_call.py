"""AwsCustomResource (``Custom::AWS``) emulated: its SDK call made with boto3 against moto (or the sandbox's fakes).

The call's JavaScript SDK names become boto3's, CloudFormation's stringly values the types the service model
asks for, and the response is flattened to the dotted paths ``Fn::GetAtt`` reads, as AwsCustomResource does.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import boto3
import botocore.session
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import Shape

from .records import DeployError


def aws_sdk_call(call_json: str, logical_id: str, region: str) -> tuple[str, dict[str, Any], str]:
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
