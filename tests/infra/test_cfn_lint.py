"""The synthesized templates pass cfn-lint, AWS's CloudFormation linter."""

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.support import Synth

# CDK adds a DependsOn on a function's role next to the GetAtt that already orders them: harmless.
IGNORED = "W3005"


def test_template_has_no_cfn_lint_findings(any_synth: Synth, tmp_path: Path) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps(any_synth.raw))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "json", "--ignore-checks", IGNORED, "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['Rule']['Id']}: {f['Message']}" for f in findings)
    assert result.returncode == 0, result.stderr
