"""The one decision policy as synthesised: shipped with the decision function and the job code,
and its version on the workflow's own fallback answer (product tests)."""

from __future__ import annotations

import json
import tarfile

from mdlc import bundle, policy
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from tests.infrastructure.test_realtime_stack import STACK, _machine

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


def test_the_workflows_fallback_answer_records_the_deployed_policy_version(assembly):
    _, definition = _machine(assembly.template(STACK)["Resources"], "fraud-detection--decision")

    answer = definition["States"]["Fallback decision"]["Parameters"]

    assert answer["policy_version"] == policy.policy_version(SPEC, "unavailable")
    assert answer["model_version"] == "unavailable"


def test_the_decision_function_ships_the_policy_module_it_imports(assembly):
    assets = assembly.assets(STACK)["files"].values()
    staged = [assembly.outdir / a["source"]["path"] for a in assets if a["source"].get("packaging") == "zip"]

    shipping = [d for d in staged if (d / "lambdas" / "realtime" / "decide" / "handler.py").is_file()]

    assert shipping, "no decision function code asset"
    assert (shipping[0] / "mdlc" / "policy.py").read_bytes() == (bundle.REPO_ROOT / "mdlc" / "policy.py").read_bytes()
    assert json.loads((shipping[0] / "team.json").read_text())["decision_rules"] == SPEC["decision_rules"]


def test_the_job_code_bundle_ships_the_policy_module(tmp_path):
    archive = tmp_path / "job-code.tar.gz"
    bundle.build_bundle(archive)

    with tarfile.open(archive) as tar:
        shipped = tar.extractfile("mdlc/policy.py").read()

    assert shipped == (bundle.REPO_ROOT / "mdlc" / "policy.py").read_bytes()
