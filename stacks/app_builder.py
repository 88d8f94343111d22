"""Builds the CDK app: one set of stacks per team file, checked by cdk-nag on every synth."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mdlc.contract import (
    ACCOUNT_PATTERN,
    DECISION_PATH_FUNCTIONS,
    DEFAULT_LAMBDA_CONCURRENCY_QUOTA,
    REGION_PATTERN,
    REPO_ROOT,
    TeamConfig,
    TeamFileError,
    load_team,
    region_problem,
    team_files,
    unreserved_minimum,
)
from stacks.common.nag import batched
from stacks.common.props import TeamContext
from stacks.pipeline import TARGET_STAGES, PipelineStack, plan_pipeline
from stacks.team import TeamStacks, bound, synthesizer


@dataclass(frozen=True)
class ResolvedEnv:
    """Where a team's stacks of one stage deploy, and which setting decided it."""

    account: str | None
    region: str
    source: str  # "team file", "context" or "cli"
    detail: str  # e.g. "environments.dev in models/x.yaml"

    def describe(self, team: str, stage: str) -> str:
        account = self.account or "(the deploying credentials' account)"
        return f"{team} ({stage}): account {account}, region {self.region} (from {self.detail})"


def resolve_env(
    team: TeamConfig,
    team_file: Path,
    stage: str,
    default_account: str | None,
    default_region: str | None,
    *,
    context_account: str | None = None,
    context_region: str | None = None,
) -> ResolvedEnv:
    """Account and region of a team's stage, in one documented order.

    1. ``environments.<stage>`` in the team file;
    2. ``cdk synth -c account=... -c region=...`` (context: the CDK CLI passes it through
       unchanged, where it overwrites ``CDK_DEFAULT_REGION`` with its own resolution);
    3. the CDK CLI's own environment (``CDK_DEFAULT_ACCOUNT``/``CDK_DEFAULT_REGION``, which
       the CLI sets from the profile, ``AWS_REGION`` or ``AWS_DEFAULT_REGION``).
    """
    env = team.environments.get(stage)
    if env is not None:
        return ResolvedEnv(env.account, env.region, "team file", f"environments.{stage} in {team_file}")
    if context_region:
        _check_context(team_file, context_account, context_region)
        _check_region(team_file, "context `region`", context_region)
        return ResolvedEnv(context_account or default_account, context_region, "context",
                           "-c region=" + context_region + (" -c account=" + context_account if context_account
                                                             else ", account of the CDK CLI's environment"))
    if default_region:
        _check_region(team_file, "the CDK CLI's region (CDK_DEFAULT_REGION)", default_region)
        return ResolvedEnv(default_account, default_region, "cli",
                           "the CDK CLI's environment (CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION)")
    stages = ", ".join(sorted(team.environments)) or "none"
    raise TeamFileError(
        team_file,
        [
            f"field `environments.{stage}`: missing, and no region was given; expected an account and "
            f"region for stage {stage!r} in the team file (stages in the file: {stages}), or "
            "`cdk synth -c region=eu-west-1 -c account=111111111111`"
        ],
    )


def _check_context(team_file: Path, account: str | None, region: str) -> None:
    problems = []
    if not re.match(REGION_PATTERN, region):
        problems.append(f"context `region`: got {region!r}; expected an AWS region, e.g. eu-west-1")
    if account is not None and not re.match(ACCOUNT_PATTERN, account):
        problems.append(f"context `account`: got {account!r}; expected a 12-digit AWS account id")
    if problems:
        raise TeamFileError(team_file, problems)


def _check_region(team_file: Path, source: str, region: str) -> None:
    """A region the stacks can deploy to (the team file's are checked by the contract)."""
    problem = region_problem(region)
    if problem is not None:
        raise TeamFileError(team_file, [f"{source}: got {region!r}; {problem}"])


def fallback_warning(team: str, stage: str, env: ResolvedEnv) -> str | None:
    """The warning printed when neither the team file nor -c region decided the region."""
    if env.source != "cli":
        return None
    return (f"warning: {team} ({stage}): no environments.{stage} in the team file and no -c region=...; "
            f"using the CDK CLI's environment: region {env.region}, account {env.account or '(unknown)'}. "
            "The CLI sets these from your profile or AWS_REGION and ignores a CDK_DEFAULT_REGION you "
            "export; pass -c region=... -c account=... or add environments.<stage> to pin them.")


def check_reserved_concurrency(deployments: list[tuple[TeamConfig, str, ResolvedEnv]], quota: int,
                               where: Path | str) -> None:
    """Refuse teams whose reserved concurrency cannot all be made in one account and region.

    ``deployments`` are (team, stage, where it deploys). Lambda refuses a reservation that
    leaves less than ``unreserved_minimum(quota)`` unreserved, and CloudFormation then rolls
    the stack back; this says so at synth, naming every team that reserves.
    """
    accounts: dict[tuple[str, str], list[tuple[TeamConfig, str]]] = {}
    for team, stage, env in deployments:
        if team.realtime.reserved_concurrency:
            key = (env.account or "(the deploying credentials' account)", env.region)
            accounts.setdefault(key, []).append((team, stage))
    room = quota - unreserved_minimum(quota)
    problems = []
    for (account, region), reserving in sorted(accounts.items()):
        total = sum(team.realtime.reserved_concurrency for team, _ in reserving)
        if total > room:
            each = ", ".join(f"{team.name} ({stage}): {DECISION_PATH_FUNCTIONS} × "
                             f"{team.realtime.decision_concurrency}" for team, stage in reserving)
            problems.append(
                f"reserved Lambda concurrency in account {account}, region {region}: {each} = {total}; "
                f"the account's quota of {quota} (-c lambda_concurrency_quota) leaves {room} to reserve "
                f"(Lambda keeps {unreserved_minimum(quota)} unreserved), so the deploy would fail with "
                "\"Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{unreserved_minimum(quota)}]\"; "
                "expected realtime.decision_concurrency left out (no reservation) or lowered, or the "
                "account's real quota given as -c lambda_concurrency_quota=N")
    if problems:
        raise TeamFileError(where, problems)


def parse_concurrency_quota(value: str | None) -> int:
    """``-c lambda_concurrency_quota=N``: the account's Lambda concurrency quota (default 1000)."""
    if value is None:
        return DEFAULT_LAMBDA_CONCURRENCY_QUOTA
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise TeamFileError("cdk context", [f"context `lambda_concurrency_quota`: got {value!r}; expected the "
                                            "account's Lambda concurrent executions quota, e.g. 1000 (Service "
                                            "Quotas, L-B99A9384)"])
    return int(value)


def select_team_files(model: str | None, models_dir: Path) -> list[Path]:
    files = team_files(models_dir)
    if model is None:
        return files
    chosen = [f for f in files if f.stem == model]
    if not chosen:
        names = ", ".join(f.stem for f in files) or "none"
        raise TeamFileError(
            models_dir / f"{model}.yaml",
            [f"context `model`: got {model!r}; expected one of the team files: {names}"],
        )
    return chosen


def build_app(
    app: cdk.App,
    *,
    model: str | None,
    stage: str,
    default_account: str | None,
    default_region: str | None,
    models_dir: Path | None = None,
    build_dir: Path | None = None,
    pipelines: bool = True,
    context_account: str | None = None,
    context_region: str | None = None,
    report: Callable[[str], None] | None = None,
    lambda_concurrency_quota: int = DEFAULT_LAMBDA_CONCURRENCY_QUOTA,
) -> list[TeamStacks]:
    """Validate the selected team files, then add each team's stacks to ``app``.

    Every file is validated before the first construct is created, so a wrong file fails
    the synth before any template is written. ``report`` receives one line per team with
    the resolved account and region, and a warning when the region fell back to the CLI's.
    The teams' reserved Lambda concurrency must fit ``lambda_concurrency_quota`` in every
    account and region they deploy to (this stage's, and the stages their files name).
    """
    models_dir = models_dir or REPO_ROOT / "models"
    build_dir = build_dir or REPO_ROOT / "build"
    files = select_team_files(model, models_dir)
    teams = [(load_team(f), f) for f in files]
    envs = [resolve_env(t, f, stage, default_account, default_region,
                        context_account=context_account, context_region=context_region) for t, f in teams]
    if report is not None:
        for (team, _), env in zip(teams, envs, strict=True):
            report(env.describe(team.name, stage))
            if (warning := fallback_warning(team.name, stage, env)) is not None:
                report(warning)
    names = [t.name for t, _ in teams]
    if len(set(names)) != len(names):
        raise TeamFileError(models_dir, [f"team names must be unique, got {names}"])
    deployments = [(t, stage, env) for (t, _), env in zip(teams, envs, strict=True)]
    deployments += [(t, other, ResolvedEnv(e.account, e.region, "team file", f"environments.{other}"))
                    for t, _ in teams for other, e in t.environments.items() if other != stage]
    check_reserved_concurrency(deployments, lambda_concurrency_quota, models_dir)
    # The pipeline deploys the target stages itself: a synth for one of them leaves it out.
    plans = [
        plan_pipeline(t, f) if pipelines and stage not in TARGET_STAGES else None for t, f in teams
    ]

    built = []
    with batched():
        for (team, team_file), env, plan in zip(teams, envs, plans, strict=True):
            ctx = TeamContext(team=team, team_file=team_file, stage=stage, build_dir=build_dir / team.name)
            built.append(
                TeamStacks(app, ctx=ctx, env=cdk.Environment(account=env.account, region=env.region))
            )
            if plan is not None:
                pipeline = PipelineStack(app, f"{team.name}-pipeline", ctx=ctx, plan=plan,
                                         build_dir=build_dir / team.name / "pipeline", synthesizer=synthesizer(ctx),
                                         env=cdk.Environment(account=plan.home.account, region=plan.home.region))
                bound(pipeline, ctx)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return built
