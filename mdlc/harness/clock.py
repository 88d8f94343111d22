"""The clock of the emulated AWS: only emulated waits take time in it.

Offline, every AWS hop (API Gateway's templates, Step Functions, a Lambda invoke, a moto
call, the model server) costs this machine's wall-clock time, tens of milliseconds under
load, where AWS would spend a few. The decision function's per-request deadline (request
time + budget − reserve, ``lambdas/realtime/decide``) measured on the wall clock would then
fall on healthy requests the deployed path answers in time. So the harness gives API
Gateway's ``$context.requestTimeEpoch`` and the decision function's clock
(``lambdas.shared.aws.clock_ms``) one emulated clock, which advances only by the waits the
harness emulates (an endpoint that hangs, until the caller's read timeout): the deadline
then falls exactly where the emulated waits put it. One clock for the process: a hang
advances it for requests running at the same moment too (the tests send one at a time).
"""

from __future__ import annotations

import threading
import time

_LOCK = threading.Lock()
_BASE_MS = time.time() * 1000
_waited_ms = 0.0


def now_ms() -> float:
    """The emulated clock, epoch milliseconds."""
    return _BASE_MS + _waited_ms


def advance(seconds: float) -> None:
    """An emulated wait of ``seconds`` happened."""
    global _waited_ms
    with _LOCK:
        _waited_ms += seconds * 1000


def install() -> None:
    """Make the emulated clock the decision function's (``lambdas.shared.aws.clock_ms``)."""
    from lambdas.shared.aws import use_clock

    use_clock(now_ms)


# Whoever stamps requests with this clock (API Gateway's emulation) needs the function to read it.
install()
