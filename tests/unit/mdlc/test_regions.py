"""Account and region of a team: one order (team file, -c account/region, the CDK CLI's
environment), printed per team, with a warning on the last fallback. Product tests."""

from __future__ import annotations

import pytest

from mdlc.contract import MODELS_DIR, TeamFileError, load_team
from stacks.app_builder import fallback_warning, resolve_env
from tests.second_team import write_second_team

EXAMPLE = MODELS_DIR / "fraud-detection.yaml"


@pytest.fixture
def second(tmp_path):
    path = write_second_team(tmp_path)
    return load_team(path), path


def test_the_team_file_wins_over_context_and_cli():
    team = load_team(EXAMPLE)
    env = resolve_env(team, EXAMPLE, "dev", "999999999999", "us-east-1",
                      context_account="210987654321", context_region="us-east-2")
    assert (env.account, env.region, env.source) == ("111111111111", "eu-west-1", "team file")
    assert fallback_warning(team.name, "dev", env) is None
    assert env.describe(team.name, "dev") == (
        f"fraud-detection (dev): account 111111111111, region eu-west-1 (from environments.dev in {EXAMPLE})")


def test_context_wins_over_the_cli_environment_for_a_team_without_environments(second):
    team, path = second
    env = resolve_env(team, path, "dev", "999999999999", "us-east-1",
                      context_account="210987654321", context_region="us-east-2")
    assert (env.account, env.region, env.source) == ("210987654321", "us-east-2", "context")
    assert fallback_warning(team.name, "dev", env) is None


def test_context_region_alone_keeps_the_cli_account(second):
    team, path = second
    env = resolve_env(team, path, "dev", "999999999999", "us-east-1", context_region="us-east-2")
    assert (env.account, env.region) == ("999999999999", "us-east-2")


def test_falling_back_to_the_cli_environment_warns_and_says_how_to_pin_it(second):
    team, path = second
    env = resolve_env(team, path, "dev", "999999999999", "us-east-1")
    assert (env.account, env.region, env.source) == ("999999999999", "us-east-1", "cli")
    warning = fallback_warning(team.name, "dev", env)
    assert warning.startswith("warning: merchant-chargeback (dev): no environments.dev in the team file")
    assert "-c region=" in warning and "ignores a CDK_DEFAULT_REGION you export" in warning


def test_no_region_anywhere_is_an_error_naming_both_ways_to_give_one(second):
    team, path = second
    with pytest.raises(TeamFileError, match=r"field `environments.dev`: missing, and no region was given.*"
                                            r"cdk synth -c region=eu-west-1"):
        resolve_env(team, path, "dev", None, None)


def test_a_malformed_context_region_is_named(second):
    team, path = second
    with pytest.raises(TeamFileError, match=r"context `region`: got 'Ohio'; expected an AWS region"):
        resolve_env(team, path, "dev", None, None, context_region="Ohio")
