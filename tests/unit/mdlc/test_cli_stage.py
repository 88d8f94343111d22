"""`--stage` on every `mdlc local` command that runs a team (product: the CLI). The offline
run executes the templates of `cdk synth -c stage=STAGE`; test_local_synth.py shows that
LocalTeam(stage=...) runs that synth, this shows each command hands the stage over."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import mdlc.local
from mdlc.cli import main
from mdlc.contract import TeamFileError


@pytest.mark.parametrize("command", ["train", "batch", "lifecycle", "iam-report", "serve"])
@pytest.mark.parametrize("stage", [None, "staging"])
def test_each_local_command_runs_the_synth_of_the_stage_it_is_given(monkeypatch, command, stage):
    seen = {}

    def fake_team(name, **kwargs):
        seen.update(kwargs, name=name)
        raise TeamFileError(f"models/{name}.yaml", ["stopped by the test before any synth"])

    monkeypatch.setattr(mdlc.local, "LocalTeam", fake_team)
    args = ["local", command, "--model", "fraud-detection", *(["--stage", stage] if stage else [])]

    result = CliRunner().invoke(main, args)

    assert seen["name"] == "fraud-detection", result.output
    assert seen["stage"] == (stage or "dev")
    assert result.exit_code == 1 and "stopped by the test" in result.output
