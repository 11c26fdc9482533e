"""Helpers for the infrastructure tests: synthesize the app once per configuration, read the template."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

import app as app_module
from stacks.escalation_stack import EscalationStack

PROJECT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((PROJECT / "cdk.json").read_text())["context"]
ACK_TIMEOUT_SECONDS = 120
REMINDERS = 2
HANDOFF_NOTICE_MINUTES = 60
SELF_TEST_SCHEDULE = "cron(0 10 ? * MON *)"  # the two-way configuration tests its pager weekly
PHONE_NUMBER_ID = "phone-0123456789abcdef"
PINPOINT_APP_ID = "0123456789abcdef0123456789abcdef"
OPS_EMAIL = "oncall-ops@example.com"
POOL_ID = "pool-0123456789abcdef"
CONFIGURATION_SET = "incident-pages"
ALLOWED_COUNTRIES = "gb, IE"  # as someone would type it
ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"


@dataclass
class Synth:
    """One synthesized configuration: the stack, its template (assertions and raw JSON) and its cloud assembly."""

    stack: EscalationStack
    template: Template
    raw: dict[str, Any]
    assembly_dir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.raw["Resources"]
        return resources

    def logical_id(self, construct: Any) -> str:
        """The logical id of a construct (or of its default child, for L2 constructs)."""
        child = construct.node.default_child or construct
        resolved: str = self.stack.resolve(self.stack.get_logical_id(child))
        return resolved

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == resource_type}

    def validation_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.assembly_dir / "validation-report.json").read_text())
        return report

    def acknowledgments(self) -> list[tuple[str, str, str]]:
        """(construct path, acknowledged id, reason) for every acknowledgment recorded in the assembly metadata."""
        manifest = json.loads((self.assembly_dir / "manifest.json").read_text())
        found: list[tuple[str, str, str]] = []
        for artifact in manifest["artifacts"].values():
            metadata = dict(artifact.get("metadata", {}))
            if "additionalMetadataFile" in artifact:
                metadata.update(json.loads((self.assembly_dir / artifact["additionalMetadataFile"]).read_text()))
            for path, entries in metadata.items():
                for entry in entries:
                    if entry["type"] == ACKNOWLEDGED_RULES:
                        found.extend((path.lstrip("/"), rule, reason) for rule, reason in entry["data"].items())
        return found


def synthesize(outdir: Path, **overrides: Any) -> Synth:
    """Build the app exactly as app.py does (cdk.json context, overridden), with cdk-nag, and synthesize it.

    app.synth() raises when cdk-nag reports an unacknowledged finding.
    """
    app = cdk.App(context={**CDK_JSON_CONTEXT, **overrides}, outdir=str(outdir))
    stack = app_module.build_app(app)
    assembly = app.synth()
    raw = assembly.get_stack_artifact(stack.artifact_id).template
    return Synth(stack=stack, template=Template.from_stack(stack), raw=raw, assembly_dir=Path(assembly.directory))


def placeholder(value: Any) -> str:
    """A CloudFormation intrinsic as ${Name} / ${Name.Attr}, so joined strings can be compared and parsed."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            return f"${{{argument[0]}.{argument[1]}}}"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(placeholder(part) for part in parts)
        if function == "Fn::Sub" and isinstance(argument, str):
            return argument
    raise AssertionError(f"unexpected intrinsic in template: {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(synth: Synth, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every AWS::IAM::Policy attached to the role, with Action and Resource as lists of strings."""
    statements = []
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            statements.append(
                {
                    **statement,
                    "Action": as_list(statement["Action"]),
                    "Resource": [placeholder(resource) for resource in as_list(statement["Resource"])],
                }
            )
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements if statement["Effect"] == "Allow" for action in statement["Action"]}


def resources_for(statements: list[dict[str, Any]], action: str) -> set[str]:
    """The resources a set of statements allows `action` on."""
    return {
        resource
        for statement in statements
        if statement["Effect"] == "Allow" and action in statement["Action"]
        for resource in statement["Resource"]
    }


def state_machine_definition(synth: Synth) -> dict[str, Any]:
    """The ASL of the (only) state machine, with intrinsics replaced by ${...} placeholders."""
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    definition: dict[str, Any] = json.loads(placeholder(machine["Properties"]["DefinitionString"]))
    return definition
