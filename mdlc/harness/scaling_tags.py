"""Tags of Application Auto Scaling scalable targets, which moto does not keep.

A scalable target's ARN carries an id the service generates, so a policy can tell one
team's target from another's only by its tags (``aws:ResourceTag/…``, set at registration
with ``Tags``, checked as ``aws:RequestTag/…``). moto's RegisterScalableTarget ignores
``Tags``; here they are kept on the target, and ``mdlc/harness/iam.py`` reads them into the
condition context of every application-autoscaling call (so a statement conditioned on a
tag allows or refuses offline as on AWS).
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse


def target_for(account: str, region: str, dimension: str, resource_id: str) -> Any:
    """moto's registered target, or None."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    return applicationautoscaling_backends[account][region].targets.get(dimension, {}).get(resource_id)


def target_tags(target: Any) -> dict[str, str]:
    return dict(getattr(target, "mdlc_tags", None) or {})


def _register_keeping_tags(original: Any) -> Any:
    def register_scalable_target(self: ApplicationAutoScalingResponse) -> str:
        body = original(self)
        tags = self._get_param("Tags") or {}
        target = target_for(self.current_account, self.region, self._get_param("ScalableDimension"),
                            self._get_param("ResourceId"))
        if target is not None and tags:
            # As the service: tags given at registration are added to the target's (a new
            # value replaces an old one of the same key).
            target.mdlc_tags = {**target_tags(target), **tags}
        return body

    return register_scalable_target


def _list_tags_for_resource(self: ApplicationAutoScalingResponse) -> str:
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    arn = self._get_param("ResourceARN")
    backend = applicationautoscaling_backends[self.current_account][self.region]
    target = next((t for by_id in backend.targets.values() for t in by_id.values() if t.arn == arn), None)
    return json.dumps({"Tags": target_tags(target)})


def patches() -> list[Any]:
    return [
        mock.patch.object(ApplicationAutoScalingResponse, "register_scalable_target",
                          _register_keeping_tags(ApplicationAutoScalingResponse.register_scalable_target)),
        mock.patch.object(ApplicationAutoScalingResponse, "list_tags_for_resource", _list_tags_for_resource,
                          create=True),
    ]
