"""Synthesize the app with scenario settings, once per distinct source and settings."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from app import build_app

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".sandbox"
STACK_NAME = "IncidentEscalation"
_SOURCES = ("app.py", "cdk.json", "oncall.yaml", "stacks", "lambdas")


def _source_digest() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def context_for(settings: dict[str, Any]) -> dict[str, Any]:
    """cdk.json's context with the scenario's settings on top (what `-c key=value` would do)."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(settings)
    context["stackName"] = STACK_NAME
    return context


def synthesize(settings: dict[str, Any]) -> Path:
    """The cloud assembly (cdk.out) for these settings; cached by source and settings digest."""
    context = context_for(settings)
    key = hashlib.sha256((_source_digest() + json.dumps(context, sort_keys=True)).encode()).hexdigest()[:16]
    outdir = CACHE / f"cdk.out-{key}"
    if (outdir / f"{STACK_NAME}.template.json").exists():
        return outdir
    CACHE.mkdir(parents=True, exist_ok=True)
    # One synth per configuration, whichever process asks first (test workers share the cache): the others wait.
    with (CACHE / f"cdk.out-{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (outdir / f"{STACK_NAME}.template.json").exists():
            return outdir
        staging = CACHE / f"tmp-{key}-{os.getpid()}"
        try:
            app = cdk.App(outdir=str(staging), context=context)
            build_app(app)
            app.synth()
            staging.rename(outdir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return outdir
