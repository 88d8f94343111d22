"""Readers of the example team's synthesised stacks, shared by the per-stage infrastructure tests."""

from __future__ import annotations

from mdlc.contract import MODELS_DIR, load_team
from tests.infrastructure.test_state_machines import render

TEAM = load_team(MODELS_DIR / "fraud-detection.yaml")


def resources(assembly, stack: str, kind: str) -> list[dict]:
    return [r for r in assembly.template(f"fraud-detection-{stack}")["Resources"].values() if r["Type"] == kind]


def machine(assembly, stack: str) -> dict:
    [res] = resources(assembly, stack, "AWS::StepFunctions::StateMachine")
    return render(res["Properties"]["DefinitionString"])


def happy_path(definition: dict) -> list[str]:
    """The states in order when every Choice takes its first branch."""
    states, order, name = definition["States"], [], definition["StartAt"]
    while name and name not in order:
        order.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state.get("Next")
    return order
