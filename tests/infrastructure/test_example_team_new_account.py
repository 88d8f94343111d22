"""Product: the example team deploys into a new account (issue 21, "account limits").

A new account's Lambda concurrency quota is often 10, of which Lambda keeps all unreserved,
so a stack that reserves any concurrency fails to deploy there. ``LocalTeam`` deploys a team
that does not opt in to reservations against the harness' new-account profile
(``mdlc/harness/quotas.py``), as every workflow test does; this test says so explicitly, and
shows that the realtime stack as it was (four functions reserving 10 each) is refused.
"""

from __future__ import annotations

import copy

import pytest

from mdlc.contract import load_team
from mdlc.harness import OfflineAws
from mdlc.harness.quotas import NEW_ACCOUNT, QuotaExceeded, profile_for
from mdlc.local import LocalTeam

NAME = "fraud-detection"


def test_the_example_team_deploys_into_a_new_account(team_dir, assembly, tmp_path):
    with LocalTeam(NAME, models_dir=team_dir, assembly=assembly, workdir=tmp_path, quiet=True,
                   quotas=NEW_ACCOUNT) as team:
        assert team.aws.quotas is NEW_ACCOUNT
        functions = team.resources.of_type("AWS::Lambda::Function")
        assert len(functions) > 10 and team.resources.of_type("AWS::IAM::Role")
        lam = team.client("lambda")
        reserved = {f.ref: lam.get_function_concurrency(FunctionName=f.ref).get("ReservedConcurrentExecutions")
                    for f in functions}
        assert set(reserved.values()) == {None}
    # ...and it is the profile every workflow test deploys this team against.
    assert profile_for(load_team(team_dir / f"{NAME}.yaml").realtime.reserved_concurrency) is NEW_ACCOUNT


def test_a_realtime_stack_that_reserves_concurrency_is_refused_by_a_new_account(team_dir, assembly):
    """The regression of defect 5: the realtime template with 10 reserved on its functions, as
    on main before the fix, fails the deploy with Lambda's own message."""
    team = LocalTeam(NAME, models_dir=team_dir, assembly=assembly)
    stacks = team.stacks
    templates = {s: copy.deepcopy(assembly.template(s)) for s in stacks}
    for resource in templates[f"{NAME}-realtime"]["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function" and "mdlc:source" in (resource.get("Metadata") or {}):
            resource["Properties"]["ReservedConcurrentExecutions"] = 10
    with OfflineAws(region=team.region, account_id=team.account) as aws, pytest.raises(
            QuotaExceeded, match=rf"{NAME}-realtime/.* \(AWS::Lambda::Function\) CREATE_FAILED: .*below its "
                                 r"minimum value of \[10\]"):
        team.create_boundary(aws)
        aws.deploy(*templates.values(), stack_names=stacks)
