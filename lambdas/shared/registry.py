"""The team's model registry: the latest Approved model package and what runs need of it."""

from __future__ import annotations

import re
from typing import Any

from lambdas.shared.aws import client

RUN_IN_URI = re.compile(r"/runs/([^/]+)/")


class NoApprovedModelError(Exception):
    """The model package group has no Approved version: nothing may score."""


def latest_approved(group: str) -> dict[str, Any]:
    """The newest Approved version of ``group``: ARN, version, container, lineage fields."""
    sm = client("sagemaker")
    listed = sm.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    if not listed:
        raise NoApprovedModelError(
            f"model package group {group} has no Approved version; approve one (or train one) first"
        )
    arn = listed[0]["ModelPackageArn"]
    package = sm.describe_model_package(ModelPackageName=arn)
    container = package["InferenceSpecification"]["Containers"][0]
    meta = package.get("CustomerMetadataProperties") or {}
    # The data-quality statistics are also in ModelMetrics, which approval never rewrites.
    statistics = meta.get("statistics_uri") or (
        package.get("ModelMetrics", {}).get("ModelDataQuality", {}).get("Statistics", {}).get("S3Uri", ""))
    run = RUN_IN_URI.search(statistics)
    created = package.get("CreationTime")
    return {
        "arn": arn,
        "version": package.get("ModelPackageVersion"),
        "image": container["Image"],
        "model_uri": container["ModelDataUrl"],
        "environment": container.get("Environment", {}),
        "statistics_uri": statistics,
        "run_id": meta.get("run_id") or (run.group(1) if run else ""),
        "created": created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
    }
