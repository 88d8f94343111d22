"""The pipeline's guardrail step (stacks/pipeline.py: the build's backtest command), run offline.

Product test: the command the test stage's buildspec runs is executed in a git repository
holding the team's history, as CodeBuild runs it in the clone of the team's repository, with
SSM on moto holding what the pipeline recorded after its last production deployment (only
the models folder and the model are the test's: ``--models-dir``, ``--current-model``; the
pipeline trains the model offline instead). The baseline is the policy DEPLOYED to
production, however many commits behind HEAD: a bad change split over two commits, each
harmless against the commit before it, stops the build (exit 3) printing the comparison.
Most tests replay the record step's ``aws ssm put-parameter`` with boto3 on moto (the
harness's emulation of the AWS CLI: the test reads the name and value from the command); one
runs the step's commands with bash and the real AWS CLI against moto's server.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from click.testing import CliRunner
from moto import mock_aws
from moto.server import ThreadedMotoServer

from mdlc import synthetic_team
from mdlc.cli import main
from mdlc.contract import MODELS_DIR, load_team
from stacks.pipeline import GUARDRAIL_BASELINE_STAGE, policy_guardrail_commands, record_deployed_commands
from tests.unit.mdlc.backtest_support import SPEC, small_model

TEAM_FILE = MODELS_DIR / "fraud-detection.yaml"
TEAM = load_team(TEAM_FILE)
# Legitimate declined may rise by 1.25 points from what production runs; reviews stay under half.
GUARDRAILS = {"max_legit_decline_increase": 0.0125, "max_review_rate": 0.5}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    history, _ = synthetic_team.for_team(SPEC, n_entities=60, days=20, seed=3)
    return small_model(history, tmp_path_factory.mktemp("model"))


@pytest.fixture
def ssm(monkeypatch):
    """The pipeline account's SSM, in CodeBuild's region (from the environment)."""
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


class Repo:
    """The team's repository: each ``commit`` writes the team file as edited so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "models").mkdir(parents=True)
        self.team = yaml.safe_load(TEAM_FILE.read_text())
        self.team["decision_rules"]["guardrails"] = dict(GUARDRAILS)
        _git(root, "init", "-q")

    def commit(self, message: str, change=lambda team: None) -> str:
        change(self.team)
        (self.root / "models" / TEAM_FILE.name).write_text(yaml.safe_dump(self.team, sort_keys=False))
        _git(self.root, "add", ".")
        _git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        return _git(self.root, "rev-parse", "HEAD")


def _bands(approve_below: float, decline_at_or_above: float):
    def change(team):
        team["decision_rules"]["score_bands"] = {"approve_below": approve_below,
                                                 "decline_at_or_above": decline_at_or_above}
    return change


def _record(ssm, stage: str, commit: str) -> None:
    """What the stage's RecordDeployedCommit step runs after its deployment, with the commit of
    the source action (``$DEPLOYED_COMMIT``)."""
    check, put = record_deployed_commands(TEAM, stage)
    assert check == 'test -n "$DEPLOYED_COMMIT"'
    program, service, action, *args = shlex.split(put)
    assert (program, service, action) == ("aws", "ssm", "put-parameter")
    options = {a: (b if not b.startswith("--") else True) for a, b in zip(args, [*args[1:], "--"], strict=True)
               if a.startswith("--")}
    assert options["--overwrite"] is True and options["--value"] == "$DEPLOYED_COMMIT"
    ssm.put_parameter(Name=options["--name"], Type=options["--type"], Value=commit, Overwrite=True)


def _run(repo: Path, model: Path, command: str | None = None):
    """The build's guardrail command (or ``command``), as the test stage runs it in the clone."""
    [build] = policy_guardrail_commands(TEAM)
    program, *args = shlex.split(command or build)
    assert program == ".venv/bin/mdlc"
    extra = ["--models-dir", str(repo / "models"), "--current-model", str(model), "--entities", "60", "--days", "20"]
    return CliRunner().invoke(main, [*args, *extra])


def test_a_bad_policy_split_over_two_commits_since_production_stops_the_build(tmp_path, ssm, model):
    """Production runs HEAD~3. HEAD~1 lowered the decline band (legitimate declined +1.0
    point), HEAD lowered it again (+0.7): each within the 1.25-point guardrail against the
    commit before it, together +1.7 against what customers get. Compared with HEAD~1 the build would
    go on; compared with production it stops, printing the table."""
    repo = Repo(tmp_path / "repo")
    deployed = repo.commit("deployed to production")
    repo.commit("describe the team", lambda team: team.update(description="fraud decisions for cards"))
    repo.commit("decline from 0.06", _bands(0.06, 0.06))
    repo.commit("decline from 0.03", _bands(0.03, 0.03))
    _record(ssm, "staging", _git(repo.root, "rev-parse", "HEAD~1"))  # staging is not what customers get
    _record(ssm, GUARDRAIL_BASELINE_STAGE, deployed)
    assert deployed == _git(repo.root, "rev-parse", "HEAD~3")

    against_previous = _run(repo.root, model, ".venv/bin/mdlc backtest --model fraud-detection "
                                               "--baseline-ref HEAD~1 --enforce-guardrails")
    done = _run(repo.root, model)

    assert against_previous.exit_code == 0, against_previous.output
    assert "guardrails: all kept" in against_previous.output
    assert done.exit_code == 3, done.output
    assert f"at commit {deployed}, deployed to production" in done.output
    assert "BROKEN max_legit_decline_increase: legitimate declined rises by 1.69%" in done.output
    assert "decisions that change" in done.output and "stopping" in done.stderr


def test_a_policy_change_within_its_guardrails_against_production_lets_the_build_go_on(tmp_path, ssm, model):
    repo = Repo(tmp_path / "repo")
    _record(ssm, GUARDRAIL_BASELINE_STAGE, repo.commit("deployed"))
    repo.commit("review a little more", lambda team: team["decision_rules"]["score_bands"].update(approve_below=0.25))

    done = _run(repo.root, model)

    assert done.exit_code == 0, done.output
    assert "guardrails: all kept" in done.output


def test_a_commit_that_leaves_productions_policy_alone_backtests_nothing(tmp_path, ssm, model):
    repo = Repo(tmp_path / "repo")
    _record(ssm, GUARDRAIL_BASELINE_STAGE, repo.commit("deployed"))
    repo.commit("decline from 0.5", _bands(0.3, 0.5))
    repo.commit("back as deployed", _bands(0.3, 0.85))  # HEAD~1 differs; production does not

    done = _run(repo.root, model)

    assert done.exit_code == 0 and "nothing to compare" in done.output, done.output


def test_before_the_first_production_deployment_the_candidate_alone_keeps_its_absolute_guardrails(
        tmp_path, ssm, model):
    """Nothing recorded yet: no policy to measure a change from, so the relative guardrail is
    skipped (and said so) while max_review_rate still judges the candidate alone."""
    repo = Repo(tmp_path / "repo")
    repo.team["decision_rules"]["guardrails"]["max_review_rate"] = 0.2  # 8.8% now, 34% below
    repo.commit("first policy")
    kept = _run(repo.root, model)
    repo.commit("review nearly everything", _bands(0.001, 0.999))

    broken = _run(repo.root, model)

    for done in (kept, broken):
        assert "nothing deployed to production yet (SSM parameter /mdlc/fraud-detection/deployed/production" \
            in done.output
        assert "its absolute guardrails apply (max_review_rate), the relative ones are skipped " \
               "(max_legit_decline_increase)" in done.output
        assert "decisions that change" not in done.output  # one column: the candidate's
    assert kept.exit_code == 0 and "guardrails: all kept" in kept.output, kept.output
    assert broken.exit_code == 3, broken.output
    assert "BROKEN max_review_rate: review rate is" in broken.output and "stopping" in broken.stderr


def test_a_deployed_commit_missing_from_a_shallow_clone_is_fetched(tmp_path, ssm, model):
    origin = Repo(tmp_path / "origin")
    deployed = origin.commit("deployed")
    origin.commit("describe", lambda team: team.update(description="cards"))
    origin.commit("decline far more", _bands(0.01, 0.02))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin.root}", str(clone)], check=True)
    _record(ssm, GUARDRAIL_BASELINE_STAGE, deployed)

    done = _run(clone, model)

    assert done.exit_code == 3, done.output
    assert "BROKEN max_legit_decline_increase" in done.output


def test_a_deployed_commit_nowhere_to_be_found_fails_the_build_naming_it(tmp_path, ssm, model):
    repo = Repo(tmp_path / "repo")
    repo.commit("policy", _bands(0.2, 0.8))
    missing = "0123456789abcdef0123456789abcdef01234567"
    _record(ssm, GUARDRAIL_BASELINE_STAGE, missing)

    done = _run(repo.root, model)

    assert done.exit_code == 1, done.output
    assert f"commit {missing} (the deployed baseline) is not in the clone" in done.stderr
    assert "expected a full git clone" in done.stderr


def test_a_parameter_that_holds_no_commit_fails_the_build_naming_it(tmp_path, ssm, model):
    repo = Repo(tmp_path / "repo")
    repo.commit("policy")
    ssm.put_parameter(Name="/mdlc/fraud-detection/deployed/production", Type="String", Value="main")

    done = _run(repo.root, model)

    assert done.exit_code == 1
    assert "holds 'main'; expected the git commit id the pipeline deployed to production" in done.stderr


def test_a_batch_only_team_has_no_guardrail_step():
    team = TEAM.model_copy(update={"decision_rules": None})
    assert policy_guardrail_commands(team) == []


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI (CodeBuild's image has it) is not installed")
def test_the_record_steps_commands_write_the_commit_the_guardrail_step_reads(tmp_path, model, monkeypatch):
    """Product test: production's RecordDeployedCommit commands, run by bash and the real AWS
    CLI with the commit in $DEPLOYED_COMMIT (as CodeBuild runs them), against moto's server;
    the build's guardrail command then reads that parameter and compares with that commit.
    Without a commit (an empty variable) the step fails and writes nothing."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_DEFAULT_REGION": "eu-west-1",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        for key, value in aws.items():
            monkeypatch.setenv(key, value)
        repo = Repo(tmp_path / "repo")
        deployed = repo.commit("deployed")
        repo.commit("describe", lambda team: team.update(description="cards"))
        repo.commit("decline far more", _bands(0.01, 0.02))
        script = " && ".join(record_deployed_commands(TEAM, GUARDRAIL_BASELINE_STAGE))

        empty = subprocess.run(["bash", "-c", script], env={**os.environ, "DEPLOYED_COMMIT": ""},
                               capture_output=True, text=True)
        assert empty.returncode != 0 and "nothing deployed to production yet" in _run(repo.root, model).output
        recorded = subprocess.run(["bash", "-c", script], env={**os.environ, "DEPLOYED_COMMIT": deployed},
                                  capture_output=True, text=True)
        assert recorded.returncode == 0, recorded.stderr
        done = _run(repo.root, model)
    finally:
        server.stop()

    assert done.exit_code == 3, done.output
    assert f"at commit {deployed}, deployed to production" in done.output
    assert "BROKEN max_legit_decline_increase" in done.output
