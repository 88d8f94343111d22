"""Where a backtest's history and models come from: a folder or generated data; a model file,
one trained offline by the real training workflow (as ``mdlc local train`` does), or a version
of the team's model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdlc import features as F
from mdlc.backtest import BacktestError


def history_frame(spec: dict[str, Any], data: Path | None, entities: int, days: int,
                  seed: int) -> tuple[pd.DataFrame, str]:
    """Labelled raw records: every CSV under ``data``, or generated from the team's schema."""
    if data is None:
        from mdlc import synthetic_team

        frame, source = synthetic_team.for_team(spec, n_entities=entities, days=days, seed=seed)
        return frame, f"generated {synthetic_team.describe(frame, spec)} from {source}"
    files = sorted(Path(data).rglob("*.csv"))
    if not files:
        raise BacktestError(f"{data}: no .csv files; expected labelled raw records (the raw partitions with "
                            "their ground truth)")
    # Ids and timestamps stay text, as the API receives them.
    keys = F.key_columns(spec)
    text = {keys["id"]: str, keys["entity"]: str, keys["timestamp"]: str}
    frame = pd.concat([pd.read_csv(path, dtype=text) for path in files], ignore_index=True)
    return frame, f"{len(frame):,} records from {len(files)} file(s) under {data}"


def split_time(history: pd.DataFrame, spec: dict[str, Any], share: float) -> str:
    """The time before which ``share`` of the history's span lies (ISO-8601, UTC)."""
    times = _times(history, spec)
    times = times[times != NAT]
    if not len(times):
        raise BacktestError("the history has no parseable timestamps")
    cut = int(times.min() + (times.max() - times.min()) * share)
    return pd.Timestamp(cut, tz="UTC").floor("D").isoformat()


NAT = np.iinfo("int64").min  # what parse_times_ns gives an unparseable time


def _times(history: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    return np.asarray(F.parse_times_ns(history[spec["schema"]["timestamp_column"]]))


def train_offline(team: str, models_dir: Path, history: pd.DataFrame, spec: dict[str, Any], before: str,
                  folder: Path, stage: str) -> Path:
    """Train the team's model on the records before ``before`` with the training workflow offline;
    the registered version's model.tar.gz, downloaded into ``folder``."""
    from mdlc.local import LocalTeam

    older = history[_times(history, spec) < pd.Timestamp(before).value]
    with LocalTeam(team, models_dir=models_dir, quiet=True, stage=stage) as local:
        result = local.train(local.put_raw(older, before[:10]))
        if not result.succeeded:
            raise BacktestError(f"training the current model offline failed in {result.error}: {result.cause}")
        package = local.model_packages()[-1]
        return _download(local.client("s3"), package, folder)


def registry_model(team: Any, stage: str, version: str, folder: Path) -> Path:
    """model.tar.gz of a version (number or ARN) of the team's model package group in ``stage``'s account."""
    import boto3

    from mdlc.names import model_package_group

    env = team.environments.get(stage)
    if env is None:
        raise BacktestError(f"--stage {stage!r} is not in the team file's environments "
                            f"({', '.join(team.environments)}); expected one of them")
    sm = boto3.client("sagemaker", region_name=env.region)
    group = model_package_group(team.name)
    arn = version if version.startswith("arn:") else (
        f"arn:aws:sagemaker:{env.region}:{env.account}:model-package/{group}/{version}")
    try:
        package = sm.describe_model_package(ModelPackageName=arn)
    except sm.exceptions.ClientError as exc:
        raise BacktestError(f"model version {version!r} of {group}: {exc}") from None
    return _download(boto3.client("s3", region_name=env.region), package, folder)


def _download(s3: Any, package: dict[str, Any], folder: Path) -> Path:
    uri = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    target = folder / f"model-{package.get('ModelPackageVersion', 'x')}.tar.gz"
    target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return target
