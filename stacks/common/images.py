"""Container image URIs of SageMaker's built-in images, resolved offline by the SageMaker SDK."""

from __future__ import annotations

from functools import cache


@cache
def builtin_image(framework: str, region: str, version: str | None = None) -> str:
    """ECR URI of a built-in image (e.g. xgboost 1.7-1) in ``region``, without network calls."""
    from sagemaker.core import image_uris  # ~2 s import: only when a stack needs an image

    return image_uris.retrieve(framework, region, version)
