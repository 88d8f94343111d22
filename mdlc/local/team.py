"""One model team's stacks, deployed into the offline harness, with its workflows at hand."""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from mdlc import names, runtimes
from mdlc.contract import MODELS_DIR, TeamConfig, load_team, runtime_spec
from mdlc.local.synth import Assembly, synth

DEFAULT_STAGE = "dev"
#: Account for a stage the team file gives none for (what CDK_DEFAULT_ACCOUNT would be).
LOCAL_ACCOUNT = "123456789012"
HARNESS_REGION = "eu-west-1"

# One synth per (team file content, stage, account, region) and process: the assembly is
# only read afterwards, so LocalTeams of the same team share it (CDK synth costs seconds).
_SYNTHS: dict[tuple[str, ...], Assembly] = {}


class WorkflowFailed(RuntimeError):
    """A workflow ended in a failure state; carries the harness' RunResult."""

    def __init__(self, workflow: str, result: Any) -> None:
        self.workflow = workflow
        self.result = result
        super().__init__(f"{workflow} workflow ended {result.status}: {result.error}: {result.cause}")


class LocalTeam:
    """Synthesise one team, deploy its stacks into moto, run its workflows.

    Use as a context manager. ``progress`` receives one line per state as it runs.
    """

    def __init__(
        self,
        name: str,
        *,
        models_dir: Path | None = None,
        workdir: Path | None = None,
        progress: Callable[[str], None] | None = None,
        quiet: bool = False,
        stage: str = DEFAULT_STAGE,
        assembly: Assembly | None = None,
        quotas: Any = None,
    ) -> None:
        from stacks.app_builder import resolve_env

        self.models_dir = Path(models_dir or MODELS_DIR)
        self.team_file = self.models_dir / f"{name}.yaml"
        self.team: TeamConfig = load_team(self.team_file)
        self.name = name
        self.stage = stage
        # As `cdk synth -c stage=STAGE`: the team file's account and region for the stage,
        # else CDK_DEFAULT_ACCOUNT/REGION, which the harness supplies as placeholders.
        envs = list(self.team.environments.values())
        self._default_account = os.environ.get("CDK_DEFAULT_ACCOUNT") or LOCAL_ACCOUNT
        self._default_region = os.environ.get("CDK_DEFAULT_REGION") or (envs[0].region if envs else HARNESS_REGION)
        env = resolve_env(self.team, self.team_file, stage, self._default_account, self._default_region)
        self.region = env.region
        self.account = env.account or self._default_account
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"mdlc-local-{name}-"))
        self.progress = progress or (lambda line: None)
        # A cloud assembly synthesised already (tests reuse their session's) for `stage`
        # with LOCAL_ACCOUNT as CDK_DEFAULT_ACCOUNT; else synthesised here.
        self.assembly: Assembly | None = assembly
        self.aws: Any = None
        self.resources: Any = None
        self._env_patch: Any = None
        self.quiet = quiet  # keep the handlers' JSON logs and EMF metrics off the terminal
        self.handler_log: Path | None = None
        # The account's limits the deploy is checked against (mdlc/harness/quotas.py): a new
        # account's unless given, or the team reserves Lambda concurrency (see profile_for).
        self.quotas = quotas

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalTeam:
        from mdlc.harness import OfflineAws
        from mdlc.harness.quotas import profile_for

        started = time.monotonic()
        if self.assembly is None:
            self.assembly = self._synth()
            self.progress(f"synthesised {len(self.stacks)} stacks ({self.stage}) in {time.monotonic() - started:.1f}s")
        spec = self.assembly.outdir / "build" / self.name / "config" / "team.json"
        self._env_patch = mock.patch.dict(os.environ, {"MDLC_TEAM_SPEC_FILE": str(spec)})
        if self.quiet:
            # Handlers print JSON logs and EMF metrics, as in Lambda; here they go to a file,
            # as CloudWatch Logs would take them, and the terminal shows the progress only.
            self.handler_log = self.workdir / "handlers.log"
            self._stdout = sys.stdout
            sys.stdout = _WorkerOutputToFile(self._stdout, self.handler_log)
            warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._env_patch.start()
        self.quotas = self.quotas or profile_for(self.team.realtime.reserved_concurrency)
        self.aws = OfflineAws(region=self.region, account_id=self.account, quotas=self.quotas).__enter__()
        try:
            self._deploy()
        except BaseException:
            # A deploy that fails (as CloudFormation may) leaves no harness behind: its IAM
            # evaluation and patched environment would otherwise outlive the team.
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _deploy(self) -> None:
        algorithm = self.team.training.algorithm
        if getattr(algorithm, "image_uri", None):  # a custom image: the runtime the team declares
            self.aws.register_runtime(algorithm.image_uri, runtimes.runtime_for_algorithm(algorithm))
        self._upload_file_assets()
        self.create_boundary(self.aws)
        self.resources = self.aws.deploy(
            *[self.assembly.template(s) for s in self.stacks],
            stack_names=self.stacks,
            assets_dir=self.assembly.outdir,
        )
        self.progress(f"deployed {', '.join(self.stacks)} into the offline AWS ({self.region})")

    def __exit__(self, *exc: object) -> None:
        if self.aws is not None:
            self.aws.__exit__(*exc)
        if self.quiet and isinstance(sys.stdout, _WorkerOutputToFile):
            sys.stdout.close_log()
            sys.stdout = self._stdout
        if self._env_patch is not None:
            self._env_patch.stop()

    def create_boundary(self, aws: Any) -> None:
        """The team's permissions boundary in ``aws`` (an OfflineAws), as ``mdlc bootstrap``
        creates it before the first deploy: every role of the stacks carries it, and the harness
        evaluates it on every call (deploying the team's templates without it fails, as on AWS)."""
        from mdlc import bootstrap
        from mdlc.names import boundary_name, qualifier

        # By CloudFormation stack name, as `mdlc bootstrap` reads them (a nested stage assembly's
        # artifact ids are not the names the boundary's patterns start with).
        artifacts = json.loads((self.assembly.outdir / "manifest.json").read_text())["artifacts"]
        templates = {(artifacts.get(stack, {}).get("properties") or {}).get("stackName") or stack:
                     self.assembly.template(stack) for stack in self.stacks}
        deployment = bootstrap.TeamDeployment(self.name, self.account, self.region, templates,
                                              qualifier(self.name, self.team.pipeline.bootstrap_qualifier))
        aws.admin_client("iam").create_policy(PolicyName=boundary_name(self.name),
                                                   PolicyDocument=json.dumps(bootstrap.boundary_policy(deployment)))

    def _synth(self) -> Assembly:
        """The team's assembly as `cdk synth -c model=NAME -c stage=STAGE` writes it (pipeline included)."""
        # Keyed by content, not path: copies of one team file share their synth.
        key = (self.name, self.team_file.read_text(), self.stage, self._default_account, self._default_region)
        if key not in _SYNTHS:
            _SYNTHS[key] = synth(self.workdir / "cdk.out", models_dir=self.models_dir, model=self.name,
                                 stage=self.stage, default_account=self._default_account,
                                 default_region=self._default_region)
        return _SYNTHS[key]

    @property
    def stacks(self) -> list[str]:
        """The team's stacks in deployment order (the data plane first), without the pipeline."""
        assert self.assembly is not None
        manifest = json.loads((self.assembly.outdir / "manifest.json").read_text())
        stacks = [
            name for name, art in manifest["artifacts"].items()
            # By the team's tag, not the name: `fraud-` also starts `fraud-detection-data`.
            if art["type"] == "aws:cloudformation:stack"
            and art.get("properties", {}).get("tags", {}).get("mdlc:team") == self.name
            and not name.endswith("-pipeline")
        ]
        deps = {
            name: {d for d in manifest["artifacts"][name].get("dependencies", []) if d in stacks}
            for name in stacks
        }
        ordered: list[str] = []
        while len(ordered) < len(stacks):
            ready = sorted(n for n in stacks if n not in ordered and deps[n] <= set(ordered))
            if not ready:
                raise RuntimeError(f"stack dependency cycle among {stacks}")
            ordered += ready
        return ordered

    def _upload_file_assets(self) -> None:
        """Put every CDK file asset where its stack expects it (the bootstrap bucket)."""
        assert self.assembly is not None
        s3 = self.aws.client("s3")
        made: set[str] = set()
        for stack in self.stacks:
            for asset in self.assembly.assets(stack).get("files", {}).values():
                source = self.assembly.outdir / asset["source"]["path"]
                for dest in asset["destinations"].values():
                    bucket = self._subst(dest["bucketName"])
                    if bucket not in made:
                        _ensure_bucket(s3, bucket, self.region)
                        made.add(bucket)
                    key = self._subst(dest["objectKey"])
                    if source.is_dir():
                        s3.put_object(Bucket=bucket, Key=key, Body=_zip_dir(source))
                    else:
                        s3.put_object(Bucket=bucket, Key=key, Body=source.read_bytes())

    def _subst(self, text: str) -> str:
        return (
            text.replace("${AWS::AccountId}", self.account)
            .replace("${AWS::Region}", self.region)
            .replace("${AWS::Partition}", "aws")
        )

    # ------------------------------------------------------------------- lookups
    def state_machine_arn(self, workflow: str) -> str:
        wanted = names.state_machine_name(self.name, workflow)
        for res in self.resources.of_type("AWS::StepFunctions::StateMachine"):
            if res.attributes.get("Name") == wanted or res.ref.endswith(f":{wanted}"):
                return res.ref
        raise KeyError(f"no state machine {wanted!r} deployed")

    def api(self, name: str = "decisions") -> Any:
        """The team's REST API ``<team>--<name>`` as deployed, invoked through its template's pieces."""
        from mdlc.harness.apigateway import RestApiGateway, role_authoriser

        return RestApiGateway.named(self.aws, names.team_resource(self.name, name), authorise=role_authoriser(self.aws))

    def bucket(self, abbr: str) -> str:
        """Bucket name of the data plane (raw, feat, art, cap, rep)."""
        return names.bucket_name(self.name, abbr, self.account, self.region)

    @property
    def model_package_group(self) -> str:
        return names.model_package_group(self.name)

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    # --------------------------------------------------------------------- data
    @property
    def spec(self) -> dict[str, Any]:
        """The runtime spec of the team (what the jobs and handlers read)."""
        return runtime_spec(self.team)

    def put_batch_input(self, frame: Any, day: str) -> str:
        """Raw records to score as ``<batch.input_prefix>dt=<day>/part-0.csv`` (label dropped)."""
        prefix = f"{self.team.batch.input_prefix}dt={day}/"
        body = frame.drop(columns=[self.team.schema.label], errors="ignore").to_csv(index=False).encode()
        self.client("s3").put_object(Bucket=self.bucket("raw"), Key=f"{prefix}part-0.csv", Body=body)
        return f"s3://{self.bucket('raw')}/{prefix}"

    def put_batch_dir(self, folder: Path, day: str) -> str:
        """Every CSV under ``folder`` as the batch input of ``day`` (a label column is dropped)."""
        import pandas as pd

        files = sorted(Path(folder).rglob("*.csv"))
        if not files:
            raise FileNotFoundError(f"{folder}: no .csv files; expected raw records to score")
        frame = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in files], ignore_index=True)
        return self.put_batch_input(frame, day)

    def put_ground_truth(self, frame: Any, day: str) -> str:
        """Labels (id and label columns) as ``<ground_truth_prefix>dt=<day>/part-0.csv``; the key."""
        s = self.team.schema
        key = f"{self.team.data.ground_truth_prefix}dt={day}/part-0.csv"
        body = frame[[s.id_column, s.label]].to_csv(index=False).encode()
        self.client("s3").put_object(Bucket=self.bucket("raw"), Key=key, Body=body)
        return key

    def download(self, uri: str, dest: Path) -> list[Path]:
        """Copy an S3 object or every object below a prefix of the offline AWS into ``dest``."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3 = self.client("s3")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
                for o in page.get("Contents", [])]
        written = []
        for k in keys:
            target = Path(dest) / (Path(k).name if k == key else k[len(key):].lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
            written.append(target)
        return written

    def put_raw(self, frame: Any, day: str) -> str:
        """Write a raw snapshot as ``<raw_prefix>dt=<day>/part-0.csv``; returns its prefix URI."""
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise ValueError(f"day: expected YYYY-MM-DD, got {day!r}")
        prefix = f"{self.team.data.raw_prefix}dt={day}/"
        self.client("s3").put_object(
            Bucket=self.bucket("raw"), Key=f"{prefix}part-0.csv", Body=frame.to_csv(index=False).encode()
        )
        return f"s3://{self.bucket('raw')}/{prefix}"

    def put_raw_dir(self, folder: Path, day: str) -> str:
        """Upload every CSV under ``folder`` as the partition of ``day``."""
        prefix = f"{self.team.data.raw_prefix}dt={day}/"
        files = sorted(Path(folder).rglob("*.csv"))
        if not files:
            raise FileNotFoundError(f"{folder}: no .csv files; expected raw records")
        for i, path in enumerate(files):
            self.client("s3").put_object(Bucket=self.bucket("raw"), Key=f"{prefix}part-{i}.csv", Body=path.read_bytes())
        return f"s3://{self.bucket('raw')}/{prefix}"

    # ---------------------------------------------------------------- workflows
    def run(self, workflow: str, payload: dict | None = None, *, timeout: float = 900.0, check: bool = False) -> Any:
        """Execute one of the team's state machines; print each state as it runs."""
        started: dict[str, float] = {}

        def on_visit(visit: Any) -> None:
            if visit.duration is None:
                started[visit.name] = time.monotonic()
            else:
                self.progress(f"  {visit.name:<34} {visit.duration:6.1f}s")

        result = self.aws.run(self.state_machine_arn(workflow), payload or {}, timeout=timeout, progress=on_visit)
        if check and not result.succeeded:
            raise WorkflowFailed(workflow, result)
        return result

    def train(self, data_prefix: str | None = None, reason: str = "manual", **kw: Any) -> Any:
        payload: dict[str, Any] = {"reason": reason}
        if data_prefix:
            payload["data_prefix"] = data_prefix
        return self.run("training", payload, **kw)

    def model_packages(self) -> list[dict[str, Any]]:
        """Registered versions, oldest first, described."""
        sm = self.client("sagemaker")
        listed = sm.list_model_packages(ModelPackageGroupName=self.model_package_group, MaxResults=100)
        packages = [sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
                    for p in listed["ModelPackageSummaryList"]]
        return sorted(packages, key=lambda p: p.get("ModelPackageVersion", 0))

    def approve(self, model_package_arn: str) -> None:
        self.client("sagemaker").update_model_package(
            ModelPackageArn=model_package_arn, ModelApprovalStatus="Approved"
        )


class _WorkerOutputToFile:
    """stdout that keeps the main thread's output and sends what Lambda handlers and the
    executor's threads print to a log file."""

    def __init__(self, terminal: Any, path: Path) -> None:
        self._terminal = terminal
        self._log = path.open("a", encoding="utf-8")

    def write(self, text: str) -> int:
        from mdlc.harness.lambdas import in_handler

        if threading.current_thread() is threading.main_thread() and not in_handler():
            return self._terminal.write(text)
        return self._log.write(text)

    def flush(self) -> None:
        self._terminal.flush()
        self._log.flush()

    def close_log(self) -> None:
        self._log.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._terminal, name)


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - absent: create it
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def _zip_dir(folder: Path) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()
