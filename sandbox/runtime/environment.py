"""What a function's worker process sees in os.environ: as on Lambda, plus the sandbox's local endpoint."""

from __future__ import annotations

import os
from typing import Final

from ..records import LocalFunction

PRELOAD_SERVICES: Final = ("dynamodb", "stepfunctions", "sns", "sqs", "pinpoint-sms-voice-v2")
"""Service models each worker parses during its init (see worker.py)."""
PRELOAD_MODULES: Final = ("boto3",)
"""Imported once by the zygote that forks the workers (see worker.py)."""
PLACEHOLDER_CREDENTIALS: Final = {
    # moto accepts any credentials; these are placeholders, not secrets
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def inherited_environment() -> dict[str, str]:
    """The variables of this process without the AWS_ ones (those are the function's own, or placeholders)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}


def worker_environment(name: str, function: LocalFunction, *, endpoint_url: str, region_name: str) -> dict[str, str]:
    """The environment of a worker of this function."""
    return {
        **inherited_environment(),
        **PLACEHOLDER_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region_name,
        "AWS_DEFAULT_REGION": region_name,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "_HANDLER": function.handler,
        "PYTHONDONTWRITEBYTECODE": "1",  # keep the asset directories pristine
        "_SANDBOX_PRELOAD_SERVICES": ",".join(PRELOAD_SERVICES),
        # No X-Ray daemon here; the function's own environment may still override this
        "POWERTOOLS_TRACE_DISABLED": "true",
        **{key: str(value) for key, value in function.environment.items()},
    }
