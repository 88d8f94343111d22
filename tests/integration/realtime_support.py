"""Shared set-up of the real-time integration tests (no tests here).

Training costs about a minute, so one model is trained once per test run
(:func:`trained_model`: memoised, and shared by the xdist workers through tests/shared.py)
and its artifacts are installed into each module's own
offline deployment (:func:`install_model`): the same model.tar.gz at the same S3 key, the
same online feature items (written by the feature backfill workflow from the training
partition), registered as an Approved version of the team's group.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from mdlc import synthetic
from mdlc.local import LocalTeam
from stacks.realtime.names import deployed_parameter, endpoint_name
from tests.shared import once_per_run

TEAM = "fraud-detection"
CUSTOMERS, DAYS, SEED = 300, 45, 11


class RealtimeTeam(LocalTeam):
    """LocalTeam with only the stacks real-time needs: data plane, features, training, real-time."""

    @property
    def stacks(self) -> list[str]:
        return [s for s in super().stacks if s.rsplit("-", 1)[-1] in ("data", "features", "training", "realtime")]


@dataclass(frozen=True)
class TrainedModel:
    """What a training run left behind, enough to register the model again elsewhere."""

    inference_specification: dict[str, Any]
    model_data: bytes
    feature_items: list[dict[str, Any]]
    known_customer: str


@cache
def trained_model() -> TrainedModel:
    """Run the real training workflow offline once per test run, and keep its artifacts."""
    return once_per_run("trained-model", lambda _folder: _train())


def _train() -> TrainedModel:
    with RealtimeTeam(TEAM) as team:
        team.put_raw(synthetic.generate(n_customers=CUSTOMERS, days=DAYS, seed=SEED), "2026-03-01")
        team.train(check=True)
        team.run("feature-backfill", check=True)  # the online table, from the same partition
        package = team.model_packages()[-1]
        spec = package["InferenceSpecification"]
        bucket, key = _split(spec["Containers"][0]["ModelDataUrl"])
        body = team.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        items = scan_all(team, _feature_table(team))
    customer = sorted(item["customer_id"]["S"] for item in items)[0]
    return TrainedModel(_clean(spec), body, items, customer)


def scan_all(team: LocalTeam, table: str) -> list[dict[str, Any]]:
    """Every item of ``table``: a Scan answers at most 1 MB a page (entity states of a few
    hundred customers are more)."""
    pages = team.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"]]


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _clean(spec: dict[str, Any]) -> dict[str, Any]:
    return {"Containers": [{k: c[k] for k in ("Image", "ModelDataUrl", "Environment") if k in c}
                           for c in spec["Containers"]],
            "SupportedContentTypes": spec.get("SupportedContentTypes", ["application/json"]),
            "SupportedResponseMIMETypes": spec.get("SupportedResponseMIMETypes", ["application/json"])}


def _feature_table(team: LocalTeam) -> str:
    return next(r.ref for r in team.resources.of_type("AWS::DynamoDB::Table")
                if r.stack == f"{TEAM}-data")


def install_model(team: LocalTeam, model: TrainedModel, *, versions: int = 1) -> list[str]:
    """Put the trained artifacts into ``team``'s offline AWS; register ``versions`` Approved packages."""
    s3 = team.client("s3")
    bucket, key = _split(model.inference_specification["Containers"][0]["ModelDataUrl"])
    s3.put_object(Bucket=bucket, Key=key, Body=model.model_data)
    ddb = team.client("dynamodb")
    for item in model.feature_items:
        ddb.put_item(TableName=_feature_table(team), Item=item)
    # what the backfill records once the table holds this team file's feature definitions
    team.client("ssm").put_parameter(Name=f"/mdlc/{TEAM}/features/state-signature", Type="String",
                                     Value=model.feature_items[0]["feature_signature"]["S"], Overwrite=True)
    sm = team.client("sagemaker")
    return [sm.create_model_package(ModelPackageGroupName=team.model_package_group,
                                    InferenceSpecification=model.inference_specification,
                                    ModelApprovalStatus="Approved",
                                    ModelPackageDescription=f"test version {i + 1}")["ModelPackageArn"]
            for i in range(versions)]


def deploy(team: LocalTeam, package_arn: str, *, poll_seconds: int = 1, **extra: Any) -> Any:
    """Run the deployment workflow for ``package_arn`` (manual input)."""
    return team.run("deployment", {"model_package_arn": package_arn, "poll_seconds": poll_seconds, **extra},
                    timeout=300)


def deployed(team: LocalTeam) -> dict[str, Any]:
    """The deployed-version record the workflow wrote to SSM."""
    value = team.client("ssm").get_parameter(Name=deployed_parameter(TEAM))["Parameter"]["Value"]
    return json.loads(value)


def endpoint(team: LocalTeam) -> dict[str, Any]:
    return team.client("sagemaker").describe_endpoint(EndpointName=endpoint_name(TEAM))


def request(request_id: str, customer: str, **fields: Any) -> dict[str, Any]:
    """A valid decision request (override any field)."""
    body = {"request_id": request_id, "transaction_id": f"T-{request_id}", "customer_id": customer,
            "event_time": "2026-03-01T14:30:00Z", "amount": 42.5, "merchant_category": "grocery",
            "channel": "card_present", "country": "GB"}
    body.update(fields)
    return body


def post(team: LocalTeam, body: Any) -> Any:
    """POST /v1/decisions through the decision API of the synthesised template (HttpResponse).

    ``body`` is sent as given when it is text, JSON-encoded otherwise.
    """
    if getattr(team, "gateway", None) is None:
        team.gateway = team.api("decisions")
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return team.gateway.invoke("POST", "/v1/decisions", text, {"Content-Type": "application/json"})


def decide(team: LocalTeam, body: Any) -> dict[str, Any]:
    """POST /v1/decisions: the response body, which is JSON and carries the HTTP status."""
    response = post(team, body)
    answer = response.json()
    assert answer.get("status") == response.status, (response.status, response.body)
    return answer


def run_workflow(team: LocalTeam, body: Any) -> dict[str, Any]:
    """StartSyncExecution of the decision workflow itself, without the API in front (its output)."""
    response = team.aws.run_sync(team.state_machine_arn("decision"), {"body": body}, timeout=120)
    assert response["status"] == "SUCCEEDED", response
    return json.loads(response["output"])


def decision_items(team: LocalTeam) -> list[dict[str, Any]]:
    table = next(r.ref for r in team.resources.of_type("AWS::DynamoDB::Table")
                 if re.search("DecisionsTable", r.logical_id))
    return team.client("dynamodb").scan(TableName=table)["Items"]
