"""Data-quality job throughput and peak memory at two data sizes.

Generates synthetic raw partitions, runs ``data_quality/job.py`` as a subprocess and
samples its RSS every 20 ms. Memory should stay flat as rows grow (the job streams in
chunks). Prints a markdown table. Run: ``python bench/bench_data_quality.py [small] [large]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mdlc import synthetic as sy  # noqa: E402
from mdlc.bundle import script_environment  # noqa: E402
from mdlc.contract import load_team, runtime_spec  # noqa: E402


def write_data(rows: int, folder: Path) -> int:
    """About ``rows`` raw rows as daily partitions; returns the exact count."""
    days = 30
    df = sy.generate(n_customers=max(rows // days, 1), days=days, seed=1)
    sy.write_partitions(df, folder)
    return len(df)


def run_job(data: Path, config: Path, out: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one data-quality run."""
    cmd = [sys.executable, str(REPO / "sagemaker_jobs" / "data_quality" / "job.py"),
           "--data", str(data), "--config", str(config), "--baseline", str(out / "none"),
           "--report-dir", str(out), "--statistics-dir", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=script_environment())
    handle, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, handle.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stderr.read().decode())
    return wall, peak


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:3]] or [250_000, 1_000_000]
    spec = runtime_spec(load_team(REPO / "models" / "fraud-detection.yaml"))
    print("| rows | CSV MB | wall s | rows/s | peak RSS MB |\n| ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "config").mkdir()
            (root / "config" / "team.json").write_text(json.dumps(spec))
            rows = write_data(size, root / "data")
            mb = sum(p.stat().st_size for p in (root / "data").rglob("*.csv")) / 1e6
            wall, peak = run_job(root / "data", root / "config", root / "out")
            print(f"| {rows:,} | {mb:.0f} | {wall:.2f} | {rows / wall:,.0f} | {peak / 1e6:.0f} |")


if __name__ == "__main__":
    main()
