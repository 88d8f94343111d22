"""Synth time: warm `cdk synth` of the example team, and how it grows with the team count.

    python bench/bench_synth.py            # 1, 5, 20 teams
    python bench/bench_synth.py --teams 1 5

Runs the real CLI (`npx cdk synth`, cdk-nag included) with MDLC_MODELS_DIR pointing at a
temporary folder of N copies of the example team (the generated teams differ by name);
prints a markdown table: wall time, CPU time of the CLI and everything it ran (robust on a
busy machine), and the largest template against CloudFormation's limits (500 resources,
1 MB for a template uploaded to S3).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def synth_seconds(models: Path, out: Path, model: str | None = None) -> dict:
    """Wall and CPU seconds of one `cdk synth`, and the size of what it wrote."""
    env = {**os.environ, "MDLC_MODELS_DIR": str(models), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_DISABLE_CLI_TELEMETRY": "true"}
    cmd = ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", str(out)]
    if model:
        cmd += ["-c", f"model={model}"]
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    result = {"seconds": time.perf_counter() - started, "cpu": children_cpu() - cpu}
    templates = list(out.glob("**/*.template.json"))
    sizes = [(len(json.loads(p.read_text())["Resources"]), p.stat().st_size) for p in templates]
    result.update(stacks=len(templates), max_resources=max(r for r, _ in sizes), max_kb=max(b for _, b in sizes) / 1024)
    shutil.rmtree(out)
    return result


def row(label: str, teams: int, r: dict) -> str:
    return (f"| {label} | {teams} | {r['stacks']} | {r['seconds']:.1f} | {r['cpu']:.1f} | "
            f"{r['max_resources']} / 500 | {r['max_kb']:.0f} KB / 1024 KB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, nargs="*", default=[1, 5, 20])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        one = team_dir(1, root / "warm")
        synth_seconds(one, root / "cold-out")  # fills the jsii cache
        warm = synth_seconds(one, root / "warm-out", model="fraud-detection")
        print("| measurement | teams | templates | wall s | CPU s | largest stack: resources | largest template |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        print(row("warm `cdk synth -c model=fraud-detection`", 1, warm), flush=True)
        for n in args.teams:
            print(row("`cdk synth` of every team", n, synth_seconds(team_dir(n, root / f"n{n}"), root / f"out-{n}")),
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
