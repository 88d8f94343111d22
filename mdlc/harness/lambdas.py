"""Route Lambda invokes that land in moto to the project's real handlers, in-process.

moto without Docker answers every invoke in `LambdaSimpleBackend.invoke` by echoing the
payload. The harness replaces that method: a registered function runs its real
`handler(event, context)` with the function's environment variables set for the call,
and answers the way Lambda does (Payload; `X-Amz-Function-Error: Unhandled` with
`errorType`/`errorMessage`/`stackTrace` when the handler raises).
"""

from __future__ import annotations

import contextvars
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

Handler = Callable[[Any, Any], Any]

# os.environ is process-wide: handler calls run one at a time (re-entrant, so a handler
# may itself invoke another function through boto3).
_ENV_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers commonly read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_seconds: int = 3
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def log_group_name(self) -> str:
        """CloudWatch log group Lambda would write to."""
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        """A log stream name in Lambda's format."""
        return f"harness/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        """Lambda's remaining-time query; the harness never interrupts a handler."""
        return self.timeout_seconds * 1000


@dataclass
class LambdaRoute:
    """Where invokes of one function go: a handler file (loaded lazily) or a callable."""

    function_name: str
    arn: str
    environment: dict[str, str] = field(default_factory=dict)
    source_dir: Path | None = None
    handler_spec: str = "handler.handler"
    handler: Handler | None = None
    memory_mb: int = 128
    timeout_seconds: int = 3

    def resolve_handler(self) -> Handler:
        """The handler callable, importing the handler module on first use."""
        if self.handler is None:
            if self.source_dir is None:
                raise ValueError(f"route for {self.function_name} has neither handler nor source")
            self.handler = _load_handler(self.function_name, self.source_dir, self.handler_spec)
        return self.handler


def _load_handler(function_name: str, source_dir: Path, handler_spec: str) -> Handler:
    """Import `<source_dir>/<module>.py` as Lambda would (its folder first on sys.path)."""
    module_name, _, attribute = handler_spec.rpartition(".")
    module_file = source_dir / (module_name.replace(".", "/") + ".py")
    if not module_file.is_file():
        raise FileNotFoundError(
            f"Lambda {function_name}: handler {handler_spec!r} expects {module_file}, "
            "which does not exist (check the mdlc:source metadata and Handler property)"
        )
    unique = f"mdlc_harness_lambda_{function_name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(unique, module_file)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # as an import would: dataclasses and pickling look it up
    sys.path.insert(0, str(source_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(source_dir))
    if not hasattr(module, attribute):
        raise AttributeError(f"Lambda {function_name}: {module_file} has no {attribute!r}")
    return getattr(module, attribute)


class ThreadEnviron(MutableMapping):
    """``os.environ`` with a per-thread overlay: a Lambda handler sees its function's
    variables while the test (or CLI) thread keeps the process environment unchanged.

    Mutating the real ``os.environ`` per call raced with other threads iterating it
    (botocore reads proxy settings by iterating the environment): KeyError or "dictionary
    changed size during iteration". Iteration here walks a snapshot.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str | None] | None:
        return getattr(self._local, "overlay", None)

    @contextmanager
    def overlay(self, variables: dict[str, str]) -> Iterator[None]:
        """Within the block, this thread sees ``variables`` on top of the process environment."""
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **variables}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        return self._base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            if key not in self:
                raise KeyError(key)
            overlay[key] = None
        else:
            del self._base[key]

    def _keys(self) -> list[str]:
        keys = list(self._base.copy())  # a snapshot: safe while other threads change it
        overlay = self._overlay() or {}
        return [k for k in dict.fromkeys([*keys, *overlay]) if overlay.get(k, "") is not None]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def copy(self) -> dict[str, str]:
        return {key: self[key] for key in self._keys()}


def _environment(variables: dict[str, str]) -> Any:
    """This thread sees the function's variables for the duration of the call."""
    if isinstance(os.environ, ThreadEnviron):
        return os.environ.overlay(variables)
    return _process_environment(variables)


@contextmanager
def _process_environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_CALL = threading.local()


def in_handler() -> bool:
    """True while this thread runs a routed Lambda handler (its output is the function's log)."""
    return getattr(_CALL, "active", False)


def function_name_of(name_or_arn: str) -> str:
    """`my-fn`, `my-fn:alias` or a function ARN → `my-fn`."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":")[0]


class LambdaRouter:
    """Registry of routed functions plus the replacement for moto's invoke."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.routes: dict[str, LambdaRoute] = {}
        self.invocations: list[tuple[str, Any]] = []
        # role ARN → session credentials (IAM evaluation on): handlers run as their role
        self.credentials_for: Callable[[str], dict[str, str]] | None = None

    def register(self, route: LambdaRoute) -> None:
        """Route every invoke of `route.function_name` to its handler."""
        self.routes[route.function_name] = route

    def invoke(self, function_name: str, body: Any, headers: Any, response_headers: dict,
               role: str | None = None) -> bytes:
        """Run the routed handler and return the payload bytes Lambda would return.

        With `credentials_for` set, the handler gets its role's credentials in its
        environment, as Lambda gives them, and boto3 clients it creates act as that role.
        """
        from mdlc.harness.iam import acting_as

        route = self.routes[function_name_of(function_name)]
        event = json.loads(body) if body else {}
        self.invocations.append((route.function_name, event))
        credentials = self.credentials_for(role) if (role and self.credentials_for) else {}
        variables = {**self._variables(route), **credentials}
        with _env_lock():
            with _environment(variables), acting_as(role if credentials else None):
                handler = route.resolve_handler()  # the Init phase: not counted in the timeout, as on AWS
            outcome = _run_with_timeout(route, lambda: self._call(handler, event, route, variables, role, credentials))
        if isinstance(outcome, _TimedOut):
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(outcome.payload(route)).encode()
        if isinstance(outcome, Exception):
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(_error_payload(outcome)).encode()
        if (headers or {}).get("X-Amz-Invocation-Type") in ("Event", "DryRun"):
            return b""
        return json.dumps(outcome).encode()

    def _call(self, handler: Handler, event: Any, route: LambdaRoute, variables: dict[str, str],
              role: str | None, credentials: dict[str, str]) -> Any:
        """One handler call in the current (worker) thread, with the function's environment and role."""
        from mdlc.harness.iam import acting_as

        with _environment(variables), acting_as(role if credentials else None):
            _CALL.active = True
            try:
                return handler(event, self._context(route))
            except Exception as error:  # noqa: BLE001 - Lambda reports every exception
                return error
            finally:
                _CALL.active = False

    def _variables(self, route: LambdaRoute) -> dict[str, str]:
        return {
            **route.environment,
            "AWS_LAMBDA_FUNCTION_NAME": route.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(route.memory_mb),
            "AWS_REGION": self.region,
        }

    @staticmethod
    def _context(route: LambdaRoute) -> LambdaContext:
        return LambdaContext(
            function_name=route.function_name,
            invoked_function_arn=route.arn,
            memory_limit_in_mb=route.memory_mb,
            timeout_seconds=route.timeout_seconds,
        )


# The call chain that holds _ENV_LOCK: a handler's worker thread inherits it (contextvars),
# so a handler that invokes another function does not wait for its own lock.
_HOLDS_LOCK: contextvars.ContextVar[bool] = contextvars.ContextVar("mdlc_harness_holds_env_lock", default=False)


@contextmanager
def _env_lock() -> Iterator[None]:
    if _HOLDS_LOCK.get():
        yield
        return
    with _ENV_LOCK:
        token = _HOLDS_LOCK.set(True)
        try:
            yield
        finally:
            _HOLDS_LOCK.reset(token)


@dataclass
class _TimedOut:
    """A handler that outlived its function's timeout: Lambda stops it and reports this."""

    seconds: float

    def payload(self, route: LambdaRoute) -> dict:
        return {"errorType": "Sandbox.Timedout", "errorMessage": (
            f"RequestId: {uuid.uuid4()} Error: Task timed out after {route.timeout_seconds:.2f} seconds")}


#: Seconds of emulated waiting (a hanging endpoint, …) per thread: part of a handler's duration.
_EMULATED_WAITS: dict[int, float] = {}
#: A handler stuck this many times its timeout in wall-clock time is stopped whatever its clock says.
_WALL_CLOCK_CAP = 30


def record_emulated_wait(seconds: float) -> None:
    """Count ``seconds`` the harness made this thread wait on the emulated service's behalf."""
    ident = threading.get_ident()
    _EMULATED_WAITS[ident] = _EMULATED_WAITS.get(ident, 0.0) + seconds


def _duration(worker: threading.Thread, clock: int | None, started_cpu: float) -> float:
    """A handler's duration as its own sandbox would see it: its thread's CPU time plus the
    harness' emulated waits. Wall-clock time here also counts the other processes this machine
    runs (other workers, the model servers), which are not the function's time."""
    cpu = time.clock_gettime(clock) - started_cpu if clock is not None else 0.0
    return cpu + _EMULATED_WAITS.get(worker.ident or 0, 0.0)


def _run_with_timeout(route: LambdaRoute, call: Callable[[], Any]) -> Any:
    """``call()``'s result (or exception), or _TimedOut when it runs past the function's Timeout.

    Lambda stops the sandbox at its timeout; a Python thread cannot be stopped, so a timed-out
    handler finishes in the background and its result is dropped (its side effects, as on AWS
    when a handler had written before the timeout, stay)."""
    box: list[Any] = []
    context = contextvars.copy_context()
    ready = threading.Event()
    clocks: list[tuple[int | None, float]] = []

    def run() -> None:
        try:
            clock = time.pthread_getcpuclockid(threading.get_ident())
            clocks.append((clock, time.clock_gettime(clock)))
        except (AttributeError, OSError):  # no per-thread CPU clock: wall-clock only
            clocks.append((None, 0.0))
        ready.set()
        try:
            box.append(context.run(call))
        finally:
            _EMULATED_WAITS.pop(threading.get_ident(), None)

    worker = threading.Thread(target=run, daemon=True, name=f"lambda-{route.function_name}")
    started = time.monotonic()
    worker.start()
    ready.wait()
    clock, started_cpu = clocks[0]
    limit = route.timeout_seconds
    while worker.is_alive():
        worker.join(0.02)
        if not worker.is_alive():
            break
        waited = time.monotonic() - started
        used = _duration(worker, clock, started_cpu) if clock is not None else waited
        if used > limit or waited > limit * _WALL_CLOCK_CAP:
            return _TimedOut(route.timeout_seconds)
    return box[0]


def _error_payload(error: Exception) -> dict:
    """The JSON Lambda's Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": str(uuid.uuid4()),
        "stackTrace": traceback.format_tb(error.__traceback__.tb_next if error.__traceback__ else None),
    }


def make_invoke_patch(router: LambdaRouter, original: Callable) -> Callable:
    """Replacement for `LambdaSimpleBackend.invoke`: routed functions run for real."""

    def invoke(backend, function_name, qualifier, body, headers, response_headers):  # type: ignore[no-untyped-def]
        if function_name_of(function_name) in router.routes:
            function = backend.get_function(function_name, qualifier)  # 404 for unknown, as Lambda does
            return router.invoke(function_name, body, headers, response_headers, role=function.role)
        return original(backend, function_name, qualifier, body, headers, response_headers)

    return invoke


def placeholder_zip() -> bytes:
    """Code for functions whose invokes the harness routes to the real handler."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "handler.py", "def handler(event, context):\n    raise RuntimeError('routed by mdlc.harness')\n"
        )
    return buffer.getvalue()


def make_lambda_task_timeout_patch(original: Callable) -> Callable:
    """``ExecutionState._evaluate_with_timeout`` that gives a Lambda task's ``TimeoutSeconds``
    the wall-clock headroom of :data:`_WALL_CLOCK_CAP`. moto waits on the wall clock, which
    here also counts the other test workers and model servers sharing the machine; on AWS the
    function's sandbox is its own. The function's own timeout still stops it when its duration
    (CPU time plus emulated waits, :func:`_duration`) passes it, as ``Sandbox.Timedout``, and
    the task fails with that, so a Lambda task whose TimeoutSeconds is the function's timeout
    times out offline where it would on AWS. Other tasks (SageMaker ``.sync``, SDK calls) keep
    moto's wall-clock timeout."""

    def evaluate_with_timeout(self: Any, env: Any) -> Any:
        if type(self).__name__ in ("StateTaskLambda", "StateTaskServiceLambda") and not getattr(
                self.timeout, "_mdlc_headroom", False):
            inner = self.timeout.eval

            def eval_with_headroom(env: Any) -> None:
                inner(env=env)
                env.stack.append(env.stack.pop() * _WALL_CLOCK_CAP)

            self.timeout.eval = eval_with_headroom
            self.timeout._mdlc_headroom = True
        return original(self, env)

    return evaluate_with_timeout
