"""The pipeline's guardrail step (stacks/pipeline.py: the build's backtest command), run offline.

Product test: the command the test stage's buildspec runs is executed in a git repository
whose last commit changes the team's policy, as CodeBuild runs it in the clone of the
team's repository (only the models folder and the model are the test's: ``--models-dir``,
``--current-model``; the pipeline trains the model offline instead). A change that breaks a
guardrail stops the build (exit 3) printing the comparison; one within its guardrails, or
one that leaves the policy alone, lets it go on.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mdlc import synthetic_team
from mdlc.contract import MODELS_DIR, REPO_ROOT, load_team
from stacks.pipeline import policy_guardrail_commands
from tests.unit.mdlc.backtest_support import SPEC, small_model

TEAM_FILE = MODELS_DIR / "fraud-detection.yaml"
GUARDRAILS = {"max_legit_decline_increase": 0.001, "max_review_rate": 0.5}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    history, _ = synthetic_team.for_team(SPEC, n_entities=60, days=20, seed=3)
    return small_model(history, tmp_path_factory.mktemp("model"))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _repo(tmp_path: Path, change) -> Path:
    """A repository whose HEAD~1 holds the team file (with guardrails) and HEAD ``change``s it."""
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    team = yaml.safe_load(TEAM_FILE.read_text())
    team["decision_rules"]["guardrails"] = GUARDRAILS
    path = repo / "models" / TEAM_FILE.name
    path.write_text(yaml.safe_dump(team, sort_keys=False))
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "deployed")
    change(team)
    path.write_text(yaml.safe_dump(team, sort_keys=False))
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-am", "change")
    return repo


def _run_build_step(repo: Path, model: Path) -> subprocess.CompletedProcess:
    [command] = policy_guardrail_commands(load_team(TEAM_FILE))
    program, *args = shlex.split(command)
    assert program == ".venv/bin/mdlc"
    extra = ["--models-dir", str(repo / "models"), "--current-model", str(model), "--entities", "60", "--days", "20"]
    return subprocess.run([str(REPO_ROOT / program), *args, *extra], cwd=repo, capture_output=True, text=True)


def test_a_policy_change_that_breaks_a_guardrail_stops_the_build_with_the_table(tmp_path, model):
    def decline_far_more(team):
        team["decision_rules"]["score_bands"] = {"approve_below": 0.01, "decline_at_or_above": 0.02}

    done = _run_build_step(_repo(tmp_path, decline_far_more), model)

    assert done.returncode == 3, done.stdout + done.stderr
    assert "BROKEN max_legit_decline_increase: legitimate declined rises by" in done.stdout
    assert "decisions that change" in done.stdout and "stopping" in done.stderr


def test_a_policy_change_within_its_guardrails_lets_the_build_go_on(tmp_path, model):
    def review_a_little_more(team):
        team["decision_rules"]["score_bands"]["approve_below"] = 0.25

    done = _run_build_step(_repo(tmp_path, review_a_little_more), model)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "guardrails: all kept" in done.stdout


def test_a_commit_that_leaves_the_policy_alone_backtests_nothing(tmp_path, model):
    def describe(team):
        team["description"] = "another description"

    done = _run_build_step(_repo(tmp_path, describe), model)

    assert done.returncode == 0 and "nothing to compare" in done.stdout


def test_a_batch_only_team_has_no_guardrail_step():
    team = load_team(TEAM_FILE).model_copy(update={"decision_rules": None})
    assert policy_guardrail_commands(team) == []
