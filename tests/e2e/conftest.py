"""One run per bundled scenario per test session, shared by every e2e test on every xdist worker.

Scenario tests are spread over the xdist workers; a few tests (state coverage, latency, message
contents) read the results of several scenarios. Each result is written as JSON into a directory
all workers of one session share, the directory pytest-xdist's own docs recommend for this
(``getbasetemp().parent``, unique per session and cleaned up by pytest like any basetemp). A
per-scenario file lock makes whichever worker asks first run the scenario while the other waits
and then reads the file, so no scenario ever runs twice, whatever the test order or placement.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox.runner import run_scenario
from sandbox.scenario import load_scenario

ScenarioRun = Callable[[Path], dict[str, Any]]


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


@pytest.fixture(scope="session")
def scenario_run(tmp_path_factory: pytest.TempPathFactory) -> ScenarioRun:
    """run(path) -> the scenario's result (as `python -m sandbox run --json` prints it), run once per session."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "e2e-results"
    shared.mkdir(exist_ok=True)
    results: dict[Path, dict[str, Any]] = {}

    def run(path: Path) -> dict[str, Any]:
        if path not in results:
            stored = shared / f"{path.stem}.json"
            with _exclusive(shared / f"{path.stem}.lock"):
                if not stored.exists():
                    result = run_scenario(load_scenario(path), warm=False)  # cold starts cannot change a verdict
                    stored.write_text(json.dumps(result))  # same JSON round trip on every worker
                results[path] = json.loads(stored.read_text())
        return results[path]

    return run
