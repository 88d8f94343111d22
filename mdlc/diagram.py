"""``mdlc diagram``: every state machine of a team as a picture (SVG and PNG).

The definitions come from the synthesised templates (the same app builder as ``cdk synth``),
so the picture is what deploys. Any Amazon States Language works: CDK tokens in the
definition (``Fn::Join`` of ``Ref``/``Fn::GetAtt``) become ``${LogicalId}`` placeholders.

Edges: ``Next`` solid; Choice branches solid and labelled with their condition (``Default``
for the default); ``Retry`` a dashed orange loop on the state labelled with the errors and
attempts; ``Catch`` a dashed red edge labelled with the errors it catches. Map and Parallel
states are drawn as clusters around their inner states.

Layout and rendering: Graphviz (WebAssembly, npm ``@viz-js/viz``) and resvg (npm
``@resvg/resvg-js``), driven by ``scripts/render_diagram.mjs``; ``make install`` brings both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from mdlc.contract import REPO_ROOT, TeamFileError

RENDERER = REPO_ROOT / "scripts" / "render_diagram.mjs"
FONT = "DejaVu Sans"
STYLE = {
    "Task": 'shape=box style="rounded,filled" fillcolor="#e8f0fe"',
    "Choice": 'shape=diamond style=filled fillcolor="#fff4d6"',
    "Pass": 'shape=box style="dashed,rounded"',
    "Wait": 'shape=box style="rounded,filled" fillcolor="#eeeeee"',
    "Succeed": 'shape=box style="rounded,filled" fillcolor="#d9f2d9"',
    "Fail": 'shape=box style="rounded,filled" fillcolor="#f9d6d5"',
    "Map": 'shape=box3d style=filled fillcolor="#efe6fa"',
    "Parallel": 'shape=box3d style=filled fillcolor="#efe6fa"',
}
RETRY_EDGE = 'style=dashed color="#d97706" fontcolor="#b45309"'
CATCH_EDGE = 'style=dashed color="#dc2626" fontcolor="#b91c1c"'
COMPARATORS = {
    "StringEquals": "==", "NumericEquals": "==", "BooleanEquals": "==", "TimestampEquals": "==",
    "NumericLessThan": "<", "NumericGreaterThan": ">", "NumericLessThanEquals": "<=",
    "NumericGreaterThanEquals": ">=", "StringMatches": "matches", "IsPresent": "present",
    "IsNull": "is null", "StringLessThan": "<", "StringGreaterThan": ">",
}


# ------------------------------------------------------------------------------ tokens
def _placeholder(name: str) -> str:
    return "${" + name + "}"


def resolve_tokens(value: Any) -> str:
    """A CloudFormation string expression → text with ``${...}`` placeholders for tokens."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(resolve_tokens(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return _placeholder(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return _placeholder(".".join(target) if isinstance(target, list) else target)
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if isinstance(value, dict) and len(value) == 1:
        return _placeholder(next(iter(value)))
    raise ValueError(f"cannot read a state machine definition from {json.dumps(value)[:200]}")


def state_machines(template: dict) -> dict[str, dict]:
    """Name → ASL definition of every state machine in a synthesised template."""
    found = {}
    for logical_id, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = res.get("Properties", {})
        if "DefinitionString" in props:
            text = resolve_tokens(props["DefinitionString"])
            for key, sub in (props.get("DefinitionSubstitutions") or {}).items():
                text = text.replace(_placeholder(key), resolve_tokens(sub))
            definition = json.loads(text)
        else:
            definition = props["Definition"]
        name = props.get("StateMachineName")
        found[name if isinstance(name, str) else logical_id] = definition
    return found


# ------------------------------------------------------------------------------ ASL → DOT
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _errors(names: list[str], limit: int = 4) -> str:
    """Error names one per line; long lists (shared retry policies) end in "+N more"."""
    shown = names if len(names) <= limit else [*names[: limit - 1], f"+{len(names) - limit + 1} more"]
    return "\n".join(shown)


def _condition(rule: dict) -> str:
    for key in ("And", "Or"):
        if key in rule:
            return f" {key.lower()} ".join(f"({_condition(r)})" for r in rule[key])
    if "Not" in rule:
        return f"not ({_condition(rule['Not'])})"
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"])
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign"):
            continue
        base = key.removesuffix("Path")
        op = COMPARATORS.get(base, base)
        shown = value if key.endswith("Path") else json.dumps(value)
        if base in ("IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean", "IsTimestamp"):
            return f"{variable} {op}" if value else f"not {variable} {op}"
        return f"{variable} {op} {shown}"
    return variable or "?"


class _Dot:
    def __init__(self, title: str) -> None:
        self.lines = [
            f"digraph {_q(title)} {{",
            f'  graph [label={_q(title)} labelloc=t fontsize=18 fontname="{FONT}" rankdir=TB '
            'nodesep=0.35 ranksep=0.45 compound=true]',
            f'  node [fontname="{FONT}" fontsize=11]',
            f'  edge [fontname="{FONT}" fontsize=9]',
        ]
        self.counter = 0

    def add(self, line: str, indent: int = 1) -> None:
        self.lines.append("  " * indent + line)

    def text(self) -> str:
        return "\n".join([*self.lines, "}"]) + "\n"


def to_dot(definition: dict, title: str) -> str:
    """Graphviz DOT of an ASL definition, Retry/Catch/Choice edges labelled."""
    dot = _Dot(title)
    dot.add('__start [shape=circle label="" width=0.25 style=filled fillcolor=black]')
    dot.add('__end [shape=doublecircle label="" width=0.2 style=filled fillcolor=black]')
    first = _machine(dot, definition, prefix="", end="__end", indent=1)
    dot.add(f"__start -> {first}")
    return dot.text()


def _machine(dot: _Dot, machine: dict, prefix: str, end: str, indent: int) -> str:
    """Adds a (sub-)machine's states; returns the node id of its StartAt state."""
    ids = {name: _q(prefix + name) for name in machine["States"]}
    for name, state in machine["States"].items():
        node = ids[name]
        kind = state["Type"]
        label = name if kind in ("Choice", "Pass", "Succeed") else f"{name}\n[{kind}{_resource(state)}]"
        if kind in ("Map", "Parallel"):
            dot.add(f"subgraph {_q('cluster_' + prefix + name)} {{", indent)
            dot.add(f'label={_q(kind + ": " + name)} style="rounded,dashed" color="#7c3aed" fontname="{FONT}"',
                    indent + 1)
            dot.add(f"{node} [label={_q(label)} {STYLE[kind]}]", indent + 1)
            bodies = [state.get("ItemProcessor") or state.get("Iterator")] if kind == "Map" else state["Branches"]
            for i, body in enumerate(bodies):
                sub_prefix = f"{prefix}{name}/{i}/" if kind == "Parallel" else f"{prefix}{name}/"
                inner = _machine(dot, body, sub_prefix, end=node, indent=indent + 1)
                each = "each item" if kind == "Map" else f"branch {i + 1}"
                dot.add(f'{node} -> {inner} [label={_q(each)} style=dotted arrowhead=vee]', indent + 1)
            dot.add("}", indent)
        else:
            dot.add(f"{node} [label={_q(label)} {STYLE.get(kind, 'shape=box')}]", indent)
        if kind == "Choice":
            for rule in state.get("Choices", []):
                dot.add(f"{node} -> {ids[rule['Next']]} [label={_q(_condition(rule))}]", indent)
            if "Default" in state:
                dot.add(f"{node} -> {ids[state['Default']]} [label=\"Default\"]", indent)
        if "Next" in state:
            dot.add(f"{node} -> {ids[state['Next']]}", indent)
        if state.get("End") or kind == "Succeed":
            dot.add(f"{node} -> {end}" + (' [style=dotted arrowhead=none]' if end != "__end" else ""), indent)
        for retry in state.get("Retry", []):
            label = _q(f"Retry x{retry.get('MaxAttempts', 3)}:\n" + _errors(retry["ErrorEquals"]))
            dot.add(f"{node} -> {node} [label={label} {RETRY_EDGE}]", indent)
        for catch in state.get("Catch", []):
            label = _q("Catch:\n" + _errors(catch["ErrorEquals"]))
            dot.add(f"{node} -> {ids[catch['Next']]} [label={label} {CATCH_EDGE}]", indent)
    return ids[machine["StartAt"]]


def _resource(state: dict) -> str:
    resource = state.get("Resource")
    if not isinstance(resource, str):
        return ""
    match = re.search(r":states:::([\w-]+(?::[\w-]+)?)(\.[\w:]+)?$", resource)
    if match:
        return f": {match.group(1)}{match.group(2) or ''}"
    return ": lambda" if ":lambda:" in resource or "Function" in resource else ""


# ------------------------------------------------------------------------------ render
def render(jobs: list[tuple[str, Path]]) -> list[Path]:
    """Render (dot, path stem) pairs to ``stem.svg`` and ``stem.png``; returns the files."""
    payload = [{"dot": dot, "svg": str(stem.with_suffix(".svg")), "png": str(stem.with_suffix(".png"))}
               for dot, stem in jobs]
    for _, stem in jobs:
        stem.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["node", str(RENDERER)], input=json.dumps(payload), text=True,
                            capture_output=True, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(
            f"diagram renderer failed (run `make install` for the npm packages): {result.stderr[-2000:]}"
        )
    return [Path(p) for job in payload for p in (job["svg"], job["png"])]


#: A drawing needs no real account: teams without ``environments`` are drawn in this one.
DRAWING_ACCOUNT, DRAWING_REGION = "123456789012", "eu-west-1"


def team_state_machines(model: str, models_dir: Path | None = None) -> dict[str, dict]:
    """Every state machine of one team, from a fresh synth of its stacks (stage dev).

    The team file's ``environments.dev`` is used when it has one; otherwise a placeholder
    account and region (the workflows do not depend on them).
    """
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk

    from stacks.app_builder import build_app

    with tempfile.TemporaryDirectory(prefix="mdlc-diagram-") as tmp:
        context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
        app = cdk.App(outdir=tmp, context=context)
        build_app(app, model=model, stage="dev", default_account=DRAWING_ACCOUNT, default_region=DRAWING_REGION,
                  build_dir=Path(tmp) / "build", models_dir=models_dir, pipelines=False)
        app.synth()
        machines: dict[str, dict] = {}
        for path in sorted(Path(tmp).glob("*.template.json")):
            machines |= state_machines(json.loads(path.read_text()))
    return machines


def render_team(model: str, out: Path | None = None, models_dir: Path | None = None) -> list[Path]:
    out = out or REPO_ROOT / "docs" / "diagrams" / model
    machines = team_state_machines(model, models_dir)
    if not machines:
        raise TeamFileError(REPO_ROOT / "models" / f"{model}.yaml",
                            ["the team's stacks have no state machine to draw yet"])
    return render([(to_dot(asl, name), out / name) for name, asl in sorted(machines.items())])
