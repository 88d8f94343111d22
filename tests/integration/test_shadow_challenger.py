"""Shadow challengers on live traffic (issue 24): the shadow never touches a live answer, its
decisions are recorded beside the live ones, and ``mdlc promote`` makes it live.

Product tests. Three offline deployments of the example team from the same trained model:
one without a shadow, one whose ``Shadow`` variant serves a model scoring every request 0.99
under a stricter candidate policy, one whose shadow model loads but fails every request (a
booster of other feature names).
The same requests go through the decision API of each; the live answers must be the same,
field by field, apart from ``decided_at`` (the clock). The shadow pairs are read from where
the shadow Lambda writes them (delivered from the decisions table's stream by the harness).
"""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from mdlc.commands.promote import promote_shadow
from mdlc.harness.execution import follow_execution
from stacks.realtime.names import SHADOW_VARIANT, endpoint_name

from .conftest import team_variant_dir
from .realtime_support import TEAM, RealtimeTeam, decide, deploy, deployed, install_model, request, trained_model

STRICT = {"score_bands": {"approve_below": 0.1, "decline_at_or_above": 0.5}}
REQUESTS = [("amount", 42.5), ("amount", 12000.0), ("merchant_category", "gaming"), ("amount", 7.0),
            ("channel", "online"), ("amount", 999.0)]


def constant_model(model_data: bytes, score: float, *, broken: bool = False) -> bytes:
    """The trained model.tar.gz with its booster replaced by one that scores every record ``score``
    (``broken``: a booster of other feature names, which loads but fails every request)."""
    import xgboost as xgb

    source = tarfile.open(fileobj=io.BytesIO(model_data))
    members = {m.name: source.extractfile(m).read() for m in source.getmembers() if m.isfile()}
    trained = xgb.Booster()
    trained.load_model(bytearray(members["xgboost-model"]))
    names = [f"not_{n}" for n in trained.feature_names] if broken else trained.feature_names
    data = xgb.DMatrix(np.zeros((4, len(names))), label=np.ones(4), feature_names=names)
    booster = xgb.train({"objective": "binary:logistic", "base_score": score, "eta": 0.0, "max_depth": 1},
                        data, num_boost_round=1)
    members["xgboost-model"] = bytes(booster.save_raw("json"))
    meta = json.loads(members["model-meta.json"])
    members["model-meta.json"] = json.dumps({**meta, "model_version": f"constant-{score}"}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, body in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def register_challenger(team: RealtimeTeam, model, body: bytes) -> str:
    """Version 2, PendingManualApproval, with ``body`` as its artifact at a key of its own."""
    spec = json.loads(json.dumps(model.inference_specification))
    container = spec["Containers"][0]
    container["ModelDataUrl"] = container["ModelDataUrl"].replace("model.tar.gz", "challenger/model.tar.gz")
    bucket, _, key = container["ModelDataUrl"].removeprefix("s3://").partition("/")
    team.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return team.client("sagemaker").create_model_package(
        ModelPackageGroupName=team.model_package_group, InferenceSpecification=spec,
        ModelApprovalStatus="PendingManualApproval", ModelPackageDescription="challenger")["ModelPackageArn"]


def answers(team: RealtimeTeam, customer: str) -> list[dict]:
    return [decide(team, request(f"shadow-{i}", customer, **{field: value}))
            for i, (field, value) in enumerate(REQUESTS)]


def without_clock(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "decided_at"}


def shadow_pairs(team: RealtimeTeam) -> list[dict]:
    s3, bucket = team.client("s3"), team.bucket("cap")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="shadow/").get("Contents", [])]
    return [json.loads(line) for key in sorted(keys)
            for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]


def _model_input(team: RealtimeTeam) -> dict:
    """The model input a live decision recorded (the decisions table's ``features``)."""
    from .realtime_support import decision_items

    return json.loads(next(i for i in decision_items(team) if "features" in i)["features"]["S"])


def decision_definition(team: RealtimeTeam) -> dict:
    arn = team.state_machine_arn("decision")
    return json.loads(team.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"])


@pytest.fixture(scope="module")
def baseline():
    """The live answers and decision workflow of the example team without a shadow."""
    model = trained_model()
    with RealtimeTeam(TEAM) as team:  # one offline deployment at a time: closed before the next
        assert deploy(team, install_model(team, model)[0]).succeeded
        return {"answers": answers(team, model.known_customer), "definition": decision_definition(team)}


@pytest.fixture(scope="module", params=["scores 0.99", "errors"])
def shadowed(request, tmp_path_factory, baseline):
    """The same team with a shadow challenger: a 0.99 model under a stricter policy, or a broken model."""
    model = trained_model()
    models = team_variant_dir(tmp_path_factory.mktemp("shadow"), **{"realtime.shadow": {
        "model_version": 2, "decision_rules": STRICT, "fallback_decision": "DECLINE"}})
    body = constant_model(model.model_data, 0.99, broken=request.param == "errors")
    with RealtimeTeam(TEAM, models_dir=models) as team:
        live = install_model(team, model)[0]
        challenger = register_challenger(team, model, body)
        assert deploy(team, live).succeeded
        team.case, team.live_arn, team.challenger_arn = request.param, live, challenger
        team.answers = answers(team, model.known_customer)
        yield team


def test_live_answers_are_the_same_with_a_shadow_that_scores_099_or_errors(baseline, shadowed):
    assert [without_clock(a) for a in shadowed.answers] == [without_clock(a) for a in baseline["answers"]]
    assert {a["decision"] for a in shadowed.answers} != {"DECLINE"}  # live is not the 0.99 model
    assert any(not a["fallback"] for a in baseline["answers"])  # the model answered: a comparison of scores


def test_the_decision_workflow_gains_no_step_with_a_shadow(baseline, shadowed):
    assert decision_definition(shadowed) == baseline["definition"]


def test_every_live_decision_is_decided_by_the_shadow_and_recorded_beside_it(shadowed):
    pairs = {p["request_id"]: p for p in shadow_pairs(shadowed)}

    assert sorted(pairs) == sorted(a["request_id"] for a in shadowed.answers)
    for answer in shadowed.answers:
        pair = pairs[answer["request_id"]]
        assert pair["live"]["decision"] == answer["decision"] and pair["live"]["score"] == answer["score"]
        assert pair["shadow"]["decision"] == "DECLINE"  # 0.99 >= 0.5, or the candidate's fallback
        if shadowed.case == "scores 0.99":
            assert pair["shadow"]["score"] == pytest.approx(0.99) and pair["shadow"]["error"] is None
            assert pair["shadow"]["model_version"] == "constant-0.99"
        else:
            assert pair["shadow"]["score"] is None and "ModelError" in pair["shadow"]["error"]


def test_the_endpoint_serves_the_challenger_as_a_weight_0_shadow_variant(shadowed):
    sm = shadowed.client("sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint_name(TEAM))["EndpointConfigName"])
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}

    assert weights == {"AllTraffic": 1.0, SHADOW_VARIANT: 0.0}
    assert deployed(shadowed)["shadow"]["model_package_arn"] == shadowed.challenger_arn


def test_mdlc_promote_makes_the_shadow_live_through_the_deployment_workflow(shadowed):
    if shadowed.case != "scores 0.99":
        pytest.skip("a broken challenger is not promoted (its smoke test would fail the deployment)")
    sfn = shadowed.client("stepfunctions")

    started = promote_shadow(team=shadowed.team, sagemaker=shadowed.client("sagemaker"),
                             ssm=shadowed.client("ssm"), stepfunctions=sfn,
                             machine=shadowed.state_machine_arn("deployment"),
                             package_arn=shadowed.challenger_arn, rule_wait=0, poll_seconds=1)
    result = follow_execution(sfn, started["execution_arn"], timeout=300)

    assert result.succeeded and started["approved"] is True
    package = shadowed.client("sagemaker").describe_model_package(ModelPackageName=shadowed.challenger_arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert deployed(shadowed)["model_package_arn"] == shadowed.challenger_arn
    endpoint = shadowed.client("sagemaker").describe_endpoint(EndpointName=endpoint_name(TEAM))
    routing = endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY"  # same variant names: the canary and its rollback alarms apply
    answer = shadowed.client("sagemaker-runtime").invoke_endpoint(  # the live variant, as the decision path calls it
        EndpointName=endpoint_name(TEAM), ContentType="application/json", Accept="application/json",
        Body=json.dumps(_model_input(shadowed)))
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(answer["Body"].read())["model_version"] == "constant-0.99"
