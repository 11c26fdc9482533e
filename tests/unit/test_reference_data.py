"""The reference data in tests/data are byte-identical copies of the upstream reference folder, when it is present."""

import json

import pytest

from tests.conftest import FIXTURES_DIR, REPO_ROOT

UPSTREAM = (REPO_ROOT / ".." / "shared" / "fixtures").resolve()
FILES = ("seed_incident_item.json", "inbound_sms_payload.json")


@pytest.mark.parametrize("name", FILES)
def test_reference_copy_is_present_and_valid_json(name: str) -> None:
    assert json.loads((FIXTURES_DIR / name).read_text())


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="no upstream reference folder beside this checkout")
@pytest.mark.parametrize("name", FILES)
def test_reference_copy_matches_upstream(name: str) -> None:
    assert (FIXTURES_DIR / name).read_bytes() == (UPSTREAM / name).read_bytes()


def test_repository_never_reads_outside_itself() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("tests", "sandbox", "lambdas", "stacks")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if "shared/fixtures" in path.read_text() and path.name != "test_reference_data.py"
    ]
    assert offenders == []
