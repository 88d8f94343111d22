"""Container image URIs of SageMaker's built-in images, resolved offline by the SageMaker SDK.

Importing the SDK costs ~2.5 s, a quarter of a synth, so answers are cached on disk
(``build/cache/``), keyed by the SDK's version: a warm synth never imports it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path

from mdlc.contract import REPO_ROOT

CACHE_DIR = REPO_ROOT / "build" / "cache"


def _cache_file() -> Path:
    return CACHE_DIR / f"image-uris-sagemaker-core-{installed_version('sagemaker-core')}.json"


@cache
def builtin_image(framework: str, region: str, version: str | None = None) -> str:
    """ECR URI of a built-in image (e.g. xgboost 1.7-1) in ``region``, without network calls."""
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
