"""The SageMaker job scripts, run as SageMaker runs them: from the extracted job-code bundle,
in /opt/ml-like folders, as subprocesses (training through the sagemaker-training toolkit,
inference through the sagemaker-inference Transformer)."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mdlc import bundle
from mdlc import features as F
from mdlc import synthetic as sy
from mdlc.contract import load_team, runtime_spec
from stacks.common.sagemaker_jobs import CODE_DIR, job_entrypoint

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    return runtime_spec(load_team(REPO / "models" / "fraud-detection.yaml"))


@pytest.fixture(scope="session")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job-code bundle, built and extracted like a processing job's code input."""
    root = tmp_path_factory.mktemp("code")
    archive = root / "job-code.tar.gz"
    bundle.build_bundle(archive)
    code_dir = root / "processing" / "input" / "code"
    code_dir.mkdir(parents=True)
    shutil.copy2(archive, code_dir / archive.name)  # the entrypoint unpacks it in place
    return root


def write_spec(folder: Path, spec: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "team.json").write_text(json.dumps(spec))
    return folder


def run_processing(code: Path, job: str, args: list[str], env: dict[str, str] | None = None):
    """The processing job's own entrypoint on the code input (the bundle), then ``<args>``."""
    code_dir = code / "processing" / "input" / "code"
    command = [part.replace(CODE_DIR, str(code_dir)) for part in job_entrypoint(f"{job}/job.py")]
    result = subprocess.run([PY, *command[1:], *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, cwd=code_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def data_quality(code: Path, root: Path, data: Path, spec_dir: Path, baseline: Path | None,
                 previous: str = "", drift_accepted: str = "") -> dict[str, Any]:
    run_processing(code, "data_quality", [
        "--data", str(data), "--config", str(spec_dir),
        "--baseline", str(baseline or root / "no-baseline"),
        "--report-dir", str(root / "report"), "--statistics-dir", str(root / "baseline")],
        env={"PREVIOUS_ROW_COUNT": previous, "DRIFT_ACCEPTED": drift_accepted})
    return json.loads((root / "report" / "report.json").read_text())


def train_with_toolkit(base: Path, code: Path, channels: dict[str, Path],
                       hps: dict[str, Any] | None = None) -> Path:
    """A script-mode training job run by sagemaker-training, laid out like /opt/ml."""
    config = base / "input" / "config"
    config.mkdir(parents=True)
    data = base / "input" / "data"
    for name, src in channels.items():
        (data / name).mkdir(parents=True)
        for f in src.iterdir():
            (data / name / f.name).write_bytes(f.read_bytes())
    hyper = {"sagemaker_program": bundle.TRAINING_PROGRAM,
             "sagemaker_submit_directory": str(code / "job-code.tar.gz"), **(hps or {})}
    (config / "hyperparameters.json").write_text(json.dumps({k: json.dumps(v)
                                                             for k, v in hyper.items()}))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "localhost", "hosts": ["localhost"]}))
    (config / "inputdataconfig.json").write_text(
        json.dumps({n: {"TrainingInputMode": "File"} for n in channels}))
    result = subprocess.run(
        [PY, "-c", "from sagemaker_training import trainer; trainer.train()"],
        capture_output=True, text=True, env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return base / "model"


def model_tar(model_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest / "model.tar.gz", "w:gz") as tar:
        for f in sorted(model_dir.iterdir()):
            tar.add(f, arcname=f.name)
    return dest


# ---------------------------------------------------------------------- pipeline state
@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, spec, code) -> dict[str, Path]:
    """Raw data → feature job → training (toolkit) → packaged model, once per session."""
    root = tmp_path_factory.mktemp("run")
    raw = sy.generate(n_customers=800, days=60, seed=11)
    sy.write_partitions(raw, root / "raw")
    spec_dir = write_spec(root / "config", spec)
    run_processing(code, "features", ["--data", str(root / "raw"), "--config", str(spec_dir),
                                      "--splits-dir", str(root / "splits"),
                                      "--online-dir", str(root / "online")])
    channels = {"train": root / "splits" / "train", "validation": root / "splits" / "validation",
                "config": spec_dir}
    model_dir = train_with_toolkit(root / "ml1", code, channels)
    return {"root": root, "raw": root / "raw", "config": spec_dir, "splits": root / "splits",
            "online": root / "online", "model_dir": model_dir, "channels": channels,
            "model": model_tar(model_dir, root / "model")}


# ---------------------------------------------------------------------------- bundle
def test_bundle_is_byte_for_byte_reproducible(tmp_path):
    first = bundle.build_bundle(tmp_path / "a.tar.gz")
    second = bundle.build_bundle(tmp_path / "b.tar.gz")
    assert first == second
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {0}
    assert bundle.TRAINING_PROGRAM in names and "mdlc/features.py" in names
    assert "data_quality/job.py" in names and not any("__pycache__" in n for n in names)


# ---------------------------------------------------------------------- data quality
def test_data_quality_passes_clean_data_and_writes_a_baseline(tmp_path, code, spec):
    sy.write_partitions(sy.generate(300, 20, seed=1), tmp_path / "data")
    report = data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None)
    assert report["passed"], report["violations"]
    stats = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    assert {"amount", "channel", "country"} <= set(stats["features"])
    assert len(stats["features"]["amount"]["edges"]) + 1 == \
        len(stats["features"]["amount"]["proportions"])


def test_corrupt_data_fails_with_named_violations(tmp_path, code, spec):
    sy.write_partitions(sy.generate(300, 20, seed=2, corrupt=0.05), tmp_path / "data")
    report = data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None)
    assert not report["passed"]
    found = {(v["check"], v["feature"]) for v in report["violations"]}
    assert ("out_of_range", "amount") in found
    assert ("unknown_category", "merchant_category") in found
    message = next(v["message"] for v in report["violations"] if v["feature"] == "amount")
    assert "amount" in message and "0.1000%" in message  # names value and threshold


def test_missing_rate_above_threshold_is_reported(tmp_path, code, spec):
    df = sy.generate(300, 20, seed=3)
    df.loc[df.index[::20], "country"] = None  # 5% missing
    sy.write_partitions(df, tmp_path / "data")
    report = data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None)
    v = next(v for v in report["violations"] if v["check"] == "missing_rate")
    assert v["feature"] == "country" and v["value"] == pytest.approx(0.05, abs=0.005)
    assert v["threshold"] == spec["data_quality"]["max_missing_rate"]


def test_drifted_data_has_psi_above_threshold(tmp_path, code, spec):
    spec_dir = write_spec(tmp_path / "c", spec)
    sy.write_partitions(sy.generate(300, 20, seed=4), tmp_path / "base")
    data_quality(code, tmp_path / "r0", tmp_path / "base", spec_dir, None)
    sy.write_partitions(sy.generate(300, 20, seed=5, drift=1.0), tmp_path / "new")
    report = data_quality(code, tmp_path / "r1", tmp_path / "new", spec_dir,
                          tmp_path / "r0" / "baseline")
    psi = {v["feature"]: v["value"] for v in report["violations"] if v["check"] == "psi"}
    assert {"channel", "country"} <= set(psi)
    assert min(psi.values()) > spec["data_quality"]["max_psi"]
    same = data_quality(code, tmp_path / "r2", tmp_path / "base", spec_dir,
                        tmp_path / "r0" / "baseline")
    assert same["passed"] and max(same["psi"].values()) < 0.01
    # A retraining started by this drift learns the drifted data: reported, not gated.
    accepted = data_quality(code, tmp_path / "r3", tmp_path / "new", spec_dir,
                            tmp_path / "r0" / "baseline", drift_accepted="true")
    assert accepted["passed"] and accepted["violations"] == []
    assert {v["feature"] for v in accepted["accepted_drift"]} >= {"channel", "country"}


def test_row_count_change_uses_previous_row_count(tmp_path, code, spec):
    sy.write_partitions(sy.generate(300, 20, seed=6), tmp_path / "data")
    report = data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None, previous="100000")
    v = next(v for v in report["violations"] if v["check"] == "row_count_change")
    assert v["value"] < -0.5 and report["row_count_change"] == v["value"]


def test_small_chunks_give_the_same_report(tmp_path, code, spec):
    sy.write_partitions(sy.generate(200, 10, seed=7, corrupt=0.02), tmp_path / "data")
    spec_dir = write_spec(tmp_path / "c", spec)
    reports = []
    for chunk in ("100000", "257"):
        out = tmp_path / chunk
        run_processing(code, "data_quality", [
            "--data", str(tmp_path / "data"), "--config", str(spec_dir), "--baseline",
            str(tmp_path / "none"), "--report-dir", str(out), "--statistics-dir", str(out),
            "--chunk-rows", chunk])
        reports.append(json.loads((out / "report.json").read_text()))
    assert reports[0]["features"] == reports[1]["features"]
    assert reports[0]["violations"] == reports[1]["violations"]


# --------------------------------------------------------------------------- features
def test_feature_job_writes_time_ordered_splits_and_online_table(pipeline, spec):
    keys = F.key_columns(spec)
    raw = pd.concat(pd.read_csv(p) for p in sorted(pipeline["raw"].rglob("*.csv")))
    times = raw.set_index(keys["id"])[keys["timestamp"]]
    splits = {n: pd.read_csv(pipeline["splits"] / n / "data.csv") for n in
              ("train", "validation", "test")}
    for frame in splits.values():
        assert list(frame.columns) == [keys["id"], keys["label"], *F.model_columns(spec)]
    assert sum(len(f) for f in splits.values()) == len(raw)
    assert times[splits["train"][keys["id"]]].max() <= times[splits["test"][keys["id"]]].min()
    lines = (pipeline["online"] / "online_features.jsonl").read_text().splitlines()
    item = json.loads(lines[0])
    assert len(lines) == raw[keys["entity"]].nunique()
    assert set(F.online_columns(spec)) <= set(item) and "as_of" in item


# --------------------------------------------------------------------------- training
def test_training_writes_model_and_metadata(pipeline, spec):
    meta = json.loads((pipeline["model_dir"] / "model-meta.json").read_text())
    assert meta["features"] == F.model_columns(spec)
    assert meta["seed"] == spec["training"]["seed"]
    assert meta["best_iteration"] == spec["training"]["hyperparameters"]["num_round"] - 1
    assert meta["xgboost_version"] and meta["numpy_version"]
    assert (pipeline["model_dir"] / "team.json").is_file()


def test_same_seed_and_data_give_identical_model_bytes(pipeline, code, tmp_path):
    hps = {"num_round": 20}
    a = train_with_toolkit(tmp_path / "a", code, pipeline["channels"], hps)
    b = train_with_toolkit(tmp_path / "b", code, pipeline["channels"], hps)
    c = train_with_toolkit(tmp_path / "c", code, pipeline["channels"], {**hps, "seed": 7})
    model = (a / "xgboost-model").read_bytes()
    assert model == (b / "xgboost-model").read_bytes()
    assert model != (c / "xgboost-model").read_bytes()
    assert json.loads((c / "model-meta.json").read_text())["seed"] == 7


def test_two_hosts_train_together_through_the_collective(pipeline, tmp_path):
    """SM_HOSTS with two hosts: the first runs the tracker, both train, the first saves."""
    train_half = [tmp_path / "shard0", tmp_path / "shard1"]
    frame = pd.read_csv(pipeline["splits"] / "train" / "data.csv")
    for i, folder in enumerate(train_half):
        folder.mkdir()
        frame.iloc[i::2].to_csv(folder / "data.csv", index=False)
    hosts = ["localhost", "127.0.0.1"]
    procs = []
    for i, host in enumerate(hosts):
        env = {"SM_HOSTS": json.dumps(hosts), "SM_CURRENT_HOST": host,
               "SM_CHANNEL_TRAIN": str(train_half[i]),
               "SM_CHANNEL_VALIDATION": str(pipeline["splits"] / "validation"),
               "SM_CHANNEL_CONFIG": str(pipeline["config"]),
               "SM_MODEL_DIR": str(tmp_path / f"model{i}")}
        procs.append(subprocess.Popen(
            [PY, str(REPO / "sagemaker_jobs" / "training" / "train.py"), "--num_round", "10",
             "--tracker_port", "9177"], env=bundle.script_environment(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True))
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    meta = json.loads((tmp_path / "model0" / "model-meta.json").read_text())
    assert meta["rows"]["train"] == len(frame.iloc[0::2])
    assert not (tmp_path / "model1").exists()


# ------------------------------------------------------------------------- evaluation
def evaluate(code: Path, pipeline: dict[str, Path], out: Path, spec_dir: Path,
             champion: Path | None = None) -> dict[str, Any]:
    run_processing(code, "evaluation", [
        "--test", str(pipeline["splits"] / "test"), "--train", str(pipeline["splits"] / "train"),
        "--model", str(pipeline["model"]), "--champion", str(champion or out / "no-champion"),
        "--config", str(spec_dir), "--output-dir", str(out)])
    return json.loads((out / "evaluation.json").read_text())


def test_model_beats_the_baseline_and_passes_the_gate(pipeline, code, tmp_path):
    result = evaluate(code, pipeline, tmp_path, pipeline["config"])
    assert result["gate"] == {"passed": True, "reasons": []}
    assert result["metrics"]["pr_auc"] > result["baseline"]["pr_auc"]
    for key in ("roc_auc", "recall_at_fpr", "brier", "ece"):
        assert result["metrics"][key] is not None
    assert set(result["slices"]) == {"country", "channel"}
    assert "online" in result["slices"]["channel"]


def test_gate_names_every_failed_condition(pipeline, code, tmp_path, spec):
    strict = copy.deepcopy(spec)
    strict["evaluation"]["threshold"] = 0.999
    strict["evaluation"]["champion_tolerance"] = 0.0
    spec_dir = write_spec(tmp_path / "c", strict)
    better = dict(pipeline)
    result = evaluate(code, better, tmp_path, spec_dir, champion=pipeline["model"])
    assert not result["gate"]["passed"]
    assert any("below the threshold 0.9990" in r for r in result["gate"]["reasons"])
    # the champion is the same model: equal is within tolerance 0, so not a reason
    assert result["champion"]["metrics"]["pr_auc"] == result["metrics"]["pr_auc"]
    assert not any("champion" in r for r in result["gate"]["reasons"])


# -------------------------------------------------------------------------- inference
class _Request:
    def __init__(self, content_type: str, accept: str):
        self.props = {"Content-Type": content_type, "Accept": accept}

    def get_request_properties(self) -> dict[str, str]:
        return self.props


class _Context:
    """The bits of the model server's context that the Transformer reads."""

    def __init__(self, model_dir: Path, content_type: str, accept: str):
        self.system_properties = {"model_dir": str(model_dir)}
        self.request_processor = [_Request(content_type, accept)]
        self.status: tuple[int, str] | None = None

    def set_response_status(self, code: int, phrase: str) -> None:
        self.status = (code, phrase)

    def set_response_content_type(self, idx: int, content_type: str) -> None:
        self.content_type = content_type


@pytest.fixture(scope="module")
def serve(pipeline, code, monkeypatch_module):
    """Invoke the model the way the serving toolkit does, in-process, from the bundle."""
    from sagemaker_inference.transformer import Transformer

    monkeypatch_module.syspath_prepend(str(code / "processing" / "input" / "code"))
    monkeypatch_module.setenv("SAGEMAKER_PROGRAM", bundle.INFERENCE_PROGRAM)
    transformer = Transformer()

    def call(body: str, content_type: str = "application/json",
             accept: str = "application/json") -> tuple[Any, _Context]:
        ctx = _Context(pipeline["model_dir"], content_type, accept)
        out = transformer.transform([{"body": body.encode()}], ctx)
        return out[0], ctx

    return call


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _request(spec: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    record = {"amount": 950.0, "merchant_category": "gaming", "channel": "online",
              "country": "NG", "event_time": "2026-03-01T03:10:00Z"}
    online = {"txn_count_30d": 4, "amount_sum_30d": 160.0, "amount_mean_90d": 40.0,
              "account_tenure_days": 50.0, "home_country": "GB"}
    features = F.derive_record(record, online, spec)
    return {**features, **overrides}


def test_endpoint_scores_one_record_and_a_list(serve, spec, pipeline):
    body, ctx = serve(json.dumps(_request(spec)))
    assert ctx.status is None
    result = json.loads(body)
    meta = json.loads((pipeline["model_dir"] / "model-meta.json").read_text())
    assert result["model_version"] == meta["model_version"]
    assert 0.0 <= result["predictions"][0]["score"] <= 1.0
    labels = _request(spec, merchant_category="gaming", channel="online", country="NG")
    body, _ = serve(json.dumps([labels, _request(spec, amount=12.0)]))
    assert len(json.loads(body)["predictions"]) == 2


def test_endpoint_rejects_a_wrong_type_naming_the_field(serve, spec):
    body, ctx = serve(json.dumps(_request(spec, amount="a lot")))
    assert ctx.status[0] == 400 and "amount" in ctx.status[1]
    body, ctx = serve(json.dumps(_request(spec, channel="carrier-pigeon")))
    assert ctx.status[0] == 400 and "channel" in ctx.status[1]
    body, ctx = serve(json.dumps({k: v for k, v in _request(spec).items() if k != "country"}))
    assert ctx.status[0] == 400 and "'country' is missing" in ctx.status[1]
    body, ctx = serve("amount\n1", content_type="application/xml")
    assert ctx.status[0] == 415


def test_csv_request_and_chunked_batch_transform(serve, spec, pipeline):
    row = _request(spec)
    line = ",".join("" if row[c] is None else str(row[c]) for c in F.model_columns(spec))
    body, ctx = serve(line + "\n" + line + "\n", content_type="text/csv", accept="text/csv")
    assert ctx.status is None and len(body.splitlines()) == 2
    body, ctx = serve(line.replace("950.0", "-5"), content_type="text/csv")
    assert ctx.status[0] == 400 and "'amount'" in ctx.status[1]

    from inference import inference  # the bundle's copy, on sys.path via `serve`

    model = inference.model_fn(str(pipeline["model_dir"]))
    test_csv = pipeline["splits"] / "test" / "data.csv"
    out = io.StringIO()
    with test_csv.open() as src:
        rows = inference.transform_file(model, src, out, "text/csv", chunk_rows=500)
    scores = [float(s) for s in out.getvalue().splitlines()]
    assert rows == len(scores) == len(pd.read_csv(test_csv))
    whole = inference.predict_fn(inference.input_fn(test_csv.read_text(), "text/csv"), model)
    assert scores == [float(s) for s in whole["scores"]]


def test_online_table_is_written_in_shards_for_parallel_loading(tmp_path):
    """Large customer bases split into shards; each becomes one Distributed Map item."""
    from features import job

    from mdlc import synthetic
    from mdlc.contract import REPO_ROOT, load_team, runtime_spec

    spec = runtime_spec(load_team(REPO_ROOT / "models/fraud-detection.yaml"))
    raw = synthetic.generate(n_customers=250, days=20, seed=3)

    entities = job.write_online(raw, spec, "2026-01-21T00:00:00Z", tmp_path, shard_rows=100)

    shards = sorted(p.name for p in tmp_path.iterdir())
    assert shards == ["online_features-00001.jsonl", "online_features-00002.jsonl", "online_features.jsonl"]
    lines = sum(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert lines == entities == raw["customer_id"].nunique()
