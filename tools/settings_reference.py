"""`python -m tools.settings_reference [--check]`: the settings table of docs/deploying.md, from the code.

The keys, their defaults and their ranges are read from stacks/config.py load_config (the code that checks
them at synth: `_int(context, "reminders", 0, 0, 5)` is the key, its default and its range), plus app.py's own
keys (APP_KEYS); what each means is MEANINGS (both in stacks/config_meanings.py). The table is written between
the markers of the page; with --check, nothing is written and the exit code says whether the page is stale
(tests do the same).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from stacks import config
from stacks.config_meanings import APP_KEYS, MEANINGS

PROJECT = Path(__file__).resolve().parents[1]
PAGE = PROJECT / "docs" / "deploying.md"
BEGIN = "<!-- settings reference: written by `make docs` from stacks/config.py -->"
END = "<!-- end of settings reference -->"
READERS = {"_int": "integer", "_bool": "true or false", "_str": "text", "_countries": "country codes"}


@dataclass(frozen=True)
class Setting:
    """One context key as load_config reads it."""

    key: str
    kind: str
    default: object
    low: int | None = None
    high: int | None = None


def settings() -> list[Setting]:
    """Every key load_config reads, in the order it reads them, then app.py's own."""
    tree = ast.parse(Path(config.__file__).read_text())
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "load_config"]
    defaults = config.load_config({})
    found: list[Setting] = []
    calls = [node for node in ast.walk(function) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    for read in sorted(calls, key=lambda node: (node.lineno, node.col_offset)):
        assert isinstance(read.func, ast.Name)
        if read.func.id not in READERS or len(read.args) < 2 or not isinstance(read.args[1], ast.Constant):
            continue
        key = str(read.args[1].value)
        values = [arg.value if isinstance(arg, ast.Constant) else None for arg in read.args[2:]]
        field = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()  # smsApi -> sms_api, the config's field
        default = values[0] if read.func.id in ("_int", "_bool") else getattr(defaults, field, "")
        low, high = (values[1], values[2]) if read.func.id == "_int" else (None, None)
        found.append(Setting(key, READERS[read.func.id], default, low, high))  # type: ignore[arg-type]
    keys = [setting.key for setting in found]
    assert len(keys) == len(set(keys)), "a key is read twice"
    return found + [Setting(key, "text", default) for key, (default, _) in APP_KEYS.items()]


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple):
        return "`" + ",".join(value) + "`" if value else '`""`'
    return f"`{value}`" if value != "" else '`""`'


def meaning(setting: Setting) -> str:
    """What the key means (MEANINGS, or APP_KEYS for app.py's own keys)."""
    return APP_KEYS[setting.key][1] if setting.key in APP_KEYS else MEANINGS[setting.key]


def table() -> str:
    """The markdown table: key, default, accepted values, meaning."""
    lines = ["| key | default | accepted | meaning |", "|---|---|---|---|"]
    for setting in settings():
        accepted = f"{setting.low}-{setting.high}" if setting.low is not None else setting.kind
        lines.append(f"| `{setting.key}` | {_shown(setting.default)} | {accepted} | {meaning(setting)} |")
    return "\n".join(lines)


def with_table(page: str) -> str:
    """The page with its block between the markers replaced; raises when the markers are missing."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{PAGE.name} has no {BEGIN} ... {END} block")
    return page[: start + len(BEGIN)] + "\n\n" + table() + "\n\n" + page[end:]


def main(argv: list[str] | None = None) -> int:
    """Write the table; with --check, exit 1 when the page is stale."""
    parser = argparse.ArgumentParser(prog="python -m tools.settings_reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the page is stale")
    args = parser.parse_args(argv)
    page = PAGE.read_text()
    fresh = with_table(page)
    if args.check:
        if fresh != page:
            print(f"{PAGE.relative_to(PROJECT)} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
