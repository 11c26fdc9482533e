"""The shape of the Lambda code: thin handlers, domain rules free of AWS, no import circles.

lambdas/ holds the handlers (one per function, at the top) over the `escalation` package, one subpackage per
concern. Inside each, three kinds of module: rules (what an incident, a text, a schedule or an alert is: pure
Python), stores (DynamoDB items, handed a table) and services (what a handler calls: they take the wired
dependencies). Rules never import an AWS SDK, Powertools, the platform (clients, settings, wiring) or a store, so
they can be read, tested and reused (the CLI imports them) without any of that.
"""

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
MAX_HANDLER_LINES = 120
# Domain rules: pure Python (the standard library, pydantic for the on-call model, and other rules).
RULES = frozenset(
    {
        "escalation.alerts.alarms",
        "escalation.alerts.events",
        "escalation.alerts.integration_checks",
        "escalation.alerts.page_facts",
        "escalation.alerts.page_template",
        "escalation.incidents.item",
        "escalation.incidents.levels",
        "escalation.incidents.maintenance",
        "escalation.incidents.ops_notices",
        "escalation.incidents.status",
        "escalation.incidents.timeline",
        "escalation.incidents.urgency",
        "escalation.oncall.definitions",
        "escalation.oncall.fields",
        "escalation.oncall.notify",
        "escalation.oncall.schedule",
        "escalation.paging.handoff",
        "escalation.replies.grammar",
        "escalation.replies.inbound",
        "escalation.sms.messages",
        "escalation.sms.phone_numbers",
        "escalation.sms.receipt_events",
        "escalation.sms.segments",
    }
)
ALLOWED_IN_RULES = ("pydantic", "pydantic_core")


def module_name(path: Path) -> str:
    parts = path.relative_to(LAMBDAS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(LAMBDAS.rglob("*.py")) if "__pycache__" not in path.parts}


def imports_of(path: Path) -> Iterator[str]:
    """Every module path imports, at any depth of the file (type-checking and function-level imports included)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def our_imports(path: Path, known: dict[str, Path]) -> set[str]:
    return {name for name in imports_of(path) if name in known} - {module_name(path)}


def test_the_rules_listed_exist() -> None:
    assert sorted(RULES - set(modules())) == []


@pytest.mark.parametrize("rule", sorted(RULES))
def test_domain_rules_import_no_aws_platform_or_store(rule: str) -> None:
    known = modules()
    outside = set()
    for name in imports_of(known[rule]):
        top = name.split(".")[0]
        if name in known or top == "escalation":
            if name in known and name not in RULES and name != "escalation" and known[name].name != "__init__.py":
                outside.add(name)
        elif top not in sys.stdlib_module_names and top not in ALLOWED_IN_RULES and top != "__future__":
            outside.add(name)
    assert sorted(outside) == [], f"{rule} is a domain rule: it may import only the standard library and other rules"


def test_the_layer_check_sees_an_aws_import() -> None:
    # The premise of the test above: a store imports botocore, and the walk finds it.
    assert "botocore.exceptions" in set(imports_of(modules()["escalation.store.incident_table"]))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (or a module importing itself): Tarjan's."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_in_the_lambda_code() -> None:
    known = modules()
    graph = {
        name: {target for target in our_imports(path, known) if known[target].name != "__init__.py"}
        for name, path in known.items()
    }
    assert cycles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def handlers() -> list[Path]:
    return sorted(path for path in LAMBDAS.glob("*.py"))


@pytest.mark.parametrize("handler", handlers(), ids=lambda path: path.stem)
def test_handlers_are_thin(handler: Path) -> None:
    lines = len(handler.read_text().splitlines())
    assert lines <= MAX_HANDLER_LINES, f"{handler.name}: {lines} lines; move the logic into the escalation package"
