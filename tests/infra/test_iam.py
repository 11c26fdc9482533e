"""The permissions that matter: each function can do its job and little else."""

import ast
from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_config
from stacks.sms_grants import sms_send_resources
from tests.infra.support import (
    CONFIGURATION_SET,
    PHONE_NUMBER_ID,
    PINPOINT_APP_ID,
    POOL_ID,
    PROJECT,
    Synth,
    actions_of,
    as_list,
    placeholder,
    resources_for,
    role_statements,
)

LAMBDAS = PROJECT / "lambdas"

TASK_CALLBACKS = ("states:SendTaskSuccess", "states:SendTaskFailure")
SMS_SENDERS = ("page", "unacknowledged", "reply", "operator")
ALL_HANDLERS = ("start", "page", "unacknowledged", "reply", "operator")


def statements(synth: Synth, handler: str) -> list[dict[str, Any]]:
    return role_statements(synth, synth.logical_id(getattr(synth.stack, handler).role))


def state_machine_arn(synth: Synth) -> str:
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    name = machine["Properties"]["StateMachineName"]
    return f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}"


@pytest.mark.parametrize("handler", ["page", "reply"])
def test_page_and_reply_functions_complete_tasks_of_this_state_machine_only(default_synth: Synth, handler: str) -> None:
    # The grant uses a formatted ARN (no dependency cycle); it must name the machine actually deployed.
    granted = statements(default_synth, handler)
    for action in TASK_CALLBACKS:
        assert resources_for(granted, action) == {state_machine_arn(default_synth)}, action


def test_the_operator_function_only_completes_tasks_of_this_state_machine_with_success(default_synth: Synth) -> None:
    # The CLI's acknowledge and resolve stop the escalation as a YES or a RESOLVE does; an operator never declines.
    granted = statements(default_synth, "operator")
    assert resources_for(granted, "states:SendTaskSuccess") == {state_machine_arn(default_synth)}
    assert not actions_of(granted) & {"states:SendTaskFailure", "states:StartExecution", "states:*"}


@pytest.mark.parametrize("handler", ["start", "unacknowledged"])
def test_other_functions_cannot_complete_tasks(default_synth: Synth, handler: str) -> None:
    assert not actions_of(statements(default_synth, handler)) & {*TASK_CALLBACKS, "states:*"}


def test_only_the_start_function_starts_executions_of_the_state_machine(default_synth: Synth) -> None:
    synth = default_synth
    machine = f"${{{synth.logical_id(synth.stack.workflow.state_machine)}}}"
    assert resources_for(statements(synth, "start"), "states:StartExecution") == {machine}
    for handler in ALL_HANDLERS[1:]:
        assert "states:StartExecution" not in actions_of(statements(synth, handler)), handler


SMS_ARN = "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:"
OWN_CONFIGURATION_SET = f"{SMS_ARN}configuration-set/IncidentEscalation-texts"  # the stack's own (stacks/receipts.py)


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_with_no_identity_sms_is_limited_to_this_accounts_identities(default_synth: Synth, handler: str) -> None:
    # Demo and test synth only: this template is refused at deploy (see test_deploy_rule.py).
    granted = statements(default_synth, handler)
    assert resources_for(granted, "sms-voice:SendTextMessage") == {
        *(f"{SMS_ARN}{kind}/*" for kind in ("phone-number", "pool", "sender-id", "opt-out-list", "protect-configuration")),
        OWN_CONFIGURATION_SET,
    }
    assert not any(action.startswith("mobiletargeting:") for action in actions_of(granted))


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_sms_may_be_sent_from_the_configured_phone_number_only(two_way_synth: Synth, handler: str) -> None:
    assert resources_for(statements(two_way_synth, handler), "sms-voice:SendTextMessage") == {
        f"{SMS_ARN}phone-number/{PHONE_NUMBER_ID}",
        OWN_CONFIGURATION_SET,
        f"{SMS_ARN}opt-out-list/*",
        f"{SMS_ARN}protect-configuration/*",
    }


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_sms_from_a_pool_with_a_configuration_set_and_the_stacks_protect_configuration(
    limited_synth: Synth, handler: str
) -> None:
    synth = limited_synth
    protect = synth.logical_id(synth.stack.messaging.protect_configuration)
    assert resources_for(statements(synth, handler), "sms-voice:SendTextMessage") == {
        f"{SMS_ARN}pool/{POOL_ID}",
        f"{SMS_ARN}configuration-set/{CONFIGURATION_SET}",
        f"{SMS_ARN}opt-out-list/*",
        f"{SMS_ARN}protect-configuration/${{{protect}}}",
    }


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"originationIdentity": "+447700900001"},
            "arn:<AWS::Partition>:sms-voice:<AWS::Region>:<AWS::AccountId>:phone-number/*",
        ),
        ({"originationIdentity": "OnCall"}, "arn:<AWS::Partition>:sms-voice:<AWS::Region>:<AWS::AccountId>:sender-id/OnCall/*"),
        (
            {"originationIdentity": "arn:aws:sms-voice:eu-west-1:123456789012:pool/pool-abc"},
            "arn:aws:sms-voice:eu-west-1:123456789012:pool/pool-abc",
        ),
    ],
)
def test_each_kind_of_identity_scopes_send_text_message(context: dict[str, str], expected: str) -> None:
    resources = sms_send_resources(load_config(context))
    assert resources[0] == expected
    assert not [resource for resource in resources if resource.endswith((":*", "pool/*", "sender-id/*")) and resource != expected]


def test_a_configuration_set_arn_is_granted_as_given() -> None:
    arn = "arn:aws:sms-voice:eu-west-2:123456789012:configuration-set/pages"
    assert arn in sms_send_resources(load_config({"originationIdentity": POOL_ID, "configurationSet": arn}))


def test_start_function_sends_no_sms(default_synth: Synth) -> None:
    granted = actions_of(statements(default_synth, "start"))
    assert not any(action.startswith(("sms-voice:", "mobiletargeting:")) for action in granted)


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_pinpoint_mode_grants_send_messages_on_the_application_only(pinpoint_synth: Synth, handler: str) -> None:
    granted = statements(pinpoint_synth, handler)
    assert resources_for(granted, "mobiletargeting:SendMessages") == {
        f"arn:${{AWS::Partition}}:mobiletargeting:${{AWS::Region}}:${{AWS::AccountId}}:apps/{PINPOINT_APP_ID}/messages"
    }
    assert not any(action.startswith("sms-voice:") for action in actions_of(granted))


def test_no_function_role_has_a_managed_policy(any_synth: Synth) -> None:
    for handler in ALL_HANDLERS:
        role = any_synth.resources[any_synth.logical_id(getattr(any_synth.stack, handler).role)]
        assert not role["Properties"].get("ManagedPolicyArns"), handler


def test_function_roles_write_logs_only_to_their_own_log_group(default_synth: Synth) -> None:
    synth = default_synth
    for handler in ALL_HANDLERS:
        construct = getattr(synth.stack, handler)
        granted = statements(synth, handler)
        assert resources_for(granted, "logs:PutLogEvents") == {f"${{{synth.logical_id(construct.log_group)}.Arn}}"}
        assert "logs:CreateLogGroup" not in actions_of(granted), handler


def test_no_function_gets_wildcard_actions(any_synth: Synth) -> None:
    for handler in ALL_HANDLERS:
        for action in actions_of(statements(any_synth, handler)):
            assert action != "*" and not action.endswith(":*"), (handler, action)


def test_only_the_page_mark_unacknowledged_and_operator_functions_may_publish_to_the_ops_topic(default_synth: Synth) -> None:
    synth = default_synth
    topic = f"${{{synth.logical_id(synth.stack.messaging.ops_topic)}}}"
    # a fault of ours is told at once; so is an exhausted chain; and a maintenance window's start and end (operator)
    for handler in ("page", "unacknowledged", "operator"):
        assert resources_for(statements(synth, handler), "sns:Publish") == {topic}
    for handler in ("start", "reply"):
        assert "sns:Publish" not in actions_of(statements(synth, handler)), handler


HANDLER_MODULES = {
    "start": "start_escalation",
    "page": "page_contact",
    "unacknowledged": "mark_unacknowledged",
    "reply": "handle_reply",
    "operator": "operator_actions",
}
BOTO_TABLE_CALLS = {
    "get_item": "dynamodb:GetItem",
    "update_item": "dynamodb:UpdateItem",
    "put_item": "dynamodb:PutItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
}
MESSAGE_TABLE_USERS = {"message_log", "notifier", "inbound_store", "once"}  # Dependencies fields backed by the messages table
# MessageLog's reads that query the by_contact index (matching replies, a batch text's rows).
INDEX_QUERIES = {"pages_to", "latest_pages_to", "rows_of_batch"}
WRITE_ANY = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*", "*"}


def _is_table_client(target: ast.expr) -> bool:
    """`self._table`, or its low-level client `self._table.meta.client` (BatchGetItem is not on the Table resource)."""
    if isinstance(target, ast.Attribute) and target.attr == "_table":
        return True
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "client"
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "meta"
        and _is_table_client(target.value.value)
    )


def repository_classes() -> list[ast.ClassDef]:
    """IncidentRepository and the classes it is built on (the incidents table's writes live in several modules)."""
    classes: list[ast.ClassDef] = []
    todo = [("escalation.store.repository", "IncidentRepository")]
    while todo:
        where, name = todo.pop()
        module = _Module(where)
        if name in module.names:  # imported: follow it to its module
            todo.append(module.names[name])
            continue
        cls = module.definitions[name]
        assert isinstance(cls, ast.ClassDef), name
        classes.append(cls)
        todo += [(where, base.id) for base in cls.bases if isinstance(base, ast.Name)]
    return classes


def repository_actions() -> dict[str, set[str]]:
    """IncidentRepository method -> the DynamoDB actions it makes, following calls to its own methods."""
    direct: dict[str, set[str]] = {}
    internal: dict[str, set[str]] = {}
    for method in (node for cls in repository_classes() for node in cls.body):
        if not isinstance(method, ast.FunctionDef):
            continue
        direct[method.name], internal[method.name] = set(), set()
        for node in ast.walk(method):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                if _is_table_client(target):
                    assert node.func.attr in BOTO_TABLE_CALLS, f"map {node.func.attr} to its IAM action"
                    direct[method.name].add(BOTO_TABLE_CALLS[node.func.attr])
                elif isinstance(target, ast.Name) and target.id == "self":
                    internal[method.name].add(node.func.attr)

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = set(direct[name])
        for callee in internal[name] - seen:
            found |= resolve(callee, seen | {name})
        return found

    return {name: resolve(name) for name in direct}


def _module_path(module: str) -> Path | None:
    path = LAMBDAS / f"{module.replace('.', '/')}.py"
    return path if path.exists() else None


class _Module:
    """One module's top-level definitions and what its imported names refer to."""

    def __init__(self, module: str) -> None:
        path = _module_path(module)
        assert path, module
        tree = ast.parse(path.read_text())
        self.definitions = {
            node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        self.modules: dict[str, str] = {}  # local name -> escalation module (from escalation.sms import messages)
        self.names: dict[str, tuple[str, str]] = {}  # local name -> (module, name) (from escalation.x import f)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("escalation"):
                for alias in node.names:
                    local = alias.asname or alias.name
                    if _module_path(f"{node.module}.{alias.name}"):
                        self.modules[local] = f"{node.module}.{alias.name}"
                    elif _module_path(str(node.module)):
                        self.names[local] = (str(node.module), alias.name)


def reached_code(module: str, entry: str) -> list[ast.AST]:
    """The functions and classes `entry` can reach: names it uses, followed into escalation modules (a call graph).

    A name that resolves to a function or class of our own is followed wherever it is used (called, or passed on as a
    callback); a class brings all its methods. Python's dynamic calls are out of reach, the handlers make none.
    """
    loaded: dict[str, _Module] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(module, entry)]
    reached: list[ast.AST] = []
    while todo:
        where, name = todo.pop()
        if (where, name) in seen:
            continue
        seen.add((where, name))
        source = loaded.setdefault(where, _Module(where))
        if name in source.names:  # re-exported
            todo.append(source.names[name])
            continue
        if name not in source.definitions:
            continue
        node = source.definitions[name]
        reached.append(node)
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name):
                if inner.id in source.definitions:
                    todo.append((where, inner.id))
                elif inner.id in source.names:
                    todo.append(source.names[inner.id])
            elif isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and inner.value.id in source.modules:
                todo.append((source.modules[inner.value.id], inner.attr))
    return reached


def handler_uses(handler: str) -> tuple[set[str], set[str]]:
    """(IncidentRepository methods, other Dependencies fields) the handler's code uses on its dependencies.

    Read from the code the handler can reach (reached_code): repository calls on `.incidents`, or on a repository
    passed in as `incidents`; Dependencies fields as `deps.<field>`, `self.deps.<field>` or `ctx.deps.<field>`.
    """
    repository_methods = set(repository_actions())
    methods, fields = set(), set()
    for code in reached_code(HANDLER_MODULES[handler], "handler"):
        for node in ast.walk(code):
            if not isinstance(node, ast.Attribute):
                continue
            target = node.value
            if node.attr in repository_methods and (
                (isinstance(target, ast.Attribute) and target.attr == "incidents")
                or (isinstance(target, ast.Name) and target.id == "incidents")
            ):
                methods.add(node.attr)
            if (isinstance(target, ast.Name) and target.id == "deps") or (
                isinstance(target, ast.Attribute) and target.attr == "deps"
            ):
                fields.add(node.attr)
    return methods, fields


def index_queries(handler: str) -> set[str]:
    """The MessageLog index queries the handler's code makes (calls from outside MessageLog itself, which calls them on self)."""
    return {
        node.attr
        for code in reached_code(HANDLER_MODULES[handler], "handler")
        for node in ast.walk(code)
        if isinstance(node, ast.Attribute) and node.attr in INDEX_QUERIES
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    }  # fmt: skip


def table_actions(synth: Synth, handler: str, table: object) -> set[str]:
    arn = f"${{{synth.logical_id(table)}.Arn}}"
    return {
        action
        for statement in statements(synth, handler)
        if statement["Effect"] == "Allow" and arn in statement["Resource"]
        for action in statement["Action"]
    }


@pytest.mark.parametrize("handler", ALL_HANDLERS)
def test_each_function_gets_exactly_the_incident_table_actions_its_code_makes(default_synth: Synth, handler: str) -> None:
    # Read from the handler's code: a new repository call without its grant (or a grant nobody uses) fails here.
    actions = repository_actions()
    methods, _ = handler_uses(handler)
    assert methods, f"{handler}: no call on deps.incidents found; has the handler moved its table access?"
    expected = set().union(*(actions[method] for method in methods))
    assert table_actions(default_synth, handler, default_synth.stack.storage.incidents) == expected


def test_the_repository_analysis_sees_reads_and_writes() -> None:
    # The premise of the test above: the walk finds the calls (a broken walk would expect nothing).
    actions = repository_actions()
    assert actions["get"] == {"dynamodb:GetItem"}
    assert actions["acknowledge_by_reply"] == {"dynamodb:UpdateItem"}  # through self._update
    assert actions["mark_unreachable"] == {"dynamodb:UpdateItem"}


def test_no_role_may_replace_or_delete_an_incident(any_synth: Synth) -> None:
    # Except the events endpoint, which opens incidents as a user does: a conditional PutItem that never writes over an
    # open incident; a closed one it reuses the short id of is archived by the stream first (escalation.alerts.short_ids).
    # The heartbeat checker opens them through the same trigger.
    incidents = f"${{{any_synth.logical_id(any_synth.stack.storage.incidents)}.Arn}}"
    openers = {
        any_synth.logical_id(role.node.find_child("DefaultPolicy"))
        for role in (any_synth.stack.alerts.function.role, any_synth.stack.heartbeats.check.role)
    }
    for name, policy in any_synth.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = {placeholder(resource) for resource in as_list(statement["Resource"])}
            if statement["Effect"] == "Allow" and resources & {incidents, "*"}:
                writes = set(as_list(statement["Action"])) & WRITE_ANY
                # The events endpoint may put (never delete), on the incidents table only.
                allowed = {"dynamodb:PutItem"} if name in openers and resources == {incidents} else set()
                assert writes <= allowed, (name, statement)


@pytest.mark.parametrize("handler", ALL_HANDLERS)
def test_only_functions_that_use_the_message_log_may_touch_the_messages_table(default_synth: Synth, handler: str) -> None:
    # page_contact, mark_unacknowledged and handle_reply record outbound texts, match replies (Query on by_contact)
    # and keep once-only keys there, so they read and write it; the start function never touches it.
    _, fields = handler_uses(handler)
    granted = table_actions(default_synth, handler, default_synth.stack.storage.messages)
    if fields & MESSAGE_TABLE_USERS:
        required = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
        required |= {"dynamodb:DeleteItem"} if "once" in fields else set()  # a failed side effect gives its key back
        required |= {"dynamodb:Query"} if index_queries(handler) else set()
        assert required <= granted, handler
    else:
        assert granted == set(), handler


def test_the_operator_function_touches_message_items_only_never_the_reply_index(default_synth: Synth) -> None:
    # Once-only keys, the outbound log, the send rate and the ceilings are items; it never matches replies.
    synth = default_synth
    assert not index_queries("operator")
    assert table_actions(synth, "operator", synth.stack.storage.messages) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    messages = f"${{{synth.logical_id(synth.stack.storage.messages)}.Arn}}"
    resources = {resource for statement in statements(synth, "operator") for resource in statement["Resource"]}
    assert not {resource for resource in resources if resource.startswith(f"{messages}/")}, "no index, no stream"


def test_the_handler_analysis_follows_the_shared_rules_it_calls() -> None:
    # The operator's own module reads and forgets tokens; acknowledging and resolving happen in escalation modules.
    methods, fields = handler_uses("operator")
    assert {"acknowledge_by_reply", "resolve", "get", "forget_token"} <= methods
    assert {"once", "notifier"} <= fields


def test_the_alerts_function_writes_only_its_claims_and_counters_in_the_integrations_table(default_synth: Synth) -> None:
    synth = default_synth
    table = synth.logical_id(synth.stack.alerts.integrations)
    granted = [
        statement
        for statement in role_statements(synth, synth.logical_id(synth.stack.alerts.function.role))
        if any(table in resource for resource in statement["Resource"])
    ]
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert granted
    for statement in granted:
        leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]  # every grant is by prefix
        if writes & set(statement["Action"]):
            assert sorted(leading) == ["alarm#*", "dedup#*", "rate#*", "short#*"], statement
        assert not {"dynamodb:Scan", "dynamodb:Query", "dynamodb:*"} & set(statement["Action"])
    readable = {prefix for statement in granted if "dynamodb:GetItem" in statement["Action"]
                for prefix in statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]}  # fmt: skip
    assert {"key#*", "integration#*"} <= readable
