"""Built-in image URIs: the SageMaker SDK's answer, cached so warm synths skip the SDK."""

from __future__ import annotations

import json

from mdlc import runtimes
from stacks.common import images


def test_cached_uri_is_the_sdks_answer_and_is_reused(tmp_path, monkeypatch):
    from sagemaker.core import image_uris

    monkeypatch.setattr(images, "CACHE_DIR", tmp_path)
    images.builtin_image.cache_clear()
    version = runtimes.default_version()

    uri = images.builtin_image("xgboost", "us-west-2", version)

    assert uri == image_uris.retrieve("xgboost", "us-west-2", version)
    cache = json.loads(next(tmp_path.glob("image-uris-*.json")).read_text())
    assert cache == {f"xgboost|us-west-2|{version}": uri}
    # A later synth reads the file: a planted answer comes back without the SDK.
    cache[f"xgboost|us-west-2|{version}"] = "planted"
    next(tmp_path.glob("image-uris-*.json")).write_text(json.dumps(cache))
    images.builtin_image.cache_clear()
    assert images.builtin_image("xgboost", "us-west-2", version) == "planted"
    images.builtin_image.cache_clear()


def test_every_supported_image_version_is_published_by_the_sdk():
    """A manifest for a version SageMaker does not publish would synthesise a broken URI."""
    from sagemaker.core import image_uris

    for version in runtimes.supported_versions():
        uri = image_uris.retrieve("xgboost", "eu-west-1", version)
        assert uri.endswith(f"/sagemaker-xgboost:{version}")
        assert runtimes.builtin_runtime_for_image(uri).version == version
