"""Read oncall.yaml at synth time: YAML in, checked on-call definitions out, or an error naming the path.

The model lives with the functions (lambdas/escalation/oncall/definitions.py), which get the definitions as
JSON; YAML is only ever read here.
"""

import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stacks.config_errors import ConfigError

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDA_SOURCE) not in sys.path:  # `cdk synth` runs app.py from the repository root only
    sys.path.append(str(LAMBDA_SOURCE))

from escalation.oncall.definitions import Definitions  # noqa: E402
from escalation.oncall.fields import format_loc  # noqa: E402
from escalation.oncall.store import definitions_item  # noqa: E402

__all__ = ["Definitions", "OncallConfigError", "check_destinations", "definitions_item", "load_oncall", "parse_oncall"]

ONCALL_FILE = Path(__file__).resolve().parent.parent / "oncall.yaml"


class OncallConfigError(ConfigError):
    """oncall.yaml is unreadable or wrong; each line reads ``oncall.yaml: <path>: <problem>``."""


MERGE_TAG = "tag:yaml.org,2002:merge"


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


def _lines(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers[:-1]) + f" and {numbers[-1]}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key defined twice in a mapping is recorded (PyYAML keeps the last, silently).

    ``duplicates`` holds one ``<path>: defined twice (lines a and b)`` per such key (with the line it is
    first defined on), paths as ``format_loc`` writes them. Keys brought in by a merge key (``<<: *anchor``)
    may be overridden: only keys written in the mapping itself count.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []  # (first line, problem)
        self._paths: dict[int, tuple[int | str, ...]] = {}

    def construct_document(self, node: Node) -> Any:
        self._index_paths(node, ())
        return super().construct_document(node)

    def _index_paths(self, node: Node, path: tuple[int | str, ...]) -> None:
        """Remember where each mapping is (an aliased node keeps its first place; no node is walked twice)."""
        if id(node) in self._paths:
            return
        self._paths[id(node)] = path
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else "?"
                self._index_paths(value_node, (*path, str(key)))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self._index_paths(item, (*path, index))

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, list[int]] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                seen.setdefault(key, []).append(key_node.start_mark.line + 1)
        path = self._paths.get(id(node), ())
        self.duplicates.extend(
            (lines[0], f"{format_loc((*path, str(key)))}: defined {_times(len(lines))} (lines {_lines(lines)})")
            for key, lines in seen.items()
            if len(lines) > 1
        )
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str, source: str) -> Any:
    """The YAML document, or OncallConfigError for a syntax error or for keys defined twice."""
    loader = _UniqueKeyLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        raise OncallConfigError(f"{source}: {where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise OncallConfigError("\n".join(f"{source}: {problem}" for _, problem in sorted(loader.duplicates)))
    return data


def parse_oncall(text: str, source: str = "oncall.yaml") -> Definitions:
    """Check the YAML text of on-call definitions; raises OncallConfigError naming every bad path."""
    data = _load_yaml(text, source)
    if not isinstance(data, dict):
        raise OncallConfigError(f"{source}: (top level): must be a mapping with people, rotations and policies")
    try:
        return Definitions.model_validate(data)
    except ValidationError as error:
        lines = [f"{source}: {format_loc(tuple(detail['loc']))}: {detail['msg']}" for detail in error.errors()]
        raise OncallConfigError("\n".join(lines)) from None


def load_oncall(path: Path = ONCALL_FILE) -> Definitions:
    """Read and check an oncall.yaml file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OncallConfigError(f"{path.name}: (top level): cannot be read ({error.strerror})") from None
    return parse_oncall(text, source=path.name)


def check_destinations(definitions: Definitions, allowed_calling_codes: tuple[str, ...], source: str = "oncall.yaml") -> None:
    """Refuse people whose phones are outside allowedCountries (the start handler refuses such contacts too)."""
    if not allowed_calling_codes:
        return
    codes = ", ".join(f"+{code}" for code in allowed_calling_codes)
    bad = [
        f"{source}: people.{person_id}.phone: {person.phone} is outside the countries this deployment may text ({codes})"
        for person_id, person in definitions.people.items()
        if not any(person.phone.startswith(f"+{code}") for code in allowed_calling_codes)
    ]
    if bad:
        raise OncallConfigError("\n".join(bad))
