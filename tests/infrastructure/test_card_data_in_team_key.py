"""Card data stays inside the team key (issue 27, item 3), for every team's templates.

Product tests over the session's synthesised assembly: state machines encrypt definitions
and execution data with the team's key, every role that starts or reads executions can use
that key only through Step Functions and only for those machines, workflows that carry
customer ids log without execution data, reconciliation Lambdas put no payloads in X-Ray,
and failure e-mails never carry the execution's state.
"""

from __future__ import annotations

import json
from typing import Any

STATES_CALLS = {"states:StartExecution", "states:StartSyncExecution", "states:DescribeExecution"}
CONTEXT = "kms:EncryptionContext:aws:states:stateMachineArn"


def resources(assembly, kind: str) -> list[tuple[str, str, dict]]:
    return [(stack, logical, r["Properties"]) for stack, template in assembly.templates.items()
            for logical, r in template.get("Resources", {}).items() if r["Type"] == kind]


def actions(statement: dict) -> set[str]:
    action = statement.get("Action", [])
    return {action} if isinstance(action, str) else set(action)


def definition(props: dict) -> dict:
    parts = props["DefinitionString"]
    if isinstance(parts, str):
        return json.loads(parts)
    return json.loads("".join(p if isinstance(p, str) else "REF" for p in parts["Fn::Join"][1]))


def test_every_state_machine_encrypts_with_the_team_key(assembly):
    machines = resources(assembly, "AWS::StepFunctions::StateMachine")
    assert len(machines) >= 10
    for stack, logical, props in machines:
        encryption = props.get("EncryptionConfiguration")
        assert encryption and encryption["Type"] == "CUSTOMER_MANAGED_KMS_KEY", (stack, logical)
        key = json.dumps(encryption["KmsKeyId"])
        assert "Key" in key or "ImportValue" in key, (stack, logical, key)


def test_every_role_that_starts_or_reads_executions_can_use_the_key_for_them_only(assembly):
    """Step Functions asks KMS on the caller's behalf: without the grant, StartExecution
    (EventBridge schedules, the retraining guard, the deployment gate, the API) fails."""
    checked = 0
    for stack, logical, props in resources(assembly, "AWS::IAM::Policy"):
        statements = props["PolicyDocument"]["Statement"]
        if not any(actions(s) & STATES_CALLS for s in statements):
            continue
        kms_use = [s for s in statements if "kms:GenerateDataKey" in actions(s) and "kms:Decrypt" in actions(s)
                   and CONTEXT in json.dumps(s.get("Condition", {}))]
        assert kms_use, f"{stack} {logical} starts or reads executions but cannot use the team key"
        checked += 1
    assert checked >= 5


def test_the_events_roles_of_schedules_get_the_key_scoped_to_their_machine(assembly):
    roles = [(stack, logical) for stack, logical, props in resources(assembly, "AWS::IAM::Role")
             if "EventsRole" in logical]
    assert roles
    policies = {json.dumps(props["Roles"]): props for _, _, props in resources(assembly, "AWS::IAM::Policy")}
    for stack, logical in roles:
        policy = policies[json.dumps([{"Ref": logical}])]
        (kms_use,) = [s for s in policy["PolicyDocument"]["Statement"] if "kms:GenerateDataKey" in actions(s)]
        condition = kms_use["Condition"]["StringEquals"]
        assert CONTEXT in condition and condition["kms:ViaService"], (stack, logical)


def _logging(assembly, name_suffix: str) -> list[dict]:
    return [props["LoggingConfiguration"] for _, _, props in resources(assembly, "AWS::StepFunctions::StateMachine")
            if str(props.get("StateMachineName", "")).endswith(name_suffix)]


def test_workflows_that_carry_customer_ids_log_without_execution_data(assembly):
    for suffix in ("decision", "feature-backfill"):
        logging = _logging(assembly, suffix)
        assert logging, suffix
        assert all(c["IncludeExecutionData"] is False and c["Level"] == "ALL" for c in logging), suffix


def test_reconciliation_lambdas_put_no_payloads_in_x_ray(assembly):
    functions = [props for _, _, props in resources(assembly, "AWS::Lambda::Function")
                 if props.get("Handler", "").split(".")[1:3] in (["features", "reconcile_shard"],
                                                                 ["features", "publish_reconciliation"])]
    assert len(functions) >= 2
    for props in functions:
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", props["Handler"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false", props["Handler"]


def _sns_publishes(states: dict[str, Any]) -> list[tuple[str, dict]]:
    found = []
    for name, state in states.items():
        if state.get("Resource", "").endswith(":sns:publish"):
            found.append((name, state["Parameters"]))
        for branch in state.get("Branches", []) + [state.get("ItemProcessor") or state.get("Iterator") or {}]:
            found += _sns_publishes(branch.get("States", {}))
    return found


def test_no_notification_carries_the_executions_whole_state(assembly):
    """The state can hold a decision request or a shard's mismatched entities (customer ids);
    a failure e-mail names the workflow, the outcome, the execution and a console link."""
    failures = 0
    for stack, logical, props in resources(assembly, "AWS::StepFunctions::StateMachine"):
        for state, parameters in _sns_publishes(definition(props)["States"]):
            message = parameters.get("Message", {})
            paths = [v for k, v in message.items() if k.endswith(".$")]
            assert "$" not in paths, (stack, logical, state)
            if state.startswith("Notify") and message.get("outcome", "").endswith(("Failed", "RolledBack")):
                assert "console.$" in message and "execution.$" in message, (stack, state)
                failures += 1
    assert failures >= 8
