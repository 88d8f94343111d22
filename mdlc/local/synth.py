"""Synthesise a team like `cdk synth` does (cdk-nag included), into a chosen folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdlc.contract import REPO_ROOT

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Assembly:
    """A synthesised cloud assembly: where it is and its templates by stack name."""

    outdir: Path
    templates: dict[str, dict]

    def template(self, stack_name: str) -> dict:
        return self.templates[stack_name]

    def template_path(self, stack_name: str) -> Path:
        return self.outdir / f"{stack_name}.template.json"

    def assets(self, stack_name: str) -> dict:
        path = self.outdir / f"{stack_name}.assets.json"
        return json.loads(path.read_text()) if path.exists() else {}


def synth(
    outdir: Path,
    *,
    models_dir: Path | None = None,
    model: str | None = None,
    stage: str = "dev",
    default_account: str | None = None,
    default_region: str | None = None,
    pipelines: bool = True,
    context_account: str | None = None,
    context_region: str | None = None,
    report: Any = None,
    validate: bool = False,
    check_latency: bool = True,
) -> Assembly:
    """Synthesise with the app builder and the feature flags of cdk.json; read back templates.
    ``validate`` adds CDK's built-in CloudFormation validation (``CDK_VALIDATION=true`` for
    the CLI); with the feature flags of cdk.json a finding fails the synth."""
    import aws_cdk as cdk

    from stacks.app_builder import build_app

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(outdir), context=context, builtin_cloud_formation_validation=validate)
    built = build_app(
        app,
        model=model,
        stage=stage,
        default_account=default_account,
        default_region=default_region,
        models_dir=models_dir,
        build_dir=outdir / "build",
        pipelines=pipelines,
        context_account=context_account,
        context_region=context_region,
        report=report,
    )
    assembly = app.synth()
    from mdlc.latency import check_budgets

    if check_latency:
        check_budgets(assembly, built)  # as app.py: a decision path over its budget refuses the synth
    templates = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in outdir.glob("*.template.json")
    }
    return Assembly(outdir=outdir, templates=templates)
