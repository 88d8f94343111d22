"""Team names the contract accepts make valid, unambiguous resource names (product tests of
``mdlc/contract/``'s team-name rules and ``mdlc/names.py``).

S3 refuses bucket names that start ``xn--``, ``sthree-`` or ``amzn-s3-demo-`` and that are
longer than 63 characters; every bucket name starts with the team name and ends with the
stage's region. A ``--`` in a team name would let another team's prefix (``<team>--``) start
its names.
"""

from __future__ import annotations

import re
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


#: f-strings that join a team's name with ``-`` and are not resource names in a flat namespace,
#: each with why (file → the text that may stay).
NOT_RESOURCE_NAMES = {
    "stacks/team.py": ('f"{name}-data"', 'f"{name}-features"', 'f"{name}-training"', 'f"{name}-realtime"',
                       'f"{name}-batch"', 'f"{name}-monitoring"', 'f"{name}-retraining"'),  # stack names: IDs
    "stacks/app_builder.py": ('f"{team.name}-pipeline"',),  # the pipeline stack's name (a construct ID)
    "stacks/pipeline.py": ('f"{ctx.name}-smoke-test-access"', 'f"{name}-{target}"'),  # stack and stage IDs
    "stacks/common/lambda_function.py": ('f"{ctx.name}-{handler}"',),  # Powertools' service dimension
    "stacks/features/construct.py": ('f"{team}-{EMITTED_BY[name]}"',),  # the same dimension, read back
    "mdlc/diff.py": ('f"{team}-{s}"',),  # stack names in `mdlc diff`'s report
    "mdlc/local/team.py": ('f"mdlc-local-{name}-"',),  # a local temporary folder
    "mdlc/harness/jobs.py": ('f"{job_type}-{name}-"',),  # a job's local work folder (name: the job's)
    "mdlc/synthetic_team.py": ('f"{name}-{k}"', 'f"{name}-{o + 1:06d}-{k}"'),  # generated values
}
_TEAM_JOINED = re.compile(r"f[\"'][^\"']*\{(?:team|team_name|team\.name|ctx\.name|ctx_name|self\.team\.name|"
                          r"self\.team_name|self\.ctx_name|self\._team|spec\[.name.\]|TEAM|self\.name|name)\}-[^\"']*[\"']")


def test_every_team_resource_name_is_built_by_mdlc_names():
    """A name built by hand as ``f"{team}-…"`` (a construct, a handler, the CLI) would not carry
    the ``<team>--`` prefix the roles are scoped to: the handler fails at run time, or another
    team's scope matches it. Only the names listed above (not resources) are joined by hand."""
    root = Path(names.__file__).resolve().parents[1]
    found = []
    for folder in ("lambdas", "sagemaker_jobs", "stacks", "mdlc", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel == "mdlc/names.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for match in _TEAM_JOINED.finditer(line):
                    if not any(match.group(0).startswith(ok) for ok in NOT_RESOURCE_NAMES.get(rel, ())):
                        found.append(f"{rel}:{number}: {match.group(0)}")
    assert not found, "names joined by hand instead of mdlc/names.py:\n" + "\n".join(found)
