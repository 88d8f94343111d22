"""The training workflow that deploys, executed offline end to end.

One deployment per module; the tests run in file order and build on each other the way a
team's history does: the first run registers version 1, it becomes the champion, a better
challenger registers version 2, a worse one is turned away.
"""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from mdlc import features as F
from mdlc import synthetic
from mdlc.contract import runtime_spec
from mdlc.local import LocalTeam
from tests.integration.conftest import AlertInbox
from tests.integration.realtime_support import scan_all

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def team(example_models, tmp_path_factory):
    with LocalTeam("fraud-detection", models_dir=example_models, workdir=tmp_path_factory.mktemp("local")) as t:
        yield t


@pytest.fixture(scope="module")
def inbox(team) -> AlertInbox:
    return AlertInbox(team)


def transactions(seed: int, customers: int = 400, **kw):
    return synthetic.generate(n_customers=customers, days=45, seed=seed, **kw)


def test_data_quality_failure_stops_before_training_and_alerts(team, inbox):
    prefix = team.put_raw(transactions(seed=3, corrupt=0.05), "2026-02-01")

    result = team.train(prefix)

    assert result.status == "FAILED"
    assert result.error == "DataQualityFailed"
    assert "amount" in result.cause and "'check'" not in result.cause  # readable, names the feature
    assert "Train model" not in result.state_names and "Feature engineering" not in result.state_names
    assert team.model_packages() == []
    alerts = inbox.drain()
    assert [a["outcome"] for a in alerts] == ["DataQualityFailed"]
    assert alerts[0]["details"]["passed"] is False


def test_first_run_registers_version_1_with_lineage(team, inbox):
    prefix = team.put_raw(transactions(seed=1), "2026-03-01")

    result = team.train(prefix)

    assert result.succeeded, result.cause
    packages = team.model_packages()
    assert [p["ModelPackageVersion"] for p in packages] == [1]
    v1 = packages[0]
    assert v1["ModelApprovalStatus"] == "PendingManualApproval"
    meta = v1["CustomerMetadataProperties"]
    assert meta["data_uri"] == prefix
    assert len(meta["data_sha256"]) == 64 and len(meta["team_file_sha256"]) == 64
    assert meta["git_commit"]
    assert meta["hp.max_depth"] == "5" and meta["seed"] == "42"
    assert float(meta["metric_value"]) >= 0.30 > 0  # the team's pr_auc threshold
    assert float(meta["metric_value"]) > float(meta["baseline_value"])
    assert meta["evaluation_report"].endswith("evaluation/evaluation.json")
    # Global feature importance (ML Test Score D2): every model feature with its share, largest first.
    # "<feature>=<share>" separated by spaces: the registry refuses commas (CreateModelPackage's pattern).
    # A list longer than the registry's 256 characters ends in "+<n> more" (lineage.json has all).
    words = meta["feature_importance"].split(" ")
    more = int(words[-2][1:]) if words[-1] == "more" else 0
    shares = [pair.split("=") for pair in (words[:-2] if more else words)]
    assert len(shares) + more <= len(F.model_columns(runtime_spec(team.team)))
    assert {name for name, _ in shares} <= set(F.model_columns(runtime_spec(team.team)))
    assert [float(v) for _, v in shares] == sorted((float(v) for _, v in shares), reverse=True)
    total = sum(float(v) for _, v in shares)
    assert total == pytest.approx(1.0, abs=0.02) if not more else 0 < total <= 1.0 + 0.02
    # Training writes nothing that production serves: the online table is the feature pipeline's.
    assert scan_all(team, _feature_table(team)) == []
    assert [a["outcome"] for a in inbox.drain()] == ["Registered"]


def test_the_run_is_network_isolated_its_code_in_a_channel_and_in_the_model(team):
    """Product (issue 27): every job of the run had EnableNetworkIsolation (offline, an isolated job
    gets no network and no credentials, and no code is fetched for it), the training job received
    its code as the "code" channel, and the model carries its serving code, so an isolated endpoint
    or transform job downloads nothing."""
    jobs = [r for r in team.aws.jobs.records if r.status == "Completed"]
    assert {r.job_type for r in jobs} == {"processing", "training"}
    assert all(r.network_isolation for r in jobs), [(r.name, r.network_isolation) for r in jobs]
    trained = [r.name for r in jobs if r.job_type == "training"][-1]
    described = team.client("sagemaker").describe_training_job(TrainingJobName=trained)
    assert described["EnableNetworkIsolation"] is True
    assert "code" in {c["ChannelName"] for c in described["InputDataConfig"]}
    assert json.loads(described["HyperParameters"]["sagemaker_submit_directory"]).startswith(
        "/opt/ml/input/data/code/")
    bucket, _, key = described["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").partition("/")
    body = team.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as model:
        assert "code/sourcedir.tar.gz" in model.getnames()
    container = team.model_packages()[0]["InferenceSpecification"]["Containers"][0]
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code/sourcedir.tar.gz"


def test_a_throttled_call_is_retried(team):
    team.approve(team.model_packages()[0]["ModelPackageArn"])  # v1 becomes the champion
    team.aws.inject_fault("sagemaker", "CreateProcessingJob", "ThrottlingException", times=1)
    # The champion's own history again: training is reproducible, so the challenger is exactly
    # as good (another history can score either side of the 0.01 tolerance on a test split of
    # about 40 frauds, which tests the data rather than the gate).
    prefix = team.put_raw(transactions(seed=1), "2026-03-02")

    result = team.train(prefix)

    assert result.succeeded, result.cause
    # With a champion, data quality compares against the champion's statistics baseline.
    assert result.output["run"]["baseline_uri"].endswith("data-quality/baseline/statistics.json")
    retried = [e for e in result.history if e["type"] == "TaskFailed"]
    assert retried and "ThrottlingException" in str(retried[0])


def test_a_challenger_as_good_as_the_champion_registers_version_2(team):
    packages = team.model_packages()
    assert [p["ModelPackageVersion"] for p in packages] == [1, 2]
    v2 = packages[1]["CustomerMetadataProperties"]
    assert v2["champion_arn"] == packages[0]["ModelPackageArn"]
    tolerance = team.team.evaluation.champion_tolerance
    assert float(v2["metric_value"]) >= float(v2["champion_value"]) - tolerance


def test_a_worse_challenger_is_not_registered_and_changes_nothing_served(team, inbox):
    inbox.drain()
    team.approve(team.model_packages()[1]["ModelPackageArn"])
    # What production serves: the online table, bootstrapped by the feature backfill workflow.
    backfill = team.run("feature-backfill", {"data_prefix": team.put_raw(transactions(seed=2, customers=450),
                                                                          "2026-03-02")}, check=True)
    summary = backfill.output["summary"]
    assert summary["written"] == summary["entities"] > 400 and summary["mismatched"] == 0
    served = scan_all(team, _feature_table(team))
    worse = transactions(seed=4)
    worse["is_fraud"] = worse["is_fraud"].sample(frac=1.0, random_state=0).to_numpy()  # labels lose their signal
    prefix = team.put_raw(worse, "2026-03-03")

    result = team.train(prefix)

    assert _sorted(scan_all(team, _feature_table(team))) == _sorted(served)

    assert result.status == "FAILED" and result.error == "EvaluationGateFailed"
    assert "pr_auc" in result.cause
    assert "Register model version" not in result.state_names
    assert [p["ModelPackageVersion"] for p in team.model_packages()] == [1, 2]
    assert [a["outcome"] for a in inbox.drain()] == ["EvaluationGateFailed"]


def test_a_training_job_failure_reaches_the_failure_path_and_alerts(team, inbox):
    team.aws.fail_next_job("training", "AlgorithmError: out of memory")
    team.put_raw(transactions(seed=5), "2026-03-04")

    # No data prefix given: the workflow resolves the newest partition itself.
    result = team.run("training", {"reason": "schedule"}, timeout=600)

    prepared = next(e for e in result.history if e["type"] == "LambdaFunctionSucceeded")
    assert "dt=2026-03-04/" in str(prepared)
    assert result.status == "FAILED" and result.error == "TrainingWorkflowFailed"
    assert "out of memory" in result.cause
    names = result.state_names
    assert names[names.index("Train model") + 1:] == ["Notify TrainingWorkflowFailed", "TrainingWorkflowFailed"]
    alerts = inbox.drain()
    assert [a["outcome"] for a in alerts] == ["TrainingWorkflowFailed"]
    assert [p["ModelPackageVersion"] for p in team.model_packages()] == [1, 2]


def _feature_table(team) -> str:
    return team.resources.of_type("AWS::DynamoDB::Table")[0].ref


def _sorted(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: item["customer_id"]["S"])
