"""Cost of the offline decision API's own steps (harness), per request, without the workflow.

The example team's request model is checked with ``Draft4Validator`` and the decision
API's request and response templates (``stacks/realtime/api.py``) are rendered by the
harness' VTL engine (airspeed-ext with LocalStack's bindings) for
``examples/decision-request.json``, as ``mdlc.harness.apigateway`` does for every request
of ``mdlc local serve`` and the decision tests (with the JSONPath cache ``OfflineAws`` installs,
``mdlc.harness.reuse.jsonpath_patches``). Prints p50/p99 per step.
Run: ``python bench/bench_api.py [requests]`` (default 300; ~1 min on a busy machine).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jsonschema import Draft4Validator  # noqa: E402

from lambdas.shared.decision_request import request_schema  # noqa: E402
from mdlc.contract import MODELS_DIR, load_team, runtime_spec  # noqa: E402
from mdlc.harness import reuse  # noqa: E402
from mdlc.harness.apigateway import AwsVtlTemplate  # noqa: E402
from stacks.realtime.api import SUCCEEDED_TEMPLATE, request_template  # noqa: E402

BODY = (REPO / "examples" / "decision-request.json").read_text()
ARN = "arn:aws:states:eu-west-1:111111111111:stateMachine:fraud-detection-decision"


def _context() -> dict:
    return {"requestId": "5f0c1a2b-0000-4000-8000-000000000000", "stage": "v1", "httpMethod": "POST",
            "resourcePath": "/decisions", "identity": {"sourceIp": "127.0.0.1"}}


def _overrides() -> dict:
    return {"requestOverride": {"header": {}, "path": {}, "querystring": {}},
            "responseOverride": {"header": {}, "status": 0}}


def main(requests: int) -> None:
    schema = request_schema(runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml")))
    validator, vtl, template = Draft4Validator(schema), AwsVtlTemplate(), request_template(ARN)
    output = json.dumps({"status": 200, "decision": "APPROVE", "request_id": "req-1", "reasons": ["score_band"]})
    answer = json.dumps({"status": "SUCCEEDED", "output": output})
    steps: dict[str, list[float]] = {"validator (Draft 4)": [], "request template": [], "response template": []}
    for _ in range(requests):
        started = time.perf_counter()
        assert not list(validator.iter_errors(json.loads(BODY)))
        checked = time.perf_counter()
        rendered, _ = vtl.render_request(template=template, variables={
            "context": _context(), "input": {"body": BODY, "params": {}}, "stageVariables": {}},
            context_overrides=_overrides())
        requested = time.perf_counter()
        body, override = vtl.render_response(template=SUCCEEDED_TEMPLATE, variables={
            "context": _context(), "input": {"body": answer, "params": {}}, "stageVariables": {}},
            context_overrides=_overrides())
        done = time.perf_counter()
        assert json.loads(json.loads(rendered)["input"])["body"]["request_id"] and override["status"] == 200
        steps["validator (Draft 4)"].append(checked - started)
        steps["request template"].append(requested - checked)
        steps["response template"].append(done - requested)
    print(f"offline API Gateway steps, {requests} requests (harness cost, not AWS's)\n")
    print("| step | p50 ms | p99 ms |\n| --- | ---: | ---: |")
    total = [sum(parts) for parts in zip(*steps.values(), strict=True)]
    for name, times in [*steps.items(), ("**total**", total)]:
        cuts = statistics.quantiles(times, n=100)
        print(f"| {name} | {statistics.median(times) * 1000:.3f} | {cuts[98] * 1000:.3f} |")


if __name__ == "__main__":
    with ExitStack() as patched:
        for patch in reuse.jsonpath_patches():
            patched.enter_context(patch)
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
