"""CDK's current defaults: cdk.json carries the feature flags a fresh `cdk init` of the
pinned aws-cdk-lib writes, and synthesis of the teams raises no CDK warning."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import aws_cdk

from mdlc.contract import REPO_ROOT

# Deliberate departures from `cdk init`, each explained in the README ("CDK settings").
DEPARTURES = {
    # Keep Fn::ImportValue exports: the data stack (key, buckets) cannot be deleted while a
    # team stack uses it, and deployed stacks need no two-step migration.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
    # The templates target the commercial partition: literal `aws` in ARNs.
    "@aws-cdk/core:target-partitions": ["aws"],
}


def recommended_flags() -> dict:
    """`recommended-feature-flags.json` of the installed aws-cdk-lib (what `cdk init` writes)."""
    [bundle] = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as tar:
        return json.load(tar.extractfile("package/recommended-feature-flags.json"))


def test_cdk_json_sets_every_flag_cdk_init_sets_for_the_pinned_library():
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    recommended = recommended_flags()

    assert len(recommended) > 50
    missing = sorted(set(recommended) - set(context))
    assert not missing, f"cdk.json lacks flags of the pinned aws-cdk-lib: {missing}"
    differing = {k: (context[k], v) for k, v in recommended.items() if context[k] != v and k not in DEPARTURES}
    assert not differing, f"cdk.json differs from `cdk init` (cdk.json, recommended): {differing}"
    assert {k: context[k] for k in DEPARTURES} == DEPARTURES


def warnings_in(outdir: Path) -> list[str]:
    """CDK warnings recorded in a cloud assembly (``<stack>.metadata.json`` and the manifests'
    metadata), nested assemblies included."""
    found = []
    for path in outdir.rglob("*.json"):
        if path.name == "manifest.json":
            artifacts = json.loads(path.read_text()).get("artifacts", {}).values()
            metadata = [a.get("metadata") or {} for a in artifacts]
        elif path.name.endswith(".metadata.json"):
            metadata = [json.loads(path.read_text())]
        else:
            continue
        found += [f"{path.name} {construct}: {e['data']}" for m in metadata for construct, entries in m.items()
                  for e in entries if e.get("type") == "aws:cdk:warning"]
    return found


def test_synthesis_of_the_teams_raises_no_cdk_warning(assembly):
    # e.g. "V1 pipeline type is implicitly selected", "No cross-stack-reference strength configured"
    manifests = list(assembly.outdir.rglob("manifest.json"))
    assert len(manifests) >= 2  # the app's and the pipeline stages' nested assemblies
    assert warnings_in(assembly.outdir) == []
