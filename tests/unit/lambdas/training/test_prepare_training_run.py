"""prepare_training_run: the run's partition, content hash, champion, job names and paths."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import DATA_ENV, approved_model, bucket


def put_partition(day: str, rows: int = 3) -> None:
    body = "transaction_id,amount\n" + "".join(f"T-{i},{i}.5\n" for i in range(rows))
    client("s3").put_object(Bucket=bucket("raw"), Key=f"raw/transactions/dt={day}/part-0.csv", Body=body.encode())


def test_a_first_run_names_its_data_jobs_and_paths(handler, event, context):
    put_partition("2026-03-01")

    run = handler.handler(event, context)

    assert run["data_uri"] == event["input"]["data_prefix"] and run["data"]["files"] == 1
    assert run["run_id"].startswith("20") and run["reason"] == "manual"
    assert run["job_names"]["training"] == f"fraud-detection--train-{run['run_id']}"
    assert run["paths"]["model"] == f"s3://{DATA_ENV['ARTIFACTS_BUCKET']}/runs/{run['run_id']}/model"
    # No champion yet: the jobs get the empty marker, which exists.
    assert run["champion_arn"] == "" and run["champion_model_uri"].endswith("/none/NONE")
    client("s3").head_object(Bucket=bucket("artifacts"), Key=f"runs/{run['run_id']}/none/NONE")


def test_without_a_prefix_the_newest_partition_and_the_champion_are_used(handler, event, context):
    put_partition("2026-02-28")
    put_partition("2026-03-01", rows=5)
    champion = approved_model("20260201T020000-aaaaaa")

    run = handler.handler({**event, "input": {"reason": "drift:endpoint_feature_psi"}}, context)

    assert run["data_uri"].endswith("dt=2026-03-01/")
    assert run["champion_arn"] == champion["arn"] and run["baseline_uri"] == champion["statistics_uri"]
    assert run["drift_accepted"] == "true"


def test_an_empty_partition_is_refused_naming_it(handler, event, context):
    with pytest.raises(handler.NoDataError, match="dt=2026-03-01/"):
        handler.handler(event, context)
