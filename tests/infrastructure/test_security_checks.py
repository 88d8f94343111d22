"""cfn-lint over every synthesised template; cdk-nag clean, and it does catch a bad bucket."""

from __future__ import annotations

import json
import subprocess
import sys

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

# CDK emits redundant DependsOn (W3005) for its own ordering; nothing else is ignored.
IGNORED = ["W3005"]


def test_cfn_lint_reports_no_errors_on_any_template(assembly):
    paths = [str(assembly.template_path(name)) for name in assembly.templates]
    assert paths
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", "--ignore-checks", *IGNORED, "--", *paths],
        capture_output=True, text=True,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    warnings = [f for f in findings if f["Level"] == "Warning"]
    assert warnings == [], json.dumps(warnings, indent=1)[:4000]


def test_cdk_nag_and_cloudformation_validation_report_no_findings(assembly):
    """The session assembly runs both (a CloudFormation Validate finding fails its synth)."""
    report = json.loads((assembly.outdir / "validation-report.json").read_text())
    failures = [
        v for plugin in report["pluginReports"] for v in plugin.get("violations", [])
    ]
    assert failures == []


def test_the_app_runs_cdk_nag_on_every_synth(tmp_path):
    """The real app builder wires cdk-nag: a leaky bucket in a team stack fails the synth."""
    from mdlc.contract import REPO_ROOT
    from stacks.app_builder import build_app

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(tmp_path), context=context)
    teams = build_app(app, model="fraud-detection", stage="dev", default_account=None,
                      default_region=None, build_dir=tmp_path / "build")
    s3.Bucket(teams[0].data, "Leaky")
    with pytest.raises(Exception, match="AwsSolutions-S1"):
        app.synth()


def test_cdk_nag_fails_synth_on_an_unencrypted_public_bucket(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "fraud-detection-bad")
    s3.Bucket(stack, "Leaky", block_public_access=s3.BlockPublicAccess(block_public_acls=False))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    with pytest.raises(Exception, match="AwsSolutions-S1"):
        app.synth()


def _queue_app(tmp_path, app_class=cdk.App, **props) -> cdk.App:
    """The team app's feature flags and a queue whose timeout CloudFormation refuses."""
    from aws_cdk import aws_sqs as sqs

    from mdlc.contract import REPO_ROOT

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = app_class(outdir=str(tmp_path), context=context, **props)
    sqs.CfnQueue(cdk.Stack(app, "fraud-detection-bad"), "Queue", visibility_timeout=999_999)
    return app


def test_cloudformation_validation_fails_a_synth_it_is_asked_for(tmp_path):
    """How `CDK_VALIDATION=true cdk synth` and the tests' assembly synthesise."""
    with pytest.raises(Exception, match="VisibilityTimeout: 999999 is greater than the maximum of 43200"):
        _queue_app(tmp_path, builtin_cloud_formation_validation=True).synth()


def test_cloudformation_validation_is_off_in_a_plain_cdk_synth(tmp_path, monkeypatch):
    """app.py leaves it to make test unless CDK_VALIDATION=true (it costs 4.5 s a synth)."""
    import app as cdk_app

    monkeypatch.delenv("CDK_VALIDATION", raising=False)
    real_app = cdk.App
    monkeypatch.setattr(cdk_app.cdk, "App", lambda **props: _queue_app(tmp_path, real_app, **props))
    monkeypatch.setattr(cdk_app, "build_app", lambda app, **_: None)
    cdk_app.main()  # synthesises the bad queue without complaint
    assert json.loads((tmp_path / "fraud-detection-bad.template.json").read_text())["Resources"]


def test_an_acknowledgment_without_a_specific_reason_is_refused():
    from stacks.common.nag import acknowledge

    with pytest.raises(ValueError, match="needs a specific reason"):
        acknowledge(cdk.Stack(), "AwsSolutions-S1", "ok")
