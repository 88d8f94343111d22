"""The training script (sagemaker_jobs/training/train.py) under the sagemaker-training toolkit."""

from __future__ import annotations

import json
import subprocess

import pandas as pd

from mdlc import bundle
from mdlc import features as F
from tests.unit.sagemaker_jobs.support import PY, REPO, train_with_toolkit


def test_training_writes_model_and_metadata(pipeline, spec):
    meta = json.loads((pipeline["model_dir"] / "model-meta.json").read_text())
    assert meta["features"] == F.model_columns(spec)
    assert meta["seed"] == spec["training"]["seed"]
    assert meta["best_iteration"] == spec["training"]["hyperparameters"]["num_round"] - 1
    assert meta["xgboost_version"] and meta["numpy_version"] and meta["pyarrow_version"]
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
    frame = pd.read_parquet(pipeline["splits"] / "train")
    for i, folder in enumerate(train_half):
        folder.mkdir()
        frame.iloc[i::2].to_parquet(folder / "part-00000.parquet", index=False)
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
             "--tracker_port", "9177"], env=bundle.script_environment(env), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    meta = json.loads((tmp_path / "model0" / "model-meta.json").read_text())
    assert meta["rows"]["train"] == len(frame.iloc[0::2])
    assert not (tmp_path / "model1").exists()


def test_a_split_part_without_a_model_column_is_named(pipeline, spec, tmp_path):
    """A channel whose Parquet lacks a model column fails with the file and column named."""
    folder = tmp_path / "train"
    folder.mkdir()
    pd.read_parquet(pipeline["splits"] / "train").drop(columns=["amount"]).to_parquet(
        folder / "part-00000.parquet", index=False)
    env = {"SM_CHANNEL_TRAIN": str(folder), "SM_CHANNEL_CONFIG": str(pipeline["config"]),
           "SM_CHANNEL_VALIDATION": str(tmp_path / "none"), "SM_MODEL_DIR": str(tmp_path / "model")}
    done = subprocess.run([PY, str(REPO / "sagemaker_jobs" / "training" / "train.py")],
                          env=bundle.script_environment(env), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "part-00000.parquet lacks columns ['amount']" in done.stderr + done.stdout
    assert not (tmp_path / "model").exists()


def test_split_columns_read_as_float32_with_missing_values_as_nan():
    """Whole numbers, booleans and floats, with nulls and across chunks, as pandas reads them."""
    import numpy as np
    import pyarrow as pa
    from training import train

    columns = [pa.chunked_array([pa.array([1, None, 3]), pa.array([None, 5])]),
               pa.chunked_array([pa.array([True, False, None])]),
               pa.chunked_array([pa.array([0.5, 1.5, None, 2.5])]).slice(1)]
    for column in columns:
        got = train.float32_values(column)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, column.to_pandas().to_numpy("float32", na_value=np.nan))
