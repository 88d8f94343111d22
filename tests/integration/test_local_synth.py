"""Product: what runs offline is what deploys (issue 10, item 5).

``LocalTeam`` deploys into the harness the templates of the same synth as
``cdk synth -c model=NAME -c stage=STAGE``: the app entry point run the way the CDK CLI
runs it gives byte-identical team templates, with the team file's own account.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdlc.contract import MODELS_DIR, REPO_ROOT, load_team
from mdlc.local import LocalTeam
from mdlc.names import bucket_name

pytestmark = pytest.mark.slow
TEAM = "fraud-detection"


def cli_synth(outdir: Path, stage: str) -> dict[str, dict]:
    """Run app.py as `cdk synth -c model=TEAM -c stage=STAGE` does (context and outdir by environment)."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"] | {"model": TEAM, "stage": stage}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_DEFAULT_")}
    env |= {"CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=600)
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in outdir.glob("*.template.json")}


def test_the_offline_team_runs_the_templates_cdk_synth_writes_for_its_stage(tmp_path):
    with LocalTeam(TEAM, stage="dev", workdir=tmp_path / "local") as team:
        deployed = {name: team.assembly.template(name) for name in team.stacks}
        account, bucket = team.account, team.bucket("raw")
        machine = team.state_machine_arn("decision")

    expected = cli_synth(tmp_path / "cdk.out", "dev")

    assert account == load_team(MODELS_DIR / f"{TEAM}.yaml").environments["dev"].account
    assert bucket == bucket_name(TEAM, "raw", account, "eu-west-1") and f":{account}:" in machine
    assert set(deployed) <= set(expected) and f"{TEAM}-pipeline" in expected
    for name, template in deployed.items():
        assert template == expected[name], f"{name} differs from the CLI's synth"
