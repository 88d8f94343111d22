"""Team names the contract accepts make valid, unambiguous resource names (product tests of
``mdlc/contract.py``'s team-name rules and ``mdlc/names.py``).

S3 refuses bucket names that start ``xn--``, ``sthree-`` or ``amzn-s3-demo-`` and that are
longer than 63 characters; every bucket name starts with the team name and ends with the
stage's region. A ``--`` in a team name would let another team's prefix (``<team>--``) start
its names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mdlc import names
from mdlc.contract import MODELS_DIR, TeamFileError, parse_team, supported_regions
from tests.second_team import team_data

EXAMPLE = (MODELS_DIR / "fraud-detection.yaml").read_text()


def _with(name: str, region: str | None = None) -> str:
    data = yaml.safe_load(EXAMPLE)
    data["name"] = name
    if region:
        data["environments"] = {stage: {**env, "region": region} for stage, env in data["environments"].items()}
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize(("name", "expects"), [
    ("xn--fraud", "starts with 'xn--', which S3 reserves at the start of bucket names"),
    ("sthree-fraud", "starts with 'sthree-', which S3 reserves"),
    ("amzn-s3-demo-fraud", "starts with 'amzn-s3-demo-', which S3 reserves"),
    ("fraud--detection", "contains '--', which separates the team name from the rest of every resource name"),
])
def test_a_team_name_that_makes_an_invalid_or_ambiguous_name_is_refused_at_validate(name, expects):
    with pytest.raises(TeamFileError) as refused:
        parse_team(_with(name), "models/x.yaml")
    [problem] = refused.value.problems
    assert f"field `name`: got {name!r}" in problem and expects in problem and "expected" in problem


def test_the_longest_team_name_in_the_longest_region_is_refused_naming_the_bucket_and_the_room():
    region = max(supported_regions(), key=len)
    name = "a" * 30  # the pattern's longest
    with pytest.raises(TeamFileError) as refused:
        parse_team(_with(name, region), "models/x.yaml")
    problem = refused.value.problems[0]
    assert "field `environments.dev.region`" in problem
    assert f"the feat bucket would be named '{name}--feat-111111111111-{region}'" in problem
    assert "S3 bucket names have 3-63" in problem
    assert f"expected a team name of at most {63 - len(f'--feat-111111111111-{region}')} characters" in problem


def test_every_bucket_of_every_accepted_team_name_length_is_valid_in_every_region_where_it_is_accepted():
    # Whatever the contract accepts, S3 accepts: the contract's check and S3's rules agree.
    for region in supported_regions():
        for length in (4, 20, 29, 30):
            name = "f" + "r" * (length - 2) + "d"
            try:
                team = parse_team(_with(name, region))
            except TeamFileError:
                continue
            for abbr in names.BUCKETS:
                bucket = names.bucket_name(team.name, abbr, "111111111111", region)
                assert not names.bucket_name_problems(bucket), bucket


def test_the_example_team_name_is_accepted_with_its_buckets():
    team = parse_team(EXAMPLE)
    assert names.bucket_name(team.name, "raw", "111111111111", "eu-west-1") == \
        "fraud-detection--raw-111111111111-eu-west-1"


@pytest.mark.parametrize(("bucket", "why"), [
    ("ab", "is 2 characters"), ("a" * 64, "is 64 characters"), ("Fraud", "lowercase letters"),
    ("fraud-", "starting and ending with a letter or digit"), ("a..b", "two adjacent periods"),
    ("192.168.1.1", "IP address"), ("xn--a", "starts with 'xn--'"), ("a-s3alias", "ends with '-s3alias'"),
    ("a--ol-s3", "ends with '--ol-s3'"), ("a--x-s3", "ends with '--x-s3'"), ("a--table-s3", "ends with '--table-s3'"),
])
def test_bucket_names_are_checked_against_s3s_rules(bucket, why):
    assert any(why in p for p in names.bucket_name_problems(bucket)), names.bucket_name_problems(bucket)


def test_a_region_given_at_synth_is_checked_too(tmp_path: Path):
    """No ``environments`` (region from ``-c region=``): the data stack refuses the bucket name."""
    from tests.synth import synth

    region = max(supported_regions(), key=len)
    data = {**team_data(), "name": "m" * 30}
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ValueError, match=rf"team m{{30}}: bucket name 'm{{30}}--\w+-123456789012-{region}' is 64 "
                                         r"characters; .*expected a team name of at most 29 characters"):
        synth(tmp_path / "out", models_dir=tmp_path / "models", pipelines=False,
              default_account="123456789012", default_region=region)
