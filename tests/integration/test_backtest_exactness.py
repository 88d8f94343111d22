"""Backtest exactness: served decisions replayed through ``mdlc backtest``'s code are byte-identical.

Product test. 1,000 requests go through the deployed decision API offline (API Gateway
resources, the Express workflow with the real handlers, the real inference script behind
the endpoint, the feature stream delivered after each request as the consumer would); then
the same requests, with the training history before them, are replayed by
``mdlc.backtest`` (point-in-time features, the model's serving code in its runtime,
``mdlc.policy``). Every decision (decision, reasons, reason codes, what decided, score,
model and policy versions, fallback) must be the same text as the API's.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mdlc import backtest as bt
from mdlc import policy, runtimes, synthetic
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from mdlc.local.traffic import later_records

from .realtime_support import (
    CUSTOMERS,
    DAYS,
    SEED,
    TEAM,
    RealtimeTeam,
    decide,
    deploy,
    install_model,
    scan_all,
    trained_model,
)

SERVED = 1_000
#: Requests sent at most: a decision the workflow answers with its own fallback (the function
#: over its timeout on a busy machine), or that the API times out, is not compared.
MAX_REQUESTS = 1_300


def _requests() -> pd.DataFrame:
    """Records after the training history, from the same customers, oldest first."""
    later = later_records(CUSTOMERS, DAYS, 30, SEED, variant=0)
    times = pd.to_datetime(later["event_time"], utc=True, format="ISO8601")
    return later.iloc[times.argsort(kind="stable")].head(MAX_REQUESTS).reset_index(drop=True)


def _body(row: dict, i: int) -> dict:
    body = {k: v for k, v in row.items() if k != "is_fraud" and not (isinstance(v, float) and pd.isna(v))}
    return {"request_id": f"bt-{i:05d}", **body}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(recorded requests frame, the API's model-decided answers by transaction id, model.tar.gz, table items)."""
    model = trained_model()
    frame = _requests()
    with RealtimeTeam(TEAM) as team:
        assert deploy(team, install_model(team, model)[0]).succeeded
        answers = {}
        for i, row in enumerate(frame.to_dict("records")):
            answer = decide(team, _body(row, i))
            # 504: the harness honours the API's integration timeout, which a busy test machine
            # can exceed; what the workflow recorded still feeds the features, as on AWS.
            assert answer["status"] in (200, 504), answer
            team.aws.deliver_streams()  # the decisions table's stream: the relay feeds the feature stream
            team.aws.deliver_kinesis()  # the entity's next decision sees this one, as on AWS a second later
            if answer["status"] == 200 and not answer["fallback"]:
                answers[row["transaction_id"]] = answer
            if len(answers) == SERVED:
                break
        table = next(r.ref for r in team.resources.of_type("AWS::DynamoDB::Table")
                     if "DecisionsTable" in r.logical_id)
        items = scan_all(team, table)  # every page: a thousand decisions are more than one 1 MB page
    recorded = {i["transaction_id"]["S"] for i in items}
    path = tmp_path_factory.mktemp("model") / "model.tar.gz"
    path.write_bytes(model.model_data)
    # The history the online table saw: the training partition, then every recorded decision.
    return frame[frame["transaction_id"].isin(recorded)], answers, path, items


def test_replaying_served_requests_gives_the_deployed_rules_lambdas_decisions_byte_for_byte(served):
    frame, answers, model_path, _ = served
    team = load_team(MODELS_DIR / f"{TEAM}.yaml")
    spec = runtime_spec(team)
    history = pd.concat([synthetic.generate(n_customers=CUSTOMERS, days=DAYS, seed=SEED), frame],
                        ignore_index=True)
    python = runtimes.runtime_for_algorithm(team.training.algorithm).require_built()

    run = bt.replay(history, spec, since=frame["event_time"].min())
    replayed = bt.decisions(run, bt.score(model_path, run.features, python), spec)

    assert len(answers) == SERVED and not run.rejected
    by_id = {r["transaction_id"]: d for r, d in zip(run.requests, replayed, strict=True)}
    differing = [t for t, answer in answers.items() if bt.decision_json(answer) != bt.decision_json(by_id[t])]
    assert differing == [], (len(differing), bt.decision_json(answers[differing[0]]),
                             bt.decision_json(by_id[differing[0]]))
    assert {a["decision"] for a in answers.values()} >= {"APPROVE", "REVIEW"}  # not one trivial outcome


def test_every_served_decision_records_the_deployed_policy_version_beside_the_model_version(served):
    _, answers, _, items = served
    spec = runtime_spec(load_team(MODELS_DIR / f"{TEAM}.yaml"))
    answer = next(iter(answers.values()))

    assert answer["policy_version"] == policy.policy_version(spec, answer["model_version"])
    assert len(items) >= SERVED
    assert {i["policy_version"]["S"] for i in items} == {answer["policy_version"]}
    # the decision event's detail is the recorded response
    assert {json.loads(i["response"]["S"])["policy_version"] for i in items} == {answer["policy_version"]}
