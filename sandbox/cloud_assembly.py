"""The synthesized app (cdk.out): one stack's template and asset manifest, its file assets published to moto's S3."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .records import DeployError


@dataclass(frozen=True)
class CloudAssemblyStack:
    """One stack of a cloud assembly: its template, asset manifest and directory."""

    name: str
    directory: Path
    template: dict[str, Any]
    assets: dict[str, Any]


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
