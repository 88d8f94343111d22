"""Serve a SageMaker Model offline: one model-server process per model, in the model's runtime.

A Model (moto) names its image and artifacts in `PrimaryContainer`: `Image`, `ModelDataUrl`
(model.tar.gz), and in `Environment` `SAGEMAKER_PROGRAM` (the module) inside
`SAGEMAKER_SUBMIT_DIRECTORY` (a code tarball). The harness extracts the model into a
folder laid out like `/opt/ml`, then starts `_runtime/model_server.py` with the
interpreter of the image's runtime (`mdlc/runtimes.py`): the image's own serving toolkit
(`sagemaker_containers`' Transformer and Flask Worker, as `sagemaker_xgboost_container`
uses them for script-mode models) loads the module and the model once, and answers
`POST /invocations` on a local port. Requests go over HTTP (a kept-alive connection);
the response status is the serving stack's (e.g. 500 for an exception in `input_fn`, as
the image answers). Processes end when the harness exits (`ModelCache.close`).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdlc.harness import isolation, s3io
from mdlc.harness.job_process import job_environment
from mdlc.runtimes import Runtime

_DEFAULT_ACCEPT = "application/json"
_SERVER = Path(__file__).resolve().parent / "_runtime" / "model_server.py"
_START_TIMEOUT = 120.0
_REQUEST_TIMEOUT = 60.0


class InferenceError(Exception):
    """The model cannot be loaded, or its server failed."""


class ModelServerError(InferenceError):
    """The model server answered with a non-200 status (the serving stack's own answer)."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__(f"model server answered {status}: {_short(body)}")


def _short(body: bytes) -> str:
    text = body.decode(errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(parsed, dict) and "error-message" in parsed:
        return f"{parsed.get('error')}: {parsed['error-message']}"[:500]
    return text[:500]


@dataclass(frozen=True)
class ModelSource:
    """Where a SageMaker Model's image, artifacts and code are."""

    model_name: str
    image: str | None
    model_data_url: str | None
    program: str | None
    submit_directory: str | None
    environment: dict[str, str]
    network_isolation: bool = False  # EnableNetworkIsolation of the model: its server has no network

    @classmethod
    def from_describe(cls, model: dict) -> ModelSource:
        """Build from a DescribeModel response (first container if several)."""
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        environment = dict(container.get("Environment") or {})
        return cls(
            model_name=model["ModelName"],
            image=container.get("Image"),
            model_data_url=container.get("ModelDataUrl"),
            program=environment.get("SAGEMAKER_PROGRAM"),
            submit_directory=environment.get("SAGEMAKER_SUBMIT_DIRECTORY"),
            environment=environment,
            network_isolation=isolation.model_isolated(model),
        )

    @property
    def key(self) -> tuple:
        """What identifies a loaded model: its name, image, artifacts and code."""
        return (self.model_name, self.image, self.model_data_url, self.program, self.submit_directory,
                self.network_isolation)


class LoadedModel:
    """A model server process (the image's serving stack in the model's runtime)."""

    def __init__(self, source: ModelSource, runtime: Runtime, s3: Any, workdir: Path) -> None:
        self.source = source
        self.runtime = runtime
        self._lock = threading.Lock()
        if not source.program:
            raise InferenceError(
                f"model {source.model_name}: container Environment has no SAGEMAKER_PROGRAM; "
                "the harness only serves script-mode models"
            )
        opt_ml = workdir / "opt_ml"
        self.model_dir = opt_ml / "model"
        self.model_dir.mkdir(parents=True, exist_ok=True)
        if source.model_data_url:
            s3io.extract_tarball(s3, source.model_data_url, self.model_dir)
        submit = source.submit_directory
        if submit and submit.startswith("s3://") and not source.network_isolation:
            code = str(s3io.download_object(s3, submit, workdir / "sourcedir.tar.gz"))
        elif submit:
            # In the model's artifacts (the isolated shape), or an S3 URI an isolated container
            # cannot download: the toolkit tries and fails, as in SageMaker (isolation.py).
            code = isolation.container_path(submit, opt_ml)
        else:
            code = str(self.model_dir / "code")
        environment = {**source.environment, "SAGEMAKER_SUBMIT_DIRECTORY": code}
        env = job_environment(opt_ml, environment, runtime, SAGEMAKER_BASE_DIR=str(opt_ml),
                              **isolation.environment(source.model_name, source.network_isolation))
        self.stderr_path = workdir / "model-server.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [str(runtime.require_built()), str(_SERVER)], cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        self._connection: http.client.HTTPConnection | None = None
        self.port = self._await_port()

    def _await_port(self) -> int:
        assert self.process.stdout is not None
        timer = threading.Timer(_START_TIMEOUT, self.process.kill)
        timer.start()
        try:
            line = self.process.stdout.readline()
        finally:
            timer.cancel()
        try:
            started = json.loads(line)
        except ValueError:
            started = {"error": f"model server exited ({self.process.poll()}) before listening"}
        if "port" not in started:
            self.close()
            tail = self.stderr_path.read_text(errors="replace").strip().splitlines()[-6:]
            raise InferenceError(
                f"model {self.source.model_name} failed to load in {self.runtime.describe()}: "
                f"{started.get('error')}" + ("\n" + "\n".join(tail) if tail else "")
            )
        return int(started["port"])

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        """One request to the model server → (response body, content type).

        Raises ModelServerError with the server's status when it is not 200.
        """
        accept = accept or self.source.environment.get(
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", _DEFAULT_ACCEPT
        )
        with self._lock:
            status, payload, response_type = self._post(body, content_type, accept)
        if status != 200:
            raise ModelServerError(status, payload)
        return payload, response_type or accept

    def _post(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str | None]:
        headers = {"Content-Type": content_type, "Accept": accept}
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                              timeout=_REQUEST_TIMEOUT)
            try:
                self._connection.request("POST", "/invocations", body=body, headers=headers)
                response = self._connection.getresponse()
                payload = response.read()
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                self._connection.close()
                self._connection = None
                if attempt == 2 or self.process.poll() is not None:
                    raise InferenceError(
                        f"model server of {self.source.model_name} is not answering "
                        f"(exit code {self.process.poll()}): {error}"
                    ) from error
                continue
            if response.getheader("Connection", "").lower() == "close":
                self._connection.close()
                self._connection = None
            return response.status, payload, response.getheader("Content-Type")
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the model server process."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


class ModelCache:
    """Model servers by (model name, image, artifacts, code): each model is started once."""

    def __init__(self, s3_factory: Any, workdir: Path,
                 resolve_runtime: Callable[[str | None], Runtime]) -> None:
        self._s3_factory = s3_factory
        self._workdir = workdir
        self._resolve_runtime = resolve_runtime
        self._models: dict[tuple, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, source: ModelSource) -> LoadedModel:
        """The running model server for `source`, starting it on first use."""
        with self._lock:
            if source.key not in self._models:
                runtime = self._resolve_runtime(source.image)
                workdir = self._workdir / f"{source.model_name}-{uuid.uuid4().hex[:6]}"
                workdir.mkdir(parents=True, exist_ok=True)
                self._models[source.key] = LoadedModel(source, runtime, self._s3_factory(), workdir)
            return self._models[source.key]

    def close(self) -> None:
        """Stop every model server (OfflineAws does this on exit)."""
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            model.close()
