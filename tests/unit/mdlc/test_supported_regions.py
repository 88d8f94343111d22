"""Product: a team deploys only to regions where its stacks can work (issue 21, defect 9).

The contract accepted any region-shaped name; where SageMaker's built-in image is not
published (mx-central-1, ap-southeast-5, ap-southeast-7) the synth ended in a traceback from
the SDK's image lookup, and in GovCloud and China the stacks' ``arn:aws`` ARNs and the
Powertools layer's parameter do not exist. Such regions are refused at validate, with the
supported list, which is derived from sagemaker-core's image config and botocore's partitions.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from mdlc import runtimes
from mdlc.contract import MODELS_DIR, TeamFileError, load_team, parse_team, supported_regions
from stacks.app_builder import resolve_env
from tests.second_team import write_second_team

EXAMPLE = (MODELS_DIR / "fraud-detection.yaml").read_text()
NO_IMAGE = ["mx-central-1", "ap-southeast-5", "ap-southeast-7"]
OTHER_PARTITION = {"us-gov-west-1": "aws-us-gov", "us-gov-east-1": "aws-us-gov", "cn-north-1": "aws-cn",
                   "cn-northwest-1": "aws-cn"}


def with_region(region: str) -> str:
    data = yaml.safe_load(EXAMPLE)
    data["environments"]["staging"]["region"] = region
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("region", NO_IMAGE)
def test_a_region_without_the_built_in_image_is_refused_with_the_supported_list(region):
    with pytest.raises(TeamFileError) as refused:
        parse_team(with_region(region), "models/fraud-detection.yaml")
    [problem] = refused.value.problems
    assert f"field `environments.staging.region`: got '{region}'" in problem
    assert "built-in xgboost image" in problem and "not published there" in problem
    assert "expected one of: " in problem and "eu-west-1" in problem and f" {region}," not in problem


@pytest.mark.parametrize(("region", "partition"), OTHER_PARTITION.items())
def test_a_region_of_another_partition_is_refused_naming_the_partition(region, partition):
    with pytest.raises(TeamFileError, match=rf"got '{region}'; {region}: a region of the {partition} partition; "
                                            r"the stacks are written for the aws partition .*expected one of: "):
        parse_team(with_region(region), "models/fraud-detection.yaml")


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-southeast-1", "il-central-1"])
def test_a_supported_region_is_accepted(region):
    assert parse_team(with_region(region)).environments["staging"].region == region


@pytest.mark.parametrize("region", NO_IMAGE + ["us-gov-west-1"])
def test_context_and_cli_regions_are_checked_too(tmp_path, region):
    path = write_second_team(tmp_path)
    team = load_team(path)
    with pytest.raises(TeamFileError, match=rf"context `region`: got '{region}'; {region}: .*expected one of"):
        resolve_env(team, path, "dev", None, None, context_region=region)
    with pytest.raises(TeamFileError, match=rf"the CDK CLI's region \(CDK_DEFAULT_REGION\): got '{region}'"):
        resolve_env(team, path, "dev", "999999999999", region)


def test_the_supported_list_is_the_image_configs_commercial_regions():
    """Not hand-kept: every aws-partition region of sagemaker-core's xgboost registries for the
    supported version(s), for training and for serving."""
    [location] = find_spec("sagemaker").submodule_search_locations
    config = json.loads((Path(location) / "core" / "image_uri_config" / "xgboost.json").read_text())
    expected = None
    for version in runtimes.supported_versions("xgboost"):
        for scope in ("training", "inference"):
            regions = set(config[scope]["versions"][version]["registries"])
            expected = regions if expected is None else expected & regions
    expected = {r for r in expected if not r.startswith(("us-gov-", "cn-", "us-iso"))}
    assert set(supported_regions()) == expected
    assert "eu-west-1" in expected and not set(NO_IMAGE) & expected
