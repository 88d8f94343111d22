"""The decision function's per-request deadline: its reserve, its timeout ladder, and its sampling.

The decision API answers within the team's ``realtime.latency_budget_ms`` even when the endpoint
hangs, because the decision function gives its two slow calls (the feature read, InvokeEndpoint)
no more than the time the request has left: a deadline of

    request time (API Gateway's ``$context.requestTimeEpoch``) + budget − reserve

where the **reserve** is what still has to happen after the endpoint call: the rules, the
decision write (``dynamodb:PutItem``) and the return legs of the round trips around the function
(its Lambda invoke, the task dispatch, the Express execution, the API's response mapping), taken
at its p99 from the same figures the latency model samples (:mod:`mdlc.latency_figures`), plus
``CLOCK_SKEW_MS`` for the clocks of API Gateway's and Lambda's hosts.

botocore applies a timeout per client, so the function keeps one client per rung of a ladder
(``TIMEOUT_STEP_MS`` apart, rounded down: a call never gets more time than is left) up to the
call's configured timeout. :func:`call_timeout` is the one rule, used by the handler
(``lambdas/realtime/decide``) and the latency model's Monte Carlo alike.

Standard library only, except :func:`reserve_ms` (numpy, at synth time): the decision function
imports :func:`call_timeout` on every cold start.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

#: Rungs of the timeout ladder (ms): a call gets the largest rung not above the time left.
TIMEOUT_STEP_MS = 5
#: Assumed bound on the difference between API Gateway's and Lambda's clocks (ms): both hosts
#: keep time with the Amazon Time Sync Service (error bounds well under 1 ms per ClockBound), and
#: ``requestTimeEpoch`` is truncated to the millisecond. A request time further ahead of the
#: function's clock than ``MAX_AHEAD_MS``, or older than the client's timeout, is not believed
#: (the function's own start is taken instead, and logged).
CLOCK_SKEW_MS = 2.0
MAX_AHEAD_MS = 1000
#: Share of a round trip's time spent on its return leg, after the decision function's calls
#: (a guess: no source splits these hops; half of each).
RETURN_SHARE = {"apigateway:Request": 0.5, "states:StartSyncExecution": 0.5, "states:TaskDispatch": 0.5,
                "lambda:Invoke": 0.5}
#: The work after the endpoint call inside the decision function: the rules, then the write.
AFTER_CALL = ("measured:apply_rules", "dynamodb:PutItem")
RESERVE_SAMPLES, RESERVE_SEED = 50_000, 7


def call_timeout(left_ms: float, configured_ms: int, step_ms: int = TIMEOUT_STEP_MS) -> int:
    """A call's read timeout (ms) with ``left_ms`` to the deadline: the configured timeout if the
    time left allows it, else the ladder's rung below the time left; 0 when not even one rung is
    left (the call is not made: the fallback decides)."""
    if left_ms >= configured_ms:
        return configured_ms
    if left_ms < step_ms:
        return 0
    return int(left_ms // step_ms) * step_ms


def ladder(configured_ms: int, ceiling_ms: float, step_ms: int = TIMEOUT_STEP_MS) -> list[int]:
    """Every timeout :func:`call_timeout` can give a call whose time left never exceeds ``ceiling_ms``."""
    rungs = list(range(step_ms, min(configured_ms, int(ceiling_ms)) + 1, step_ms))
    if ceiling_ms >= configured_ms and configured_ms not in rungs:
        rungs.append(configured_ms)
    return rungs


def request_start_ms(request_time_ms: Any, started_ms: float, client_timeout_ms: float) -> tuple[float, str | None]:
    """(the request's start in epoch ms, why the given request time was not used or None).

    A request time a little ahead of the function's clock (skew) counts as now; one absurdly far
    ahead or older than the client's timeout (a client would have given up: a stale or forged
    value from a direct caller) is not believed, and the function's own start counts instead."""
    if request_time_ms is None:
        return started_ms, None
    if isinstance(request_time_ms, bool) or not isinstance(request_time_ms, int | float | str):
        return started_ms, "request_time_epoch_ms is not a number"
    try:
        given = float(request_time_ms)
    except ValueError:
        return started_ms, "request_time_epoch_ms is not a number"
    if not math.isfinite(given):
        return started_ms, "request_time_epoch_ms is not a number"
    if given > started_ms + MAX_AHEAD_MS:
        return started_ms, f"request time {given - started_ms:.0f} ms ahead of this function's clock"
    if given < started_ms - client_timeout_ms:
        return started_ms, f"request time {started_ms - given:.0f} ms old, beyond the client timeout"
    return min(given, started_ms), None


def reserve_ms(figures: dict[str, Any] | None = None, *, samples: int = RESERVE_SAMPLES,
               seed: int = RESERVE_SEED) -> int:
    """The reserve (ms) after the endpoint call: p99 of the rules, the write and the return legs,
    sampled as the latency model samples them, plus the clock skew; whole milliseconds, up."""
    if figures is None and (samples, seed) == (RESERVE_SAMPLES, RESERVE_SEED):
        return _default_reserve_ms()
    return _reserve_ms(figures, samples, seed)


@cache
def _default_reserve_ms() -> int:
    """The reserve of the figure table, once per process (every team's synth asks for it)."""
    return _reserve_ms(None, RESERVE_SAMPLES, RESERVE_SEED)


def _reserve_ms(figures: dict[str, Any] | None, samples: int, seed: int) -> int:
    import numpy as np

    from mdlc.latency_figures import FIGURES, lognormal

    figures = figures or FIGURES
    rng = np.random.default_rng(seed)
    total = sum(lognormal(figures[key], rng, samples) for key in AFTER_CALL)
    total = total + sum(share * lognormal(figures[key], rng, samples) for key, share in RETURN_SHARE.items())
    return math.ceil(float(np.percentile(total, 99)) + CLOCK_SKEW_MS)
