"""Cost of the offline decision API's own steps (harness), per request, without the workflow.

The example team's request model is checked with ``Draft4Validator`` and the decision
API's request and response templates (``stacks/realtime/api.py``) are rendered by the
harness' VTL engine (airspeed-ext with the harness' ``$input``/``$util``/``$context``,
``mdlc.harness.vtl``, which compiles each template and JSONPath expression once) for
``examples/decision-request.json``, as ``mdlc.harness.apigateway`` does for every request
of ``mdlc local serve`` and the decision tests. Prints p50/p99 per step.
Run: ``python bench/bench_api.py [requests]`` (default 300; ~1 min on a busy machine).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jsonschema import Draft4Validator  # noqa: E402

from lambdas.shared.decision_request import request_schema  # noqa: E402
from mdlc.contract import MODELS_DIR, load_team, runtime_spec  # noqa: E402
from mdlc.harness import vtl  # noqa: E402
from stacks.realtime.api import SUCCEEDED_TEMPLATE, request_template  # noqa: E402

BODY = (REPO / "examples" / "decision-request.json").read_text()
ARN = "arn:aws:states:eu-west-1:111111111111:stateMachine:fraud-detection--decision"


def _context() -> dict:
    return {"requestId": "5f0c1a2b-0000-4000-8000-000000000000", "stage": "v1", "httpMethod": "POST",
            "resourcePath": "/decisions", "identity": {"sourceIp": "127.0.0.1"}}


def main(requests: int) -> None:
    schema = request_schema(runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml")))
    validator, template = Draft4Validator(schema), request_template(ARN)
    output = json.dumps({"status": 200, "decision": "APPROVE", "request_id": "req-1", "reasons": ["score_band"]})
    answer = json.dumps({"status": "SUCCEEDED", "output": output})
    steps: dict[str, list[float]] = {"validator (Draft 4)": [], "request template": [], "response template": []}
    for _ in range(requests):
        started = time.perf_counter()
        assert not list(validator.iter_errors(json.loads(BODY)))
        checked = time.perf_counter()
        rendered, _ = vtl.render(template, body=BODY, context=_context())
        requested = time.perf_counter()
        body, context = vtl.render(SUCCEEDED_TEMPLATE, body=answer, context=_context())
        done = time.perf_counter()
        assert json.loads(json.loads(rendered)["input"])["body"]["request_id"]
        assert context["responseOverride"]["status"] == 200
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
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
