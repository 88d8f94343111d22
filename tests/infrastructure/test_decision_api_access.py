"""Who can reach the decision API: TLS policy, resource policy, WAF (issue 27, item 5).

Product tests over synthesised templates: the example team's realtime stack, and the
decision API construct alone in a small stack for the team-file variations (so each
variation costs a construct, not a whole app synth).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn

from mdlc.contract import MODELS_DIR, parse_team
from stacks.common.props import TeamContext
from stacks.realtime.api import ENDPOINT_ACCESS_MODE, SECURITY_POLICY, DecisionApi

EXAMPLE = (MODELS_DIR / "fraud-detection.yaml").read_text()
ACCOUNT = "111111111111"
ACL = "arn:aws:wafv2:eu-west-1:111111111111:regional/webacl/payments/a1b2c3d4-5678-90ab-cdef-111111111111"


def api_template(tmp_path: Path, api_section: str = "", stage: str = "dev", base: str = EXAMPLE) -> dict:
    text = base.replace("  fallback_decision: REVIEW\n", f"  fallback_decision: REVIEW\n{api_section}")
    team = parse_team(text)
    app = cdk.App()
    stack = cdk.Stack(app, "Api", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    key = kms.Key(stack, "Key")
    machine = sfn.StateMachine(stack, "Decisions", state_machine_type=sfn.StateMachineType.EXPRESS,
                               definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P")))
    ctx = TeamContext(team=team, team_file=tmp_path / "team.yaml", stage=stage, build_dir=tmp_path)
    DecisionApi(stack, "DecisionApi", ctx=ctx, data=SimpleNamespace(key=key), decision_machine=machine)
    return app.synth().get_stack_by_name("Api").template


def of_type(template: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def policy_statements(template: dict) -> dict[str, dict]:
    (api,) = of_type(template, "AWS::ApiGateway::RestApi")
    return {s["Sid"]: s for s in api["Policy"]["Statement"]}


def test_the_example_team_api_accepts_tls_1_2_or_later_only(assembly):
    """The default of a Regional API is TLS_1_0 (API Gateway's "Supported security policies")."""
    (api,) = [r["Properties"] for r in assembly.template("fraud-detection-realtime")["Resources"].values()
              if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert api["SecurityPolicy"] == SECURITY_POLICY == "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"
    assert api["EndpointAccessMode"] == ENDPOINT_ACCESS_MODE == "STRICT"
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_the_security_policy_is_one_api_gateway_accepts():
    """Against botocore's service model: a typo would fail the deployment, not the synth."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("apigateway")
    assert SECURITY_POLICY in model.shape_for("SecurityPolicy").enum
    assert ENDPOINT_ACCESS_MODE in model.shape_for("EndpointAccessMode").enum


def test_by_default_only_principals_of_the_stages_own_account_may_invoke(tmp_path):
    statements = policy_statements(api_template(tmp_path))
    allow, deny = statements["TeamClients"], statements["NoOtherCaller"]
    assert allow["Effect"] == "Allow" and allow["Action"] == "execute-api:Invoke"
    assert json.dumps(allow["Principal"]).count(f":iam::{ACCOUNT}:root") == 1
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"} and deny["Action"] == "execute-api:Invoke"
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": [ACCOUNT]}}
    assert allow["Resource"] == deny["Resource"] == "execute-api:/*"


def test_named_client_roles_and_accounts_are_the_only_callers(tmp_path):
    gateway = "arn:aws:iam::444444444444:role/payments-gateway"
    section = f"  api:\n    allowed_principals: ['{gateway}', '555555555555']\n"
    statements = policy_statements(api_template(tmp_path, section))
    principals = json.dumps(statements["TeamClients"]["Principal"])
    assert gateway in principals and ":iam::555555555555:root" in principals and f"{ACCOUNT}:root" not in principals
    condition = statements["NoOtherCaller"]["Condition"]
    assert condition["StringNotEquals"] == {"aws:PrincipalAccount": ["555555555555"]}
    roles = json.dumps(condition["ArnNotEquals"]["aws:PrincipalArn"])
    # The pipeline's smoke test in the team's own account keeps its access (excepted from the Deny only).
    assert gateway in roles and f":iam::{ACCOUNT}:role/" in roles and "smoke-test" in roles


def test_roles_only_leave_no_account_wide_exception(tmp_path):
    section = "  api:\n    allowed_principals: ['arn:aws:iam::111111111111:role/checkout']\n"
    condition = policy_statements(api_template(tmp_path, section))["NoOtherCaller"]["Condition"]
    assert set(condition) == {"ArnNotEquals"}


def test_no_web_acl_unless_the_team_file_names_one(tmp_path):
    assert of_type(api_template(tmp_path), "AWS::WAFv2::WebACLAssociation") == []


@pytest.mark.parametrize("section", [f"  api:\n    waf_acl_arn: {ACL}\n", f"  api:\n    waf_acl_arn: {{dev: {ACL}}}\n"])
def test_a_named_web_acl_is_associated_with_the_stage(tmp_path, section):
    dev_only = EXAMPLE.replace("  staging: {account: \"222222222222\", region: eu-west-1}\n", "").replace(
        "  production: {account: \"333333333333\", region: eu-west-1}\n", "")
    template = api_template(tmp_path, section, base=dev_only)
    (association,) = of_type(template, "AWS::WAFv2::WebACLAssociation")
    assert association["WebACLArn"] == ACL
    stage = next(logical for logical, r in template["Resources"].items() if r["Type"] == "AWS::ApiGateway::Stage")
    assert association["ResourceArn"]["Fn::Join"][1][-2:] == ["/stages/", {"Ref": stage}]


def test_a_web_acl_of_another_account_is_refused_at_validate():
    from mdlc.contract import TeamFileError

    with pytest.raises(TeamFileError, match="the web ACL is in account 111111111111.*stage 'staging'"):
        parse_team(EXAMPLE.replace("  fallback_decision: REVIEW\n",
                                   f"  fallback_decision: REVIEW\n  api:\n    waf_acl_arn: {ACL}\n"))


def test_the_integration_role_can_use_the_team_key_for_the_decision_workflows_data(tmp_path):
    """The decision workflow is encrypted with the team key: StartSyncExecution needs it."""
    template = api_template(tmp_path)
    statements = [s for p in of_type(template, "AWS::IAM::Policy") for s in p["PolicyDocument"]["Statement"]]
    (kms_use,) = [s for s in statements if "kms:GenerateDataKey" in s["Action"]]
    assert set(kms_use["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert "kms:EncryptionContext:aws:states:stateMachineArn" in kms_use["Condition"]["StringEquals"]


def _resolved(policy: dict) -> str:
    """The policy as API Gateway stores it: the partition substituted, the resource its ARN."""
    def resolve(node):
        if isinstance(node, dict) and "Fn::Join" in node:
            return "".join(resolve(p) for p in node["Fn::Join"][1])
        if node == {"Ref": "AWS::Partition"}:
            return "aws"
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return "*" if node == "execute-api:/*" else node
    return json.dumps(resolve(policy))


@pytest.mark.parametrize(("section", "caller", "caller_account", "admitted"), [
    ("", f"arn:aws:iam::{ACCOUNT}:role/any-role", ACCOUNT, True),
    ("", "arn:aws:iam::999999999999:role/outsider", "999999999999", False),
    ("  api:\n    allowed_principals: ['arn:aws:iam::111111111111:role/checkout']\n",
     f"arn:aws:iam::{ACCOUNT}:role/checkout", ACCOUNT, True),
    # Another team's role in the same (shared) account, with its own execute-api:Invoke on *:
    ("  api:\n    allowed_principals: ['arn:aws:iam::111111111111:role/checkout']\n",
     f"arn:aws:iam::{ACCOUNT}:role/other-team--decider", ACCOUNT, False),
    ("  api:\n    allowed_principals: ['arn:aws:iam::111111111111:role/checkout']\n",
     f"arn:aws:iam::{ACCOUNT}:role/fraud-detection--smoke-test", ACCOUNT, True),
    ("  api:\n    allowed_principals: ['555555555555']\n", "arn:aws:iam::555555555555:role/gw", "555555555555", True),
])
def test_the_resource_policy_denies_every_caller_but_the_named_ones(tmp_path, section, caller, caller_account,
                                                                    admitted):
    """Evaluated with the harness' IAM evaluator (IAM's Deny-wins and condition semantics)."""
    from moto.iam.access_control import PermissionResult

    from mdlc.harness.iam import evaluate

    (api,) = of_type(api_template(tmp_path, section), "AWS::ApiGateway::RestApi")
    resource = f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:abc123/v1/POST/decisions"
    context = {"aws:principalarn": caller, "aws:principalaccount": caller_account}
    result = evaluate([_resolved(api["Policy"])], "execute-api:Invoke", resource, context, caller)
    assert (result != PermissionResult.DENIED) is admitted
