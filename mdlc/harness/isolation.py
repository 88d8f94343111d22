"""EnableNetworkIsolation, emulated: what SageMaker does differently for an isolated job or model.

SageMaker gives an isolated container no network and no AWS credentials; it still moves the
input channels (ProcessingInputs, InputDataConfig) and the model artifacts (ModelDataUrl) in
itself. So a script-mode training job's ``sagemaker_submit_directory`` must name a file that
arrived in a channel (an S3 URI would have to be downloaded by the toolkit in the container),
and a model's ``SAGEMAKER_SUBMIT_DIRECTORY`` a path inside its model artifacts. The harness
mirrors that: for an isolated job or model it downloads no code on the container's behalf,
maps ``/opt/ml/...`` code paths to its folder standing in for ``/opt/ml``, and the process runs
with ``MDLC_HARNESS_NETWORK_ISOLATION`` (``_opt_ml/sitecustomize.py`` then refuses every
non-loopback lookup and connection). No job gets credentials (``job_process.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

OPT_ML = "/opt/ml/"


def job_isolated(job_type: str, params: dict) -> bool:
    """Whether a Create{Processing,Training}Job request asks for network isolation."""
    if job_type == "processing":
        return bool((params.get("NetworkConfig") or {}).get("EnableNetworkIsolation"))
    return bool(params.get("EnableNetworkIsolation"))


def environment(name: str, isolated: bool) -> dict[str, str]:
    """Extra process variables of an isolated job or model server (none otherwise)."""
    return {"MDLC_HARNESS_NETWORK_ISOLATION": name} if isolated else {}


def container_path(path: str, opt_ml: Path) -> str:
    """A container path under ``/opt/ml/`` as the harness lays it out under ``opt_ml``."""
    return f"{opt_ml}/{path[len(OPT_ML):]}" if path.startswith(OPT_ML) else path


def make_create_model_patch(original: Callable) -> Callable:
    """Replacement for `SageMakerResponse.create_model`: moto drops ``EnableNetworkIsolation``
    (its model always reports false); keep it, so DescribeModel answers it and the model's
    endpoint and transform jobs run isolated."""

    def create_model(self):  # type: ignore[no-untyped-def]
        params = json.loads(self.body or "{}")
        result = original(self)
        model = self.sagemaker_backend.describe_model(params["ModelName"])
        model.enable_network_isolation = bool(params.get("EnableNetworkIsolation", False))
        return result

    return create_model


def model_isolated(described: dict[str, Any]) -> bool:
    """A DescribeModel response's isolation."""
    return bool(described.get("EnableNetworkIsolation"))
