"""Synth time: warm `cdk synth` of the example team, and how it grows with the team count.

    python bench/bench_synth.py            # 1, 5, 20 teams
    python bench/bench_synth.py --teams 1 5

Runs the real CLI (`npx cdk synth`, cdk-nag included) with MDLC_MODELS_DIR pointing at a
temporary folder of N copies of the example team; prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "models" / "fraud-detection.yaml"


def team_dir(n: int, root: Path) -> Path:
    models = root / f"models-{n}"
    models.mkdir(parents=True)
    base = yaml.safe_load(EXAMPLE.read_text())
    for i in range(n):
        name = "fraud-detection" if i == 0 else f"team-{i:02d}"
        data = {**base, "name": name}
        (models / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return models


def synth_seconds(models: Path, out: Path, model: str | None = None) -> tuple[float, int]:
    env = {**os.environ, "MDLC_MODELS_DIR": str(models), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_DISABLE_CLI_TELEMETRY": "true"}
    cmd = ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", str(out)]
    if model:
        cmd += ["-c", f"model={model}"]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    stacks = len(list(out.glob("**/*.template.json")))
    shutil.rmtree(out)
    return elapsed, stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, nargs="*", default=[1, 5, 20])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        one = team_dir(1, root / "warm")
        synth_seconds(one, root / "cold-out")  # fills the jsii cache
        warm, stacks = synth_seconds(one, root / "warm-out", model="fraud-detection")
        print("| measurement | teams | templates | seconds |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| warm `cdk synth -c model=fraud-detection` | 1 | {stacks} | {warm:.1f} |")
        for n in args.teams:
            seconds, stacks = synth_seconds(team_dir(n, root / f"n{n}"), root / f"out-{n}")
            print(f"| `cdk synth` of every team | {n} | {stacks} | {seconds:.1f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
