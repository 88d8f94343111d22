"""checkov over every synthesised template: no finding without a reason recorded next to it.

checkov runs from its own virtualenv (``.venv-checkov``, built by ``make install``; it pins
an old boto3), offline (``--skip-download``), over the session's cloud assembly: every
team in ``models/``, with the staging and production copies its pipeline deploys. A check
that does not apply to a resource is skipped in that resource's Metadata with the reason
(``stacks.common.nag.skip_checkov``, next to the construct, like the cdk-nag
acknowledgments); anything else checkov finds fails here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mdlc.contract import REPO_ROOT, load_team, team_files

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def run_checkov(folder: Path) -> list[dict]:
    """checkov's JSON reports (one per framework run) over the templates under ``folder``."""
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} not found; `make install` builds checkov's own virtualenv")
    done = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "cloudformation", "--skip-download", "-o", "json",
         "--soft-fail", "--skip-path", r"asset\..*", "--skip-path", "build"],
        capture_output=True, text=True, check=False, timeout=600,
    )
    if done.returncode != 0 or not done.stdout.strip():
        pytest.fail(f"checkov failed (exit {done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return report if isinstance(report, list) else [report]


def findings(reports: list[dict]) -> tuple[list[dict], list[dict], set[str]]:
    """(failed checks, skipped checks, template files scanned)."""
    failed, skipped, files = [], [], set()
    for report in reports:
        results = report.get("results") or {}
        failed += results.get("failed_checks", [])
        skipped += results.get("skipped_checks", [])
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            files |= {Path(c["file_abs_path"]).name for c in results.get(kind, [])}
    return failed, skipped, files


@pytest.fixture(scope="module")
def checkov_reports(assembly) -> list[dict]:
    return run_checkov(assembly.outdir)


def test_every_checkov_finding_is_fixed_or_reasoned_next_to_its_resource(checkov_reports, assembly):
    failed, skipped, scanned = findings(checkov_reports)

    unreasoned = [f"{c['check_id']} {c['resource']} ({Path(c['file_abs_path']).name}): {c['check_name']}"
                  for c in failed]
    assert not unreasoned, "checkov findings with no fix and no recorded reason:\n" + "\n".join(unreasoned)
    for c in skipped:
        reason = (c.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason) >= 20, f"{c['check_id']} on {c['resource']} is skipped without a specific reason"
    # It read every template the assembly holds, the pipeline's stage copies included.
    templates = {p.name for p in assembly.outdir.rglob("*.template.json") if "build" not in p.parts}
    assert templates and templates <= scanned, f"not scanned: {sorted(templates - scanned)}"


TEAMS = [load_team(f) for f in team_files(REPO_ROOT / "models")]
DECISION_PATH = ("decide",)


@pytest.mark.parametrize("team", TEAMS, ids=lambda t: t.name)
def test_what_checkov_asks_for_is_fixed_where_it_applies(assembly, team):
    # Fixed, not skipped: the decision path reserves the team file's concurrency when the team
    # opts in (and only then: a new account can reserve nothing, so the default reserves none
    # and CKV_AWS_115 is skipped with that reason), the retraining guard (invoked asynchronously
    # by EventBridge) sends failed events to the alerts topic, and the pipeline's artifact
    # bucket is versioned.
    if team.realtime.enabled:
        functions = [f for f in assembly.template(f"{team.name}-realtime")["Resources"].values()
                     if f["Type"] == "AWS::Lambda::Function"]
        decision = [f for f in functions if f["Properties"]["Handler"].split(".")[-3] in DECISION_PATH]
        assert len(decision) == 1  # one decision function
        assert {f["Properties"].get("ReservedConcurrentExecutions") for f in decision} == {
            team.realtime.decision_concurrency}
        assert not [f for f in functions if f not in decision and "ReservedConcurrentExecutions" in f["Properties"]]
        if team.realtime.decision_concurrency is None:
            for f in decision:
                skips = {s["id"]: s["comment"] for s in f["Metadata"]["checkov"]["skip"]}
                assert "opt-in per team" in skips["CKV_AWS_115"]
    retraining = assembly.template(f"{team.name}-retraining")["Resources"].values()
    [config] = [r["Properties"] for r in retraining if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert "AlertsTopic" in json.dumps(config["DestinationConfig"]["OnFailure"]["Destination"])
    assert config["MaximumRetryAttempts"] == 2
    pipeline = assembly.templates.get(f"{team.name}-pipeline")
    if pipeline is not None:
        buckets = [r["Properties"] for r in pipeline["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
        assert buckets and all(b.get("VersioningConfiguration") == {"Status": "Enabled"} for b in buckets)


def test_the_checkov_run_reports_an_unreasoned_finding(tmp_path):
    # Harness check: the same invocation fails a bucket without logging or versioning and
    # honours a skip with a reason in the resource's Metadata.
    template = {"Resources": {
        "Plain": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Excused": {"Type": "AWS::S3::Bucket", "Properties": {},
                    "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_18", "comment": "the reason for this one"}]}}},
    }}
    (tmp_path / "t.template.json").write_text(json.dumps(template))

    failed, skipped, _ = findings(run_checkov(tmp_path))

    assert ("CKV_AWS_18", "AWS::S3::Bucket.Plain") in {(c["check_id"], c["resource"]) for c in failed}
    assert [(c["check_id"], c["resource"]) for c in skipped] == [("CKV_AWS_18", "AWS::S3::Bucket.Excused")]
