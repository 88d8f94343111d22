"""Every synthesised state machine: valid ASL, robust by construction, JSONPath only."""

from __future__ import annotations

import json
import subprocess

import pytest

from mdlc.contract import REPO_ROOT

PLACEHOLDER = "arn:aws:lambda:eu-west-1:111111111111:function:placeholder"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111111111111",
          "AWS::URLSuffix": "amazonaws.com"}


def render(definition) -> dict:
    """The definition with pseudo parameters filled in and other references as placeholder ARNs."""
    if isinstance(definition, str):
        return json.loads(definition)
    parts = definition["Fn::Join"][1]

    def text(part) -> str:
        if isinstance(part, str):
            return part
        return PSEUDO.get(part.get("Ref", ""), PLACEHOLDER)

    return json.loads("".join(text(p) for p in parts))


def state_machines(assembly) -> dict[str, dict]:
    found = {}
    for stack, template in assembly.templates.items():
        for logical_id, res in template["Resources"].items():
            if res["Type"] == "AWS::StepFunctions::StateMachine":
                found[f"{stack}/{logical_id}"] = res
    return found


def all_states(definition: dict, caught: bool = False):
    """(name, state, caught by an enclosing Map/Parallel) for every state, nested ones too."""
    for name, state in definition["States"].items():
        yield name, state, caught
        inner_caught = caught or any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", []))
        for branch in state.get("Branches", []):
            yield from all_states(branch, inner_caught)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from all_states(state[key], inner_caught)


def test_the_team_has_its_workflows(assembly):
    names = {res["Properties"].get("StateMachineName") for res in state_machines(assembly).values()}
    assert "fraud-detection--training" in names


def test_every_state_machine_passes_asl_validator(assembly, tmp_path):
    machines = state_machines(assembly)
    paths = []
    for i, (_name, res) in enumerate(sorted(machines.items())):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(render(res["Properties"]["DefinitionString"])))
        paths.append(path)
    args = [a for p in paths for a in ("--json-path", str(p))]
    result = subprocess.run(
        ["npx", "--no-install", "asl-validator", *args], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": True}}}))
    result = subprocess.run(
        ["npx", "--no-install", "asl-validator", "--json-path", str(bad)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert result.returncode != 0


@pytest.fixture(scope="module")
def machines(assembly):
    return {
        name: (res, render(res["Properties"]["DefinitionString"]))
        for name, res in state_machines(assembly).items()
    }


DECISION_MACHINE_PREFIX = "-realtime/DecisionsStateMachine"


def test_every_task_retries_transient_errors_with_jitter_and_catches_everything(machines):
    for machine, (_res, definition) in machines.items():
        for name, state, enclosed in all_states(definition):
            if state["Type"] != "Task":
                continue
            catches = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
            assert enclosed or "States.ALL" in catches, f"{machine}: {name} has no catch-all"
            if name.startswith("Notify "):
                continue  # the failure path's own notification: its catch goes straight to Fail
            if DECISION_MACHINE_PREFIX in machine:
                # The synchronous decision path retries nothing (a retry waits 1 s at least, the
                # client's whole budget): its function bounds its own calls, the catch answers.
                assert "Retry" not in state, f"{machine}: {name} retries on the synchronous path"
                continue
            retries = state.get("Retry", [])
            assert retries, f"{machine}: {name} has no Retry"
            assert any("ThrottlingException" in r["ErrorEquals"] for r in retries), name
            assert all(r.get("JitterStrategy") == "FULL" and r.get("BackoffRate", 1) > 1 for r in retries), name


def test_no_state_machine_uses_jsonata(machines):
    for machine, (_res, definition) in machines.items():
        assert definition.get("QueryLanguage", "JSONPath") == "JSONPath", machine
        for name, state, _ in all_states(definition):
            assert state.get("QueryLanguage", "JSONPath") == "JSONPath", f"{machine}: {name}"


def test_state_machines_log_everything_encrypted_trace_and_time_out(assembly, machines):
    for machine, (res, definition) in machines.items():
        props = res["Properties"]
        assert props["TracingConfiguration"] == {"Enabled": True}, machine
        assert props["LoggingConfiguration"]["Level"] == "ALL", machine
        assert "TimeoutSeconds" in definition, machine
        stack = machine.split("/")[0]
        groups = [r for r in assembly.template(stack)["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
        assert groups and all("KmsKeyId" in g["Properties"] for g in groups), machine


def test_every_lambda_names_its_handler_for_the_offline_harness(assembly):
    for template in assembly.templates.values():
        for res in template["Resources"].values():
            if res["Type"] == "AWS::Lambda::Function" and "mdlc:source" in res.get("Metadata", {}):
                module = res["Properties"]["Handler"].rpartition(".")[0].replace(".", "/")
                source = REPO_ROOT / res["Metadata"]["mdlc:source"] / f"{module}.py"
                assert source.is_file(), source


