"""GitHub Actions (docs/deploying.md): CI runs make lint and make test; deploy uses OIDC only and the settings a deploy needs."""

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with cfn-lint

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
DEPLOY = WORKFLOWS / "deploy.yml"


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def run_steps(workflow: dict[Any, Any]) -> list[str]:
    return [step["run"].strip() for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_ci_runs_the_readme_test_commands_on_pull_requests_and_main() -> None:
    ci = load(CI)
    assert run_steps(ci) == ["make lint", "make test"]
    triggers = ci[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert ci["permissions"] == {"contents": "read"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert all("timeout-minutes" in job for job in ci["jobs"].values())


def test_deploy_uses_oidc_and_no_stored_keys() -> None:
    text = DEPLOY.read_text()
    deploy = load(DEPLOY)
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "secrets."):
        assert forbidden not in text
    (job,) = deploy["jobs"].values()
    assert job["environment"] == "production"
    assert "timeout-minutes" in job
    (credentials,) = [step for step in job["steps"] if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert credentials["with"]["aws-region"] == "${{ vars.AWS_REGION }}"


@pytest.mark.parametrize("required", ["-c originationIdentity=$SMS_ORIGINATION_IDENTITY", "-c configureTwoWay=true"])
def test_deploy_passes_what_the_template_rule_requires(required: str) -> None:
    job = next(iter(load(DEPLOY)["jobs"].values()))
    steps = job["steps"]
    runs = run_steps(load(DEPLOY))
    assert runs.index("make test") < next(i for i, run in enumerate(runs) if run.startswith("make deploy"))
    (deploy_step,) = [step for step in steps if step.get("run", "").startswith("make deploy")]
    assert "--require-approval never" in deploy_step["run"]
    assert required in deploy_step["run"]
    assert deploy_step["env"]["SMS_ORIGINATION_IDENTITY"] == "${{ vars.SMS_ORIGINATION_IDENTITY }}"
