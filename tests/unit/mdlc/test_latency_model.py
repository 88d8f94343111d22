"""The decision path's latency model (mdlc/latency.py) over the synthesised realtime template.

Product tests: the model reads its hops from the template (a hop without a figure fails),
its budget checks name the costliest hops, and the example team meets its budget.
"""

from __future__ import annotations

import copy
import json

import pytest

from mdlc.latency import MissingFigure, model, render


@pytest.fixture(scope="module")
def realtime(assembly):
    return assembly.template("fraud-detection-realtime")


def _machine(template: dict) -> tuple[str, dict]:
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and "Decide" in render(
                resource["Properties"]["DefinitionString"]):
            return logical, json.loads(render(resource["Properties"]["DefinitionString"]))
    raise AssertionError("no decision state machine in the realtime template")


def _with_definition(template: dict, definition: dict) -> dict:
    changed = copy.deepcopy(template)
    logical, _ = _machine(template)
    changed["Resources"][logical]["Properties"]["DefinitionString"] = json.dumps(definition)
    return changed


def test_the_example_team_meets_its_budget_and_client_timeout(realtime):
    report = model(realtime)
    assert report.p50 < report.p99 <= 100
    assert report.worst_ms <= 1500 and not report.api_timeout
    assert report.problems(100, 1500) == []
    assert {h.key for h in report.hops} >= {"apigateway:Request", "states:StartSyncExecution", "lambda:Invoke",
                                           "dynamodb:BatchGetItem", "sagemaker:InvokeEndpoint", "dynamodb:PutItem"}


def test_a_hop_the_figure_table_lacks_fails_the_model_naming_it(realtime):
    """A new state calling a service without a figure (here Textract) cannot slip onto the path."""
    _, definition = _machine(realtime)
    definition["States"]["Extra"] = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:textract:analyzeId",
                                     "End": True}
    first = definition["StartAt"]
    definition["States"][first].pop("End", None)
    definition["States"][first]["Next"] = "Extra"

    with pytest.raises(MissingFigure, match="textract"):
        model(_with_definition(realtime, definition))


def test_a_retry_on_the_synchronous_path_breaks_the_client_timeout_and_is_named(realtime):
    """The former shape: a Step Functions retry waits at least a second per attempt."""
    _, definition = _machine(realtime)
    decide = definition["States"][definition["StartAt"]]
    decide["Retry"] = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1,
                        "MaxAttempts": 3, "BackoffRate": 2}]

    report = model(_with_definition(realtime, definition))

    assert report.worst_ms > 1500
    problems = report.problems(100, 1500)
    assert any("client_timeout_ms" in p and "Decide" in p for p in problems)


def test_an_over_budget_path_names_its_costliest_hops(realtime):
    report = model(realtime)
    problems = report.problems(20, 1500)
    assert len(problems) == 1 and "latency_budget_ms" in problems[0]
    assert report.costliest()[0].name in problems[0]


def _alias(template: dict) -> dict:
    [alias] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Alias"]
    return alias


def test_cold_starts_count_unless_provisioned_and_snapstart_restores_instead_of_init(realtime):
    """The model reads the alias and the function: provisioned concurrency removes cold starts;
    without it they count at their rate, SnapStart at its restore time instead of init + import."""
    on_demand = copy.deepcopy(realtime)
    _alias(on_demand)["Properties"].pop("ProvisionedConcurrencyConfig")
    cold = model(on_demand)
    snap = copy.deepcopy(on_demand)
    function = next(r for r in snap["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                    and r["Properties"]["Handler"].endswith("decide.handler.handler"))
    function["Properties"]["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    restored = model(snap)

    warm = model(realtime)
    invoke = {name: next(h for h in r.hops if h.key == "lambda:Invoke") for name, r in
              (("warm", warm), ("cold", cold), ("snap", restored))}
    assert invoke["warm"].cold_rate == 0 and "provisioned" in invoke["warm"].name
    assert invoke["cold"].cold_rate > 0 and invoke["cold"].cold_extra is not None  # init + measured import
    assert "SnapStart" in invoke["snap"].name and invoke["snap"].cold_extra is None
    assert warm.p99 < cold.p99


def _decide_function(template: dict) -> dict:
    return next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                and r["Properties"]["Handler"].endswith("decide.handler.handler"))


def test_the_deadline_keeps_a_hanging_endpoint_within_the_budget_at_a_modelled_price(realtime):
    """The model samples the decision function's deadline (request time + budget − reserve, read
    from the template): with the endpoint hanging the fallback's p99 is within the budget, and
    the share of healthy requests the deadline hands to the fallback is reported."""
    report = model(realtime)
    function = _decide_function(realtime)
    env = function["Properties"]["Environment"]["Variables"]
    meta = function["Metadata"]["mdlc:latency"]["deadline"]

    assert report.hung_endpoint_p99 <= 100 < report.hung_endpoint_p99 + float(env["DEADLINE_RESERVE_MS"])
    assert meta["reserve_ms"] == int(env["DEADLINE_RESERVE_MS"]) and meta["budget_ms"] == 100
    assert 0 < report.deadline_fallback_share < 0.02
    assert "because of the deadline" in report.table()


def test_without_the_deadline_a_hanging_endpoint_breaks_the_budget_and_the_synth_check_says_so(realtime):
    """The fixed InvokeEndpoint timeout alone (the shape before the deadline): the fallback arrives
    after the budget, and the budget check names it."""
    fixed = copy.deepcopy(realtime)
    _decide_function(fixed)["Metadata"]["mdlc:latency"].pop("deadline")

    report = model(fixed)

    assert report.hung_endpoint_p99 > 100 and report.deadline_fallback_share is None
    assert any("endpoint hanging" in p for p in report.problems(100, 1500))


def test_call_timeout_is_the_ladder_rung_below_the_time_left():
    from mdlc.latency_deadline import call_timeout, ladder, request_start_ms

    assert [call_timeout(left, 60) for left in (80, 60, 59.9, 34, 5, 4.9, -3)] == [60, 60, 55, 30, 5, 0, 0]
    assert ladder(60, 55) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]
    assert ladder(62, 100)[-1] == 62
    assert request_start_ms(1_000, 1_010, 1500) == (1_000, None)
    assert request_start_ms(1_012, 1_010, 1500) == (1_010, None)  # skew: now
    assert request_start_ms(9_999_999, 1_010, 1500)[1].endswith("ahead of this function's clock")


def test_the_reserve_follows_the_figure_table():
    """The reserve is derived, not kept by hand: a slower decision write needs a larger reserve."""
    from mdlc.latency_deadline import CLOCK_SKEW_MS, reserve_ms
    from mdlc.latency_figures import FIGURES, Figure

    slower = {**FIGURES, "dynamodb:PutItem": Figure(6, 60, "test: a slow table")}

    assert reserve_ms() > FIGURES["dynamodb:PutItem"].p99 + CLOCK_SKEW_MS
    assert reserve_ms(slower) > reserve_ms() + 20
