"""Built-in image URIs: the SageMaker SDK's answer, cached so warm synths skip the SDK."""

from __future__ import annotations

import json

from stacks.common import images


def test_cached_uri_is_the_sdks_answer_and_is_reused(tmp_path, monkeypatch):
    from sagemaker.core import image_uris

    monkeypatch.setattr(images, "CACHE_DIR", tmp_path)
    images.builtin_image.cache_clear()

    uri = images.builtin_image("xgboost", "us-west-2", "1.7-1")

    assert uri == image_uris.retrieve("xgboost", "us-west-2", "1.7-1")
    cache = json.loads(next(tmp_path.glob("image-uris-*.json")).read_text())
    assert cache == {"xgboost|us-west-2|1.7-1": uri}
    # A later synth reads the file: a planted answer comes back without the SDK.
    cache["xgboost|us-west-2|1.7-1"] = "planted"
    next(tmp_path.glob("image-uris-*.json")).write_text(json.dumps(cache))
    images.builtin_image.cache_clear()
    assert images.builtin_image("xgboost", "us-west-2", "1.7-1") == "planted"
    images.builtin_image.cache_clear()
