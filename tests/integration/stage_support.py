"""Helpers of the batch, monitoring and retraining tests: a trained team, served traffic.

``serve_and_capture`` sends records through an endpoint that runs the real inference
script (harness InvokeEndpoint) and writes what SageMaker's data capture writes for each
request (``captureData.endpointInput/endpointOutput``, ``eventMetadata``, JSON Lines under
``<endpoint>/<variant>/yyyy/mm/dd/hh/``), so the monitor reads the documented format.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mdlc import features as F
from mdlc import synthetic
from mdlc.local import LocalTeam
from mdlc.local.signals import OfflineSignals
from sagemaker_jobs.batch import job as batch_job
from tests.integration.conftest import team_variant_dir

TRAIN_DAY = "2026-03-01"


@contextmanager
def trained_team(tmp: Path, **overrides: Any):
    """The example team (real-time stage off: these stages do not need it), deployed and
    trained once on clean synthetic data, its first version Approved."""
    models = team_variant_dir(tmp / "team", **{"realtime.enabled": False, **overrides})
    with LocalTeam("fraud-detection", models_dir=models, workdir=tmp / "local") as team:
        team.put_raw(synthetic.generate(n_customers=300, days=40, seed=1), TRAIN_DAY)
        result = team.train()
        assert result.succeeded, result.cause
        team.approve(team.model_packages()[-1]["ModelPackageArn"])
        team.signals = OfflineSignals(team)
        yield team


def scoring_frame(seed: int, days: int = 5, **kw: Any) -> pd.DataFrame:
    """Records of the ``days`` after training from the same customers (the generator draws
    its customers first, so the training seed keeps them); ``seed`` varies the traffic."""
    frame = synthetic.generate(n_customers=300, days=40 + days + seed % 7, seed=1, **kw)
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=40 + seed % 7)
    times = pd.to_datetime(frame["event_time"], utc=True, format="ISO8601", errors="coerce")
    later = frame[(times >= start) | times.isna()].reset_index(drop=True)
    later["transaction_id"] = f"S{seed}-" + later["transaction_id"]
    return later


def put_batch_input(team: LocalTeam, frame: pd.DataFrame, day: str) -> str:
    prefix = f"{team.team.batch.input_prefix}dt={day}/"
    body = frame.drop(columns=[team.team.schema.label]).to_csv(index=False).encode()
    team.client("s3").put_object(Bucket=team.bucket("raw"), Key=f"{prefix}part-0.csv", Body=body)
    return f"s3://{team.bucket('raw')}/{prefix}"


def put_ground_truth(team: LocalTeam, labels: pd.DataFrame, day: str | None = None) -> None:
    """Labels arriving today (partitions are named by arrival day) or on ``day``."""
    day = day or f"{datetime.now(UTC):%Y-%m-%d}"
    key = f"{team.team.data.ground_truth_prefix}dt={day}/part-0.csv"
    team.client("s3").put_object(Bucket=team.bucket("raw"), Key=key, Body=labels.to_csv(index=False).encode())


def executions(team: LocalTeam, workflow: str) -> list[dict[str, Any]]:
    sfn = team.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=team.state_machine_arn(workflow))["executions"]


def wait_for(team: LocalTeam, execution_arn: str, timeout: float = 600) -> dict[str, Any]:
    sfn = team.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.5)
    raise TimeoutError(execution_arn)


def _online_snapshot(team: LocalTeam) -> pd.DataFrame:
    package = team.model_packages()[-1]
    run_id = package["ModelMetrics"]["ModelDataQuality"]["Statistics"]["S3Uri"].split("/runs/")[1].split("/")[0]
    body = team.client("s3").get_object(Bucket=team.bucket("feat"),
                                        Key=f"runs/{run_id}/online/online_features.jsonl")["Body"].read()
    rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    entity = team.team.schema.entity_key
    return pd.DataFrame(rows).drop(columns=["as_of"]).drop_duplicates(entity).set_index(entity)


def ensure_endpoint(team: LocalTeam, name: str) -> str:
    """An endpoint serving the latest Approved version (what the deployment workflow does)."""
    sm = team.client("sagemaker")
    approved = [p for p in team.model_packages() if p["ModelApprovalStatus"] == "Approved"][-1]
    container = approved["InferenceSpecification"]["Containers"][0]
    model = f"{name}-{approved['ModelPackageVersion']}"
    sm.create_model(ModelName=model, ExecutionRoleArn=team.aws.execution_role_arn(),
                    PrimaryContainer={k: container[k] for k in ("Image", "ModelDataUrl", "Environment")})
    sm.create_endpoint_config(EndpointConfigName=model, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    try:
        sm.describe_endpoint(EndpointName=name)
        sm.update_endpoint(EndpointName=name, EndpointConfigName=model)
    except sm.exceptions.ClientError:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=model)
    return name


def serve_and_capture(team: LocalTeam, frame: pd.DataFrame, endpoint: str, batch_size: int = 50) -> int:
    """Score ``frame`` through ``endpoint`` and write the data-capture records SageMaker would."""
    spec = json.loads(Path(team.assembly.outdir / "build" / team.name / "config" / "team.json").read_text())
    rows = batch_job.model_rows(frame.astype(str).replace({"nan": "", "None": ""}), _online_snapshot(team), spec)
    runtime, s3 = team.client("sagemaker-runtime"), team.client("s3")
    id_column = F.key_columns(spec)["id"]
    fmap = F.feature_map(spec)
    records = []
    for record in rows.astype(object).where(rows.notna(), None).to_dict("records"):
        records.append({k: (int(v) if v is not None and k in fmap and fmap[k]["type"] in ("int", "bool", "category")
                            else v) for k, v in record.items()})
    lines = []
    for i in range(0, len(records), batch_size):
        body = json.dumps({"instances": records[i:i + batch_size]})
        out = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                      Accept="application/json", Body=body)["Body"].read().decode()
        now = datetime.now(UTC)
        lines.append(json.dumps({
            "captureData": {
                "endpointInput": {"observedContentType": "application/json", "mode": "INPUT", "data": body,
                                  "encoding": "JSON"},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": out,
                                   "encoding": "JSON"},
            },
            "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }))
    now = datetime.now(UTC)
    # Where the endpoint config's DestinationS3Uri (s3://<cap>/datacapture) puts it.
    key = f"datacapture/{endpoint}/AllTraffic/{now:%Y/%m/%d/%H}/{uuid.uuid4().hex}.jsonl"
    s3.put_object(Bucket=team.bucket("cap"), Key=key, Body=("\n".join(lines) + "\n").encode())
    assert id_column in records[0]
    return len(records)
