"""The templates of every team: each team file in models/ and the generated second team.

Parametrised by team, so adding a team file adds its cases. Product tests: what each team
gets deployed follows its own file (names, environment, sections, schedules, thresholds).
"""

from __future__ import annotations

import json

import pytest

from mdlc.contract import load_team, team_files
from mdlc.names import alarm_name, state_machine_name, team_resource
from tests.conftest import CLI_ACCOUNT, CLI_REGION
from tests.second_team import NAME as SECOND_TEAM

TEAMS = sorted({p.stem for p in team_files()} | {SECOND_TEAM})


@pytest.fixture(params=TEAMS)
def team(request, team_dir):
    return load_team(team_dir / f"{request.param}.yaml")


def stacks_of(assembly, name: str) -> dict[str, dict]:
    return {s: t for s, t in assembly.templates.items() if s.startswith(f"{name}-")}


def resources(assembly, stack: str, kind: str) -> list[dict]:
    return [r for r in assembly.template(stack)["Resources"].values() if r["Type"] == kind]


def test_every_stack_is_prefixed_by_its_team_and_deploys_where_the_team_resolves(assembly, team):
    manifest = json.loads((assembly.outdir / "manifest.json").read_text())
    mine = {n: a for n, a in manifest["artifacts"].items()
            if a["type"] == "aws:cloudformation:stack" and n.startswith(f"{team.name}-")}
    expected_stacks = {"data", "features", "training", "batch", "monitoring", "retraining"}
    expected_stacks |= {"realtime"} if team.realtime.enabled else set()
    assert {n.removeprefix(f"{team.name}-") for n in mine} - {"pipeline"} == expected_stacks
    dev = team.environments.get("dev")
    where = f"aws://{dev.account}/{dev.region}" if dev else f"aws://{CLI_ACCOUNT}/{CLI_REGION}"
    assert {a["environment"] for n, a in mine.items() if not n.endswith("-pipeline")} == {where}


def test_every_stack_name_belongs_to_exactly_one_team(assembly):
    names = list(assembly.templates)
    owners = [[t for t in TEAMS if n.startswith(f"{t}-")] for n in names]
    assert all(len(o) == 1 for o in owners), dict(zip(names, owners, strict=True))


def test_only_a_team_with_an_endpoint_gets_capture_endpoint_alarms_and_serving_widgets(assembly, team):
    buckets = {r["Properties"].get("BucketName") for r in resources(assembly, f"{team.name}-data", "AWS::S3::Bucket")}
    has_capture = any(b and b.startswith(team_resource(team.name, "cap-")) for b in buckets)
    alarms = {r["Properties"]["AlarmName"] for r in resources(assembly, f"{team.name}-monitoring",
                                                              "AWS::CloudWatch::Alarm")}
    (dashboard,) = resources(assembly, f"{team.name}-monitoring", "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    realtime = team.realtime.enabled
    assert has_capture is realtime
    assert (alarm_name(team.name, "endpoint-feature-drift") in alarms) is realtime
    assert (alarm_name(team.name, "batch-feature-drift") in alarms)
    assert ("Endpoint latency" in body) is realtime and ("Decision mix" in body) is realtime
    assert (state_machine_name(team.name, "decision") in body) is realtime


def test_alarms_use_the_teams_own_monitoring_thresholds(assembly, team):
    m = team.monitoring
    alarms = {r["Properties"]["AlarmName"]: r["Properties"]
              for r in resources(assembly, f"{team.name}-monitoring", "AWS::CloudWatch::Alarm")}
    assert alarms[alarm_name(team.name, "batch-feature-drift")]["Threshold"] == m.max_feature_psi
    assert alarms[alarm_name(team.name, "precision-low")]["Threshold"] == m.min_precision
    assert alarms[alarm_name(team.name, "model-stale")]["Threshold"] == m.max_model_age_days
    assert all(a["Namespace"] == f"MDLC/{team.name}" for a in alarms.values())


def test_schedules_and_the_batch_input_gate_come_from_the_team_file(assembly, team):
    rules = {r["Properties"].get("Name"): r["Properties"] for stack in (f"{team.name}-batch", f"{team.name}-monitoring")
             for r in resources(assembly, stack, "AWS::Events::Rule")}
    assert rules[team_resource(team.name, "monitoring-schedule")]["ScheduleExpression"] == team.monitoring.schedule
    if team.batch.schedule:
        assert any(r.get("ScheduleExpression") == team.batch.schedule for r in rules.values())
    (machine,) = resources(assembly, f"{team.name}-batch", "AWS::StepFunctions::StateMachine")
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert f'\\"MIN_ROWS\\":\\"{team.batch.min_rows}\\"' in definition
    assert f'\\"ContentType\\":\\"{team.batch.content_type}\\"' in definition


def test_a_pipeline_only_for_a_team_that_names_its_source(assembly, team):
    has_source = bool(team.pipeline.connection_arn or team.pipeline.codecommit_repository)
    assert (f"{team.name}-pipeline" in assembly.templates) is has_source


def test_diagrams_draw_a_team_without_environments(team_dir):
    """`mdlc diagram` synthesises a team with no account or region of its own (the drawing
    needs none) and finds only the workflows that team has."""
    from mdlc.diagram import team_state_machines

    machines = team_state_machines(SECOND_TEAM, team_dir)
    workflows = ("training", "batch", "monitoring", "feature-backfill")
    assert set(machines) == {state_machine_name(SECOND_TEAM, w) for w in workflows}
