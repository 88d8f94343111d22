"""Load a SageMaker Model's inference script in-process and serve requests with it.

A Model (moto) names its artifacts in `PrimaryContainer`: `ModelDataUrl` (model.tar.gz),
and in `Environment` `SAGEMAKER_PROGRAM` (the module) inside `SAGEMAKER_SUBMIT_DIRECTORY`
(a code tarball). The harness extracts both, imports the module and calls its
`model_fn`/`input_fn`/`predict_fn`/`output_fn` (or `transform_fn`) the way SageMaker's
serving stack (sagemaker-inference) does; missing functions fall back to
sagemaker-inference's default decoder/encoder.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mdlc.harness import s3io

_DEFAULT_ACCEPT = "application/json"


class InferenceError(Exception):
    """The model's code raised, or the model cannot be loaded."""


@dataclass(frozen=True)
class ModelSource:
    """Where a SageMaker Model's artifacts and code are."""

    model_name: str
    model_data_url: str | None
    program: str | None
    submit_directory: str | None
    environment: dict[str, str]

    @classmethod
    def from_describe(cls, model: dict) -> ModelSource:
        """Build from a DescribeModel response (first container if several)."""
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        environment = dict(container.get("Environment") or {})
        return cls(
            model_name=model["ModelName"],
            model_data_url=container.get("ModelDataUrl"),
            program=environment.get("SAGEMAKER_PROGRAM"),
            submit_directory=environment.get("SAGEMAKER_SUBMIT_DIRECTORY"),
            environment=environment,
        )

    @property
    def key(self) -> tuple:
        """What identifies a loaded model: its name, artifacts and code."""
        return (self.model_name, self.model_data_url, self.program, self.submit_directory)


def _import_module(program: str, code_dir: Path) -> ModuleType:
    module_file = code_dir / program
    if not module_file.suffix:
        module_file = module_file.with_suffix(".py")
    if not module_file.is_file():
        raise InferenceError(f"SAGEMAKER_PROGRAM {program!r} not found in the code bundle ({code_dir})")
    spec = importlib.util.spec_from_file_location(f"mdlc_harness_model_{uuid.uuid4().hex[:8]}", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
    return module


class LoadedModel:
    """A model whose inference module is imported and whose `model_fn` has run."""

    def __init__(self, source: ModelSource, s3: Any, workdir: Path) -> None:
        self.source = source
        self._lock = threading.Lock()
        self.model_dir = workdir / "model"
        self.model_dir.mkdir(parents=True, exist_ok=True)
        if source.model_data_url:
            s3io.extract_tarball(s3, source.model_data_url, self.model_dir)
        self.module = self._load_module(s3, workdir)
        model_fn = getattr(self.module, "model_fn", None)
        if model_fn is None:
            raise InferenceError(f"model {source.model_name}: {source.program} defines no model_fn")
        self.model = model_fn(str(self.model_dir))

    def _load_module(self, s3: Any, workdir: Path) -> ModuleType:
        if not self.source.program:
            raise InferenceError(
                f"model {self.source.model_name}: container Environment has no SAGEMAKER_PROGRAM; "
                "the harness only serves script-mode models"
            )
        if self.source.submit_directory:
            code_dir = s3io.extract_tarball(s3, self.source.submit_directory, workdir / "code")
        else:
            code_dir = self.model_dir / "code"
        return _import_module(self.source.program, code_dir)

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        """One request through the handler chain → (response body, content type)."""
        accept = accept or self.source.environment.get(
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", _DEFAULT_ACCEPT
        )
        with self._lock:
            result = self._run_chain(body, content_type, accept)
        if isinstance(result, tuple):
            result, accept = result
        if isinstance(result, str):
            result = result.encode()
        return bytes(result), accept

    def _run_chain(self, body: bytes, content_type: str, accept: str) -> Any:
        module = self.module
        if hasattr(module, "transform_fn"):
            return module.transform_fn(self.model, body, content_type, accept)
        data = (
            module.input_fn(body, content_type)
            if hasattr(module, "input_fn")
            else _default_decode(body, content_type)
        )
        if not hasattr(module, "predict_fn"):
            raise InferenceError(f"model {self.source.model_name}: {self.source.program} defines no predict_fn")
        prediction = module.predict_fn(data, self.model)
        if hasattr(module, "output_fn"):
            return module.output_fn(prediction, accept)
        from sagemaker_inference import encoder

        return encoder.encode(prediction, accept), accept


def _default_decode(body: bytes, content_type: str) -> Any:
    from sagemaker_inference import decoder

    return decoder.decode(body, content_type)


class ModelCache:
    """Loaded models by (model name, artifacts), so each is loaded once per harness."""

    def __init__(self, s3_factory: Any, workdir: Path) -> None:
        self._s3_factory = s3_factory
        self._workdir = workdir
        self._models: dict[tuple, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, source: ModelSource) -> LoadedModel:
        """The loaded model for `source`, loading it on first use."""
        with self._lock:
            if source.key not in self._models:
                workdir = self._workdir / f"{source.model_name}-{uuid.uuid4().hex[:6]}"
                self._models[source.key] = LoadedModel(source, self._s3_factory(), workdir)
            return self._models[source.key]
