"""Run ids: sortable by time, unique per Step Functions execution, short enough for job names."""

from __future__ import annotations

import hashlib
from datetime import datetime


def run_id_for(execution: str, now: datetime) -> str:
    """``YYYYMMDDTHHMMSS-xxxxxx`` from the start time and the execution name."""
    return f"{now:%Y%m%dT%H%M%S}-{hashlib.sha256(execution.encode()).hexdigest()[:6]}"
