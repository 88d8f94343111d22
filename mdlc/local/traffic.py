"""Traffic for offline runs: the records a team sees after its model was trained."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mdlc import synthetic


def later_records(customers: int, train_days: int, days: int, seed: int, variant: int, **kw: Any) -> pd.DataFrame:
    """``days`` of records after a ``train_days`` history, from the same customers (same seed)."""
    frame = synthetic.generate(n_customers=customers, days=train_days + days + variant, seed=seed, **kw)
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=train_days + variant)
    times = pd.to_datetime(frame["event_time"], utc=True, format="ISO8601", errors="coerce")
    later = frame[(times >= start) | times.isna()].reset_index(drop=True)
    later["transaction_id"] = f"S{variant}-" + later["transaction_id"]
    return later
