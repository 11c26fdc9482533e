"""The docs: the README is a front door, every relative link lands, and what the docs take from the code is fresh."""

import re
from pathlib import Path

import pytest

from stacks import config, config_meanings
from tests.infra.support import PROJECT
from tools import settings_reference

PAGES = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    text = FENCE.sub("", page.read_text())
    found = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", page.read_text())) if not target.startswith(("http", "mailto:"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_lands(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no such heading")
    assert broken == [], page.name


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad](#nowhere)\n```\n[in code](nothing.md)\n```\n")
    assert links(page) == ["#title", "missing.md", "#nowhere"]
    assert "title" in anchors(page) and "nowhere" not in anchors(page)


def test_the_readme_is_a_front_door_and_the_docs_are_by_task() -> None:
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make demo" in readme and "make test" in readme  # the two commands
    pages = {page.name for page in (PROJECT / "docs").glob("*.md")}
    assert len(pages) >= 6
    assert {Path(target.partition("#")[0]).name for target in links(PROJECT / "README.md") if target.startswith("docs/")} == pages


def test_the_settings_reference_is_what_the_code_reads_and_checks() -> None:
    page = settings_reference.PAGE.read_text()
    assert settings_reference.with_table(page) == page, "run `make docs`"
    read = {setting.key for setting in settings_reference.settings()}
    # Every key the app reads has a meaning, and no meaning is left for a key nobody reads.
    assert set(config_meanings.MEANINGS) | set(config_meanings.APP_KEYS) == read
    import app  # noqa: PLC0415

    assert set(app.CONTEXT_KEYS) == read  # and app.py hands each of them to load_config


def test_the_settings_reference_shows_defaults_and_ranges_as_load_config_checks_them() -> None:
    rows = {setting.key: setting for setting in settings_reference.settings()}
    assert (rows["reminders"].default, rows["reminders"].low, rows["reminders"].high) == (0, 0, 5)
    assert rows["smsApi"].default == "v2" and rows["configureTwoWay"].default is False
    assert config.load_config({}).ack_timeout_seconds == rows["ackTimeoutSeconds"].default
    assert "| `stormBatchSeconds` | `30` | 0-300 |" in settings_reference.table()
