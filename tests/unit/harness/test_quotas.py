"""Account limits: what the account's quotas allow to deploy (issue 21, defect 5 and its class).

The synth's check of reserved Lambda concurrency is a product test; the deploy-time checks of
``mdlc/harness/quotas.py`` are tests of the harness' own emulation of AWS's quotas.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
import yaml
from botocore.exceptions import ClientError

from mdlc.contract import MODELS_DIR, TeamFileError, parse_team
from mdlc.harness import OfflineAws
from mdlc.harness.quotas import DEFAULT_ACCOUNT, NEW_ACCOUNT, AccountQuotas, QuotaExceeded, profile_for
from stacks.app_builder import build_app, parse_concurrency_quota

EXAMPLE = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())


def write_team(models: Path, name: str, concurrency: int | None, account: str = "111111111111") -> None:
    data = json.loads(json.dumps(EXAMPLE))  # a deep copy of the example team
    data["name"] = name
    data["environments"] = {"dev": {"account": account, "region": "eu-west-1"}}
    if concurrency is not None:
        data.setdefault("realtime", {})["decision_concurrency"] = concurrency
    models.mkdir(parents=True, exist_ok=True)
    (models / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def build(models: Path, quota: int) -> None:
    build_app(cdk.App(outdir=str(models.parent / "cdk.out")), model=None, stage="dev", default_account=None,
              default_region=None, models_dir=models, build_dir=models.parent / "build", pipelines=False,
              lambda_concurrency_quota=quota)


# ----------------------------------------------------------------------------- product: synth
def test_a_default_team_reserves_no_concurrency():
    """Product: reservation is opt-in, so a default team fits an account whose quota is 10."""
    team = parse_team((MODELS_DIR / "fraud-detection.yaml").read_text())
    assert team.realtime.decision_concurrency is None
    assert team.realtime.reserved_concurrency == 0
    assert profile_for(team.realtime.reserved_concurrency) is NEW_ACCOUNT


def test_synth_refuses_reservations_beyond_the_quota_naming_every_team(tmp_path):
    """Product: two teams in one account reserving 1 × 500 each exceed 1000 less the 100 Lambda keeps."""
    models = tmp_path / "models"
    write_team(models, "card-fraud", 500)
    write_team(models, "fraud-detection", 500)
    with pytest.raises(TeamFileError) as refused:
        build(models, 1000)
    message = str(refused.value)
    assert "account 111111111111, region eu-west-1" in message
    assert "card-fraud (dev): 1 × 500" in message and "fraud-detection (dev): 1 × 500" in message
    assert "= 1000" in message and "leaves 900 to reserve" in message
    assert "below its minimum value of [100]" in message and "lambda_concurrency_quota" in message


def test_a_new_account_quota_refuses_any_reservation(tmp_path):
    """Product: with -c lambda_concurrency_quota=10 one reserved execution is already too many."""
    models = tmp_path / "models"
    write_team(models, "fraud-detection", 1)
    with pytest.raises(TeamFileError, match=r"fraud-detection \(dev\): 1 × 1 = 1; the account's quota of 10 .*"
                                            r"leaves 0 to reserve .*minimum value of \[10\]"):
        build(models, 10)


def test_reservations_in_different_accounts_do_not_add_up(tmp_path, monkeypatch):
    """Product: the quota is per account; 1 × 900 in each of two accounts fits 1000 − 100 each."""
    models = tmp_path / "models"
    write_team(models, "card-fraud", 900, account="222222222222")
    write_team(models, "fraud-detection", 900)
    from stacks import app_builder

    class ChecksPassed(Exception):
        pass

    def stop() -> None:
        raise ChecksPassed

    # Stop where the stacks are constructed (the synth tests' business): every check passed.
    monkeypatch.setattr(app_builder, "batched", stop)
    with pytest.raises(ChecksPassed):
        build(models, 1000)
    with pytest.raises(TeamFileError, match="card-fraud"):
        build(models, 999)


@pytest.mark.parametrize("value", ["ten", "0", "-5", "1.5"])
def test_a_malformed_quota_context_is_named(value):
    with pytest.raises(TeamFileError, match=r"context `lambda_concurrency_quota`: got .*expected the account's"):
        parse_concurrency_quota(value)
    assert parse_concurrency_quota(None) == 1000 and parse_concurrency_quota("10") == 10


# ------------------------------------------------------------------------ harness: quotas.py
def function_template(*reserved: int | None) -> dict:
    resources = {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}}}}
    for i, value in enumerate(reserved):
        props = {"Runtime": "python3.13", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                 "Code": {"ZipFile": "def handler(e, c): pass"}}
        if value is not None:
            props["ReservedConcurrentExecutions"] = value
        resources[f"Fn{i}"] = {"Type": "AWS::Lambda::Function", "Properties": props}
    return {"Resources": resources}


def test_a_new_account_refuses_a_reservation_at_deploy_with_lambdas_error():
    """Harness: the default profile is a new account (quota 10), where a reservation of 1 fails the deploy."""
    with OfflineAws() as aws:
        assert aws.quotas is NEW_ACCOUNT
        aws.deploy(function_template(None), stack_names=["plain"])  # no reservation: deploys
        with pytest.raises(QuotaExceeded, match=r"reserved/Fn0 \(AWS::Lambda::Function\) CREATE_FAILED: .*"
                                                r"Specified ReservedConcurrentExecutions for function decreases "
                                                r"account's UnreservedConcurrentExecution below its minimum "
                                                r"value of \[10\]"):
            aws.deploy(function_template(1), stack_names=["reserved"])


def test_a_default_account_keeps_100_unreserved_across_functions_and_api_calls():
    """Harness: 1000 − 100 may be reserved in all, by templates and by PutFunctionConcurrency alike."""
    with OfflineAws(quotas=DEFAULT_ACCOUNT) as aws:
        deployed = aws.deploy(function_template(450, 440), stack_names=["s"])
        lam = aws.client("lambda")
        second = deployed.resource("Fn1").ref
        lam.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=450)  # 900 in all
        with pytest.raises(ClientError, match=r"below its minimum value of \[100\]"):
            lam.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=451)
        assert lam.get_function_concurrency(FunctionName=second)["ReservedConcurrentExecutions"] == 450


def test_counted_resources_fail_past_their_quota():
    """Harness: the account-wide counts (here IAM roles and rules of one bus) stop the deploy that exceeds them."""
    small = AccountQuotas("tiny", lambda_concurrent_executions=10, iam_roles=2, rules_per_event_bus=1)
    with OfflineAws(quotas=small) as aws:
        aws.deploy(function_template(), function_template(), stack_names=["a", "b"])
        with pytest.raises(QuotaExceeded, match=r"c/Role \(AWS::IAM::Role\) CREATE_FAILED: the account's quota "
                                                r"of 2 IAM roles is used up \(2 deployed; profile 'tiny'\)"):
            aws.deploy(function_template(), stack_names=["c"])
        rule = {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 day)"}}
        aws.deploy({"Resources": {"R": rule}}, stack_names=["d"])
        with pytest.raises(QuotaExceeded, match="quota of 1 EventBridge rules on event bus 'default'"):
            aws.deploy({"Resources": {"R": rule}}, stack_names=["e"])


def test_a_template_over_500_resources_is_refused():
    """Harness: CloudFormation's per-template limit."""
    queues = {f"Q{i}": {"Type": "AWS::SQS::Queue", "Properties": {}} for i in range(501)}
    with OfflineAws() as aws, pytest.raises(QuotaExceeded, match="template has 501 resources; CloudFormation "
                                                                  "allows 500"):
        aws.deploy({"Resources": queues}, stack_names=["big"])
