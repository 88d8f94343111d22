"""Lambda variables are per thread: other threads never see them, even mid-call."""

from __future__ import annotations

import threading

from mdlc.harness.lambdas import ThreadEnviron


def test_a_handler_thread_sees_its_variables_and_other_threads_do_not():
    env = ThreadEnviron({"PATH": "/bin", "SHARED": "process"})
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def handler_thread():
        with env.overlay({"POWERTOOLS_SERVICE_NAME": "rules", "SHARED": "function"}):
            seen["inside"] = (env.get("POWERTOOLS_SERVICE_NAME"), env["SHARED"], sorted(env))
            env["SET_BY_HANDLER"] = "1"
            inside.set()
            release.wait(5)
        seen["after"] = env.get("POWERTOOLS_SERVICE_NAME")

    worker = threading.Thread(target=handler_thread)
    worker.start()
    inside.wait(5)
    # The main thread, meanwhile: the process environment, unchanged and iterable.
    assert env.get("POWERTOOLS_SERVICE_NAME") is None and env["SHARED"] == "process"
    assert sorted(env) == ["PATH", "SHARED"] and "SET_BY_HANDLER" not in env
    release.set()
    worker.join(5)

    assert seen["inside"] == ("rules", "function", ["PATH", "POWERTOOLS_SERVICE_NAME", "SHARED"])
    assert seen["after"] is None
    assert "SET_BY_HANDLER" not in env


def test_iteration_while_another_thread_calls_handlers_never_fails():
    env = ThreadEnviron({f"K{i}": str(i) for i in range(200)})
    stop = threading.Event()
    errors = []

    def churn():
        while not stop.is_set():
            with env.overlay({"A": "1", "B": "2"}):
                env["C"] = "3"
                del env["K1"]

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(2000):
            try:
                assert len(dict(env.items())) == 200
            except Exception as error:  # noqa: BLE001 - collect the failure
                errors.append(error)
    finally:
        stop.set()
        worker.join(5)
    assert errors == []
