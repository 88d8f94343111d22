"""A team unlike the example, end to end offline: the generated second team
(``tests/second_team.py``: batch-only, JSON Lines, other columns and entity, roc_auc gate,
no ``environments``) is validated, and its synthesised workflows (the session's assembly,
already checked by cfn-lint and cdk-nag) run training → approval → batch → ground truth →
monitoring on data generated from its own schema. Product tests, small data.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from mdlc import synthetic_team
from mdlc.local import LocalTeam
from tests.second_team import NAME

pytestmark = pytest.mark.slow

ENTITIES, DAYS, SEED = 150, 30, 5


@pytest.fixture(scope="module")
def team(team_dir, assembly, tmp_path_factory):
    with LocalTeam(NAME, models_dir=team_dir, assembly=assembly, workdir=tmp_path_factory.mktemp("second"),
                   quiet=True) as t:
        yield t


@pytest.fixture(scope="module")
def trained(team):
    """Version 1, trained on records generated from the team's schema, then approved."""
    history = synthetic_team.generate(team.spec, n_entities=ENTITIES, days=DAYS, seed=SEED)
    result = team.train(team.put_raw(history, "2026-03-01"))
    assert result.succeeded, result.cause
    team.approve(result.output["registered"]["model_package_arn"])
    return result


def test_the_second_team_validates_without_warnings(team_dir):
    result = subprocess.run([sys.executable, "-m", "mdlc.cli", "validate", str(team_dir / f"{NAME}.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "valid: team merchant-chargeback, 9 model features (3 online, keyed by merchant_id), roc_auc" \
        in result.stdout
    assert "no effect" not in result.stderr


def test_training_registers_a_version_gated_on_the_teams_own_metric(team, trained):
    evaluation = trained.output["evaluation"]
    assert evaluation["metrics"]["roc_auc"] >= team.team.evaluation.threshold
    assert evaluation["metrics"]["roc_auc"] > evaluation["baseline"]["roc_auc"]  # beats logistic regression
    assert trained.output["registered"]["version"] == 1
    lineage = json.dumps(trained.output)
    assert "raw/settlements/dt=2026-03-01/" in lineage


def test_a_batch_smaller_than_the_training_minimum_is_scored_as_json_lines(team, trained):
    frame = synthetic_team.later(team.spec, n_entities=ENTITIES, train_days=DAYS, days=1, seed=SEED, variant=2)
    assert team.team.batch.min_rows <= len(frame) < team.team.data_quality.min_rows

    result = team.run("batch", {"input_prefix": team.put_batch_input(frame, "2026-03-02")})

    assert result.succeeded, result.cause
    published = result.output["published"]
    assert published["rows"] == len(frame)
    bucket, _, key = published["results_uri"].removeprefix("s3://").partition("/")
    s3 = team.client("s3")
    parts = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
             if o["Key"].endswith(".csv")]
    scores = pd.concat(pd.read_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read()), dtype={
        "payment_ref": str}) for k in parts)
    assert list(scores.columns) == ["payment_ref", "score"]
    assert set(scores.payment_ref) == set(frame.payment_ref)
    assert scores.score.between(0, 1).all()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}_manifest.json")["Body"].read())
    assert manifest["rows"] == len(frame)
    team.put_ground_truth(frame, "2026-03-03")


def test_monitoring_a_batch_only_team_measures_batch_drift_and_quality_without_capture(team, trained):
    # The window holds this batch run, not the previous test's: windows are in whole seconds,
    # so the second the previous run was published in passes first.
    time.sleep(1.1)
    since = datetime.now(UTC).isoformat()
    frame = synthetic_team.later(team.spec, n_entities=ENTITIES, train_days=DAYS, days=1, seed=SEED, variant=3)
    assert team.run("batch", {"input_prefix": team.put_batch_input(frame, "2026-03-04")}).succeeded
    team.put_ground_truth(frame, f"{datetime.now(UTC):%Y-%m-%d}")  # labels arrive today (dt= is the arrival day)
    time.sleep(1.1)  # a window ends before the second it ends in

    result = team.run("monitoring", {"since": since})

    assert result.succeeded, result.cause
    m = result.output["monitoring"]
    assert m["endpoint"]["records"] == 0  # no endpoint, no capture bucket: nothing to read
    assert m["batch"]["records"] == len(frame)
    assert m["quality"]["labelled"] >= len(frame)
    assert m["batch"]["max_feature_psi"] is not None
