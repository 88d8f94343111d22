"""What one test process builds once for every process of the run (pytest-xdist workers).

Each xdist worker is its own process, so a ``functools.cache`` or a session fixture builds
its value once *per worker*: the example model was trained three times in a `make test`
run, and every team synthesised three times. :func:`once_per_run` builds it once: the first
worker to ask builds it while the others wait on a lock, then read the pickled result from
the run's shared folder (the xdist controller's base temp folder, which pytest removes with
its other old runs). Without xdist it is simply ``make()``.

Only for values that are the same whichever process builds them (same code, same inputs):
a value read back is the one built, byte for byte.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: Set by tests/conftest.py in each xdist worker: the folder the run's workers share.
SHARED_DIR_ENV = "MDLC_TEST_RUN_SHARED_DIR"


def shared_dir() -> Path | None:
    """The folder every worker of this run shares, or None outside pytest-xdist."""
    value = os.environ.get(SHARED_DIR_ENV)
    return Path(value) if value else None


def once_per_run(name: str, make: Callable[[Path | None], T]) -> T:
    """``make(folder)`` once per test run; every process gets what it returned.

    ``folder`` is where ``make`` may leave files that outlive it for the other processes (an
    assembly's templates), or None when only this process uses the value. A failed ``make``
    leaves nothing: the next process to ask tries again (and fails the same way).
    """
    shared = shared_dir()
    if shared is None:
        return make(None)
    shared.mkdir(parents=True, exist_ok=True)
    result = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait while the first builds
        try:
            if result.exists():
                return pickle.loads(result.read_bytes())
            folder = shared / name
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            folder.mkdir()
            value = make(folder)
            partial = result.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(value))
            partial.replace(result)
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
