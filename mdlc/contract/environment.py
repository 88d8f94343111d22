"""Who owns a team and where it deploys: owner, account, region (and the regions the images exist in)."""

from __future__ import annotations

import json
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
)

from mdlc import runtimes
from mdlc.contract.base import ACCOUNT_PATTERN, REGION_PATTERN, Strict


# --------------------------------------------------------------------------- who and where
class Owner(Strict):
    team: str = Field(min_length=2, description="Name of the team that owns the model.")
    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Address of the owning team; receives the owner's copy of every alert.",
    )
    alert_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Address subscribed to the alerts topic (on-call list). Defaults to `email`.",
    )


#: The partition the stacks are written and tested for: ARNs in state machine definitions and
#: cdk-nag acknowledgments, and the Powertools layer's public parameter, are those of `aws`.
SUPPORTED_PARTITION = "aws"


@cache
def image_regions() -> frozenset[str] | None:
    """Regions where every supported built-in image version is published, for training and for
    serving, read from sagemaker-core's image config (the data its ``image_uris.retrieve``
    reads, without importing the SDK). None where sagemaker-core is not installed (the Lambda
    runtime's test virtualenv; the synth's virtualenv always has it)."""
    spec = find_spec("sagemaker")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    configs = [Path(loc) / "core" / "image_uri_config" / "xgboost.json" for loc in locations]
    config = next((c for c in configs if c.is_file()), None)
    if config is None:
        return None
    data = json.loads(config.read_text())
    regions: set[str] | None = None
    for version in runtimes.supported_versions("xgboost"):
        for scope in ("training", "inference"):
            published = set((data[scope]["versions"].get(version) or {}).get("registries") or {})
            regions = published if regions is None else regions & published
    return frozenset(regions or ())


@cache
def _botocore_session() -> Any:
    import botocore.session  # imported on first use: most callers never validate a region

    return botocore.session.get_session()


@cache
def partition_of(region: str) -> str | None:
    """The AWS partition of ``region`` (botocore's partition data), None for a region it does not know."""
    from botocore.exceptions import UnknownRegionError

    try:
        return _botocore_session().get_partition_for_region(region)
    except UnknownRegionError:
        return None


@cache
def supported_regions() -> tuple[str, ...]:
    """Regions a team may deploy to: the built-in images exist there, in the supported partition."""
    images = image_regions()
    if images is None:
        images = frozenset(_botocore_session().get_available_regions("sagemaker", SUPPORTED_PARTITION))
    return tuple(sorted(r for r in images if partition_of(r) == SUPPORTED_PARTITION))


def region_problem(region: str) -> str | None:
    """Why ``region`` cannot be deployed to, with the supported list; None when it can."""
    supported = supported_regions()
    if region in supported:
        return None
    partition = partition_of(region)
    if partition is None:
        why = "not a region AWS's endpoint data (botocore) knows"
    elif partition != SUPPORTED_PARTITION:
        why = (f"a region of the {partition} partition; the stacks are written for the {SUPPORTED_PARTITION} "
               "partition (state machine and acknowledgment ARNs, the Powertools layer's public parameter)")
    else:
        versions = ", ".join(runtimes.supported_versions("xgboost"))
        why = (f"SageMaker's built-in xgboost image {versions} is not published there (sagemaker-core's "
               "image config), so no job or endpoint could run")
    return f"{region}: {why}; expected one of: {', '.join(supported)}"


def _supported_region(value: str) -> str:
    problem = region_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class Environment(Strict):
    account: str = Field(pattern=ACCOUNT_PATTERN, description="12-digit AWS account id.")
    region: Annotated[str, AfterValidator(_supported_region)] = Field(
        pattern=REGION_PATTERN,
        description="AWS region, e.g. eu-west-1: one where SageMaker's built-in images of the supported "
        "versions are published, in the aws partition (`mdlc schema` does not list them; a wrong one "
        "is refused with the list).")


