"""The per-hop latency figures of the decision path, each with where it comes from.

One row per kind of hop the decision API can run. ``p50``/``p99`` are milliseconds in one
AWS region (client, API, workflow, functions, tables and endpoint in the same region).
``source`` cites the figure; ``guess: True`` marks a figure that no cited source states
as such (an engineering estimate informed by the cited page), so a reader knows which
numbers to replace first with the team's own CloudWatch figures (API Gateway
``IntegrationLatency``/``Latency``, Step Functions ``ExecutionTime``, Lambda ``Duration``
and ``InitDuration``, DynamoDB ``SuccessfulRequestLatency``, SageMaker ``OverheadLatency``
and ``ModelLatency``). ``measured`` figures come from this project's benchmarks on its
2-core reference machine (command in the source).

A hop of a synthesised template that has no row here fails the latency model
(:class:`mdlc.latency.MissingFigure`): add the row, with its source, before the hop ships.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclass(frozen=True)
class Figure:
    """A hop's latency: median and 99th percentile (ms), and where the figures come from."""

    p50: float
    p99: float
    source: str
    guess: bool = False
    measured: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.p50 <= self.p99:
            raise ValueError(f"a figure needs 0 < p50 <= p99, got p50={self.p50}, p99={self.p99}")


_APIGW = ("https://www.smplogs.com/patterns/apigateway/high-latency (\"API Gateway itself typically adds "
          "only 10-30 milliseconds of overhead for REST APIs\"); metric definitions: "
          "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html")
_SFN = ("https://www.readysetcloud.io/blog/allen.helton/serverless-integration-speed-test/ and "
        "https://dev.to/slsbytheodo/functionless-can-we-do-better-without-lambda-4koa (API Gateway → "
        "Express workflow benchmarks); https://cremich.cloud/aws-step-function-vs-aws-lambda-benchmark")
_DDB = ("https://aws.amazon.com/dynamodb/ (\"single-digit millisecond performance at any scale\"); "
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html "
        "(SuccessfulRequestLatency)")
_LAMBDA_COLD = ("https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html "
                "(\"cold starts typically occur in under 1% of invocations\"; the Init phase)")
_BENCH = "python bench/bench_decision.py 3000 (docs/performance.md, decision path)"

#: Hop kind → figure. Keys: ``service:Operation`` for an AWS call, ``states:*`` for Step
#: Functions' own work, ``measured:*`` for this project's code.
FIGURES: dict[str, Figure] = {
    # The API: SigV4 authorisation, resource policy, request validator, request and response VTL.
    "apigateway:Request": Figure(12, 30, _APIGW, guess=True),
    # Step Functions: starting and finishing a synchronous Express execution, each state's transition,
    # and dispatching a Task to its service (on top of the service call itself).
    "states:StartSyncExecution": Figure(10, 30, _SFN, guess=True),
    "states:Transition": Figure(1, 4, _SFN, guess=True),
    "states:TaskDispatch": Figure(4, 12, _SFN, guess=True),
    # Lambda: a warm synchronous invoke (front end, placement on a warm sandbox, response).
    "lambda:Invoke": Figure(8, 25, _SFN + "; https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html",
                            guess=True),
    # Cold start without the handler's own imports (runtime start + Powertools layer); the
    # handler's import time is measured (measured:import:*). Probability: LAMBDA_COLD_START_RATE.
    "lambda:InitRuntime": Figure(150, 350, _LAMBDA_COLD, guess=True),
    # SnapStart (Python): restoring a snapshot instead of Init.
    "lambda:SnapStartRestore": Figure(120, 400, "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html "
                                      "(restore replaces Init; no figure published for Python)", guess=True),
    "dynamodb:GetItem": Figure(4, 12, _DDB, guess=True),
    "dynamodb:BatchGetItem": Figure(5, 15, _DDB, guess=True),
    "dynamodb:Query": Figure(6, 18, _DDB, guess=True),
    "dynamodb:PutItem": Figure(6, 18, _DDB, guess=True),
    "dynamodb:UpdateItem": Figure(6, 18, _DDB, guess=True),
    "dynamodb:DeleteItem": Figure(6, 18, _DDB, guess=True),
    # InvokeEndpoint without the model's own time (SageMaker's OverheadLatency + the network);
    # the model's in-container time is measured:model.
    "sagemaker:InvokeEndpoint": Figure(6, 20, "https://repost.aws/knowledge-center/sagemaker-endpoint-latency "
                                       "(OverheadLatency, ModelLatency)", guess=True),
    "kinesis:PutRecord": Figure(10, 35, "https://docs.aws.amazon.com/streams/latest/dev/"
                                "monitoring-with-cloudwatch.html (PutRecord.Latency)", guess=True),
    "kinesis:PutRecords": Figure(12, 40, "https://docs.aws.amazon.com/streams/latest/dev/"
                                 "monitoring-with-cloudwatch.html (PutRecords.Latency)", guess=True),
    "events:PutEvents": Figure(15, 50, "https://docs.aws.amazon.com/eventbridge/latest/userguide/"
                               "eb-monitoring.html (PutEvents latency)", guess=True),
    "sqs:SendMessage": Figure(8, 25, "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/"
                              "SQSDeveloperGuide/ (no latency figure published)", guess=True),
    "sns:Publish": Figure(15, 50, "https://docs.aws.amazon.com/sns/latest/dg/ (no latency figure published)",
                          guess=True),
    # This project's code on the reference machine (one core ≈ one Lambda vCPU at 1,769 MB).
    "measured:model": Figure(0.524, 0.933, "inference handler, 3 reason codes: " + _BENCH + ", 2026-12-07",
                             measured=True),
    "measured:collect_features": Figure(0.267, 0.557, "feature merge: " + _BENCH, measured=True),
    "measured:apply_rules": Figure(0.053, 0.134, "rules: " + _BENCH, measured=True),
    "measured:perform_action": Figure(0.034, 0.095, "action: " + _BENCH, measured=True),
    "measured:decide": Figure(0.533, 1.020, "the decision function without the model (request check + feature "
                              "merge + rules + record; p99 the sum of the steps' p99s): " + _BENCH + ", 2026-12-07",
                              measured=True),
    "measured:publish_decisions": Figure(0.05, 0.2, "relay (off the synchronous path)", guess=True),
    # Cold import of each handler module in a fresh interpreter (best of 5).
    "measured:import:collect_features": Figure(265, 300, "cold import: " + _BENCH, measured=True),
    "measured:import:apply_rules": Figure(320, 360, "cold import: " + _BENCH, measured=True),
    "measured:import:perform_action": Figure(319, 360, "cold import: " + _BENCH, measured=True),
    "measured:import:decide": Figure(283, 325, "cold import, best of 5 (the p99 +15% is an estimate): " + _BENCH
                                     + ", 2026-12-07", measured=True),
}

#: Share of a function's invocations that start a new execution environment when it has
#: no provisioned concurrency ("under 1%" in production, _LAMBDA_COLD; taken at its bound).
LAMBDA_COLD_START_RATE = 0.01
#: Memory at which a function has one full vCPU; below it, CPU (and so the measured compute)
#: scales with memory (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
LAMBDA_FULL_VCPU_MB = 1769

#: Step Functions service-integration resources (after ``arn:<partition>:states:::``) and the
#: call each makes; ``aws-sdk:<service>:<action>`` maps through SDK_SERVICES.
INTEGRATIONS = {
    "dynamodb:getItem": "dynamodb:GetItem",
    "dynamodb:putItem": "dynamodb:PutItem",
    "dynamodb:updateItem": "dynamodb:UpdateItem",
    "dynamodb:deleteItem": "dynamodb:DeleteItem",
    "sqs:sendMessage": "sqs:SendMessage",
    "sns:publish": "sns:Publish",
    "events:putEvents": "events:PutEvents",
    "lambda:invoke": "lambda:Invoke",
}
#: SDK integration service names → the call's figure prefix.
SDK_SERVICES = {"sagemakerruntime": "sagemaker", "dynamodb": "dynamodb", "kinesis": "kinesis",
                "eventbridge": "events", "sqs": "sqs", "sns": "sns"}


def lognormal(figure: Figure, rng: Any, n: int) -> Any:
    """``n`` samples of a hop's latency: log-normal through its p50 and p99 (numpy ``rng``)."""
    sigma = (math.log(figure.p99) - math.log(figure.p50)) / Z99
    return rng.lognormal(math.log(figure.p50), sigma, n)
