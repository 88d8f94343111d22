"""Container image URIs of SageMaker's built-in images, resolved offline by the SageMaker SDK.

Which version: always the team's ``training.algorithm.version`` (default: the newest
image with a runtime manifest in ``runtimes/``, see ``mdlc/runtimes.py``); no other file
names an image version. A team with a custom training image still serves, batch-scores and
monitors in the built-in image of the default version (its model must be an XGBoost booster).

Importing the SDK costs ~2.5 s, a quarter of a synth, so answers are cached on disk
(``build/cache/``), keyed by the SDK's version: a warm synth never imports it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path

from mdlc import runtimes
from mdlc.contract import REPO_ROOT, BuiltinAlgorithm, TeamConfig

CACHE_DIR = REPO_ROOT / "build" / "cache"


def _cache_file() -> Path:
    return CACHE_DIR / f"image-uris-sagemaker-core-{installed_version('sagemaker-core')}.json"


def serving_image(team: TeamConfig, region: str) -> str:
    """The built-in image that serves, batch-scores and monitors the team's model."""
    algorithm = team.training.algorithm
    if isinstance(algorithm, BuiltinAlgorithm):
        return builtin_image(algorithm.builtin, region, algorithm.version)
    return builtin_image("xgboost", region, runtimes.default_version("xgboost"))


def training_image(team: TeamConfig, region: str) -> str:
    """The image of the team's training and training-workflow processing jobs."""
    algorithm = team.training.algorithm
    if isinstance(algorithm, BuiltinAlgorithm):
        return builtin_image(algorithm.builtin, region, algorithm.version)
    return algorithm.image_uri


@cache
def builtin_image(framework: str, region: str, version: str) -> str:
    """ECR URI of a built-in image (e.g. xgboost of a supported version) in ``region``, offline."""
    key = f"{framework}|{region}|{version or ''}"
    path = _cache_file()
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if key not in cached:
        from sagemaker.core import image_uris  # ~2.5 s import, once per SDK version

        cached[key] = image_uris.retrieve(framework, region, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
        tmp.replace(path)
    return cached[key]


def repository_arn(image_uri: str, partition: str) -> str:
    """The ECR repository ARN of an image URI ``<account>.dkr.ecr.<region>.<domain>/<repo>[:tag|@digest]``."""
    host, slash, path = image_uri.partition("/")
    parts = host.split(".")
    if not slash or len(parts) < 6 or parts[1:3] != ["dkr", "ecr"]:
        raise ValueError(f"image {image_uri!r}: expected an ECR image URI "
                         "<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag]")
    repository = path.split("@", 1)[0].split(":", 1)[0]
    return f"arn:{partition}:ecr:{parts[3]}:{parts[0]}:repository/{repository}"
