"""Names of a team's resources: one prefix, so that no team's IAM scope reaches another team.

Many teams share an account, and their roles are scoped by name (``training-job/<prefix>*``,
``stateMachine:<prefix>*``…). With ``<team>-`` as the prefix, team ``fraud``'s scope
``fraud-*`` matched every resource of team ``fraud-detection``. The prefix is therefore
``<team>--``, and the contract refuses team names that contain ``--`` or end with ``-``.
Then ``<a>--`` starts ``<b>--…`` only when ``a == b``: were ``a`` shorter, ``<b>`` would contain
``<a>--`` (so ``--``) or be ``<a>-`` (so end with ``-``); likewise the other way round.

Names in flat namespaces (jobs, models, state machines, functions, tables, buckets, alarms,
rules, queues, buses, aliases…) start with :func:`team_prefix`. Path-like names
(``/aws/vendedlogs/<team>/…``, ``/mdlc/<team>/…``, ``MDLC/<team>``) are already delimited by
``/``, which a team name cannot contain. Stack names (``<team>-data``…) are construct IDs of
the app, a public contract, and are not IAM scopes of any team role; they stay.

Standard library only: this module ships in every Lambda bundle (run-time names are built by
the handlers from the same functions the stacks scope their roles with).
"""

from __future__ import annotations

import hashlib
import re

#: Between the team name and the rest of every flat resource name; never inside a team name.
SEPARATOR = "--"

#: SageMaker's limit for job, model and endpoint-config names (``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``).
SAGEMAKER_NAME_MAX = 63

#: Job name abbreviation per training step, and per batch step.
TRAINING_JOBS = {"data_quality": "dq", "features": "fe", "training": "train", "evaluation": "eval"}
BATCH_JOBS = {"data_quality": "bdq", "features": "bfe", "transform": "bt"}

#: The team's data buckets by abbreviation (``<prefix><abbr>-<account>-<region>``).
BUCKETS = ("raw", "feat", "art", "rep", "cap")


def team_prefix(team: str) -> str:
    """``<team>--``: the start of every flat name the team owns, and of every scope its roles get."""
    return f"{team}{SEPARATOR}"


def team_resource(team: str, name: str) -> str:
    """``<team>--<name>``: the physical name of one of the team's resources."""
    return f"{team_prefix(team)}{name}"


def bucket_name(team: str, abbr: str, account: str, region: str) -> str:
    """``<team>--<abbr>-<account>-<region>``: unique per team, account and region."""
    return team_resource(team, f"{abbr}-{account}-{region}")


def training_job_names(team: str, run_id: str) -> dict[str, str]:
    """SageMaker job name of each training step of one run."""
    return {step: team_resource(team, f"{abbr}-{run_id}") for step, abbr in TRAINING_JOBS.items()}


#: SageMaker's limit for a hyperparameter tuning job's name, and the fewest hex digits of the
#: run that follow the team prefix in it (the contract refuses tuning for longer team names).
TUNING_NAME_MAX, TUNING_HASH_MIN, TUNING_HASH_MAX = 32, 6, 12


def tuning_job_name(team: str, run_id: str) -> str:
    """``<team>--<hex of the run id>``: the run's tuning job, within SageMaker's 32 characters;
    its trials are named ``<tuning job>-NNN-<8 hex>`` by SageMaker, inside the training-job scope."""
    room = min(TUNING_HASH_MAX, TUNING_NAME_MAX - len(team_prefix(team)))
    return team_resource(team, hashlib.sha256(run_id.encode()).hexdigest()[:room])


def batch_job_names(team: str, run_id: str) -> dict[str, str]:
    """SageMaker job name of each batch step of one run."""
    return {step: team_resource(team, f"{abbr}-{run_id}") for step, abbr in BATCH_JOBS.items()}


def batch_model_name(team: str, run_id: str) -> str:
    """The SageMaker Model a batch run creates for its transform job."""
    return team_resource(team, f"batch-{run_id}")


def monitoring_job_name(team: str, run_id: str) -> str:
    return team_resource(team, f"mon-{run_id}")


def deployment_name(team: str, version: int, suffix: str) -> str:
    """Model and EndpointConfig of one deployment: ``<team>--v<version>-<execution hash>``."""
    return team_resource(team, f"v{version}-{suffix}")


def endpoint_name(team: str) -> str:
    """The team's one real-time endpoint (its capture folder is ``datacapture/<endpoint>/``)."""
    return team_resource(team, "endpoint")


def state_machine_name(team: str, workflow: str) -> str:
    return team_resource(team, workflow)


def alarm_name(team: str, slug: str) -> str:
    return team_resource(team, slug)


def model_package_group(team: str) -> str:
    return team_resource(team, "models")


# ------------------------------------------------------------------ what S3 and SageMaker accept
#: S3 reserves these starts and ends of general purpose bucket names (S3 User Guide,
#: "General purpose bucket naming rules"); a bucket name starts with the team name.
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_S3_BUCKET = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def team_name_problems(team: str) -> list[str]:
    """Why ``team`` cannot prefix the team's resource names (empty when it can)."""
    problems = []
    if SEPARATOR in team:
        problems.append(f"contains {SEPARATOR!r}, which separates the team name from the rest of every "
                        f"resource name ({team_prefix('<team>')}…) so that no team's names start with "
                        "another team's prefix; expected single hyphens, e.g. fraud-detection")
    if team.endswith("-"):
        problems.append("ends with '-'; expected a letter or digit at the end")
    for reserved in S3_RESERVED_PREFIXES:
        if team.startswith(reserved):
            problems.append(f"starts with {reserved!r}, which S3 reserves at the start of bucket names (and "
                            f"every bucket name starts with the team name); expected a name not starting so")
    return problems


def bucket_name_problems(name: str) -> list[str]:
    """Why S3 would refuse ``name`` as a general purpose bucket name (empty when it would not)."""
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append(f"is {len(name)} characters; S3 bucket names have 3-63")
    if not _S3_BUCKET.match(name):
        problems.append("must be lowercase letters, digits, '.' and '-', starting and ending with a letter or digit")
    if ".." in name:
        problems.append("has two adjacent periods")
    if _IP_ADDRESS.match(name):
        problems.append("looks like an IP address")
    problems += [f"starts with {p!r}, which S3 reserves" for p in S3_RESERVED_PREFIXES if name.startswith(p)]
    problems += [f"ends with {s!r}, which S3 reserves" for s in S3_RESERVED_SUFFIXES if name.endswith(s)]
    return problems


def check_bucket_name(name: str, team: str) -> str:
    """``name``, or a ValueError naming the bucket, what S3 expects of it, and what fits."""
    problems = bucket_name_problems(name)
    if problems:
        room = len(team) - len(name) + 63
        raise ValueError(f"team {team}: bucket name {name!r} " + "; ".join(problems)
                         + f"; expected a team name of at most {room} characters in this account and region")
    return name



def smoke_test_role_name(team: str) -> str:
    """The role the pipeline's smoke test assumes in the staging account (stacks/pipeline.py
    creates it, the real-time API's resource policy lets it in)."""
    return team_resource(team, "smoke-test")


#: Where a team's pipeline runs: the first of these stages its file names (stacks/pipeline.py).
PIPELINE_HOME_STAGES = ("tooling", "dev")
#: The pipeline's deployment targets, in order; the last one's decisions are the live ones.
PIPELINE_TARGET_STAGES = ("staging", "production")


def deployed_commit_parameter(team: str, stage: str) -> str:
    """SSM parameter, in the pipeline's account: the source commit the pipeline last deployed to
    ``stage`` (written once the stage's deployment and smoke test pass; the guardrail backtest
    compares a changed policy with the policy of that commit)."""
    return f"/mdlc/{team}/deployed/{stage}"

# The team's CDK bootstrap (mdlc/bootstrap.py plans it; stacks/team.py synthesises against it).

#: What ``DefaultStackSynthesizer(qualifier=…)`` and the bootstrap template accept, narrowed to
#: lowercase: the qualifier is part of S3 bucket names (``cdk-<q>-assets-…``).
QUALIFIER_PATTERN = r"^[a-z0-9]{1,10}$"


def qualifier(team: str, override: str | None = None) -> str:
    """The team's CDK bootstrap qualifier: ``m`` + 9 hex digits of SHA-256 of the name.

    Deterministic, lowercase alphanumeric, 10 characters (CDK's limit); two names share one
    with probability 2**-36 per pair. ``override`` (``pipeline.bootstrap_qualifier`` in the
    team file) is for an account bootstrapped before, or a collision.
    """
    if override is not None:
        if not re.match(QUALIFIER_PATTERN, override):
            raise ValueError(f"bootstrap qualifier {override!r}: expected 1-10 lowercase letters and digits, "
                             "e.g. mfd01")
        return override
    return "m" + hashlib.sha256(team.encode()).hexdigest()[:9]


def toolkit_stack_name(team: str) -> str:
    """``CDKToolkit-<team>``: the team's own bootstrap stack (``--toolkit-stack-name``)."""
    return f"CDKToolkit-{team}"


def boundary_name(team: str) -> str:
    """``<team>--boundary``: the managed policy every role of the team's stacks carries."""
    return team_resource(team, "boundary")


def boundary_arn(team: str, account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:policy/{boundary_name(team)}"


def execution_policy_name(team: str) -> str:
    return team_resource(team, "cfn-execution")
