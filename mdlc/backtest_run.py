"""One backtest run, shared by ``mdlc backtest``, ``mdlc diff --backtest`` and the pipeline's test stage."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Generated history when no --data is given (as `mdlc local` generates it).
ENTITIES, DAYS, SEED = 600, 90, 7
#: Without a model, the first part of the history trains one; the rest is replayed.
TRAIN_SHARE = 2 / 3


def run_backtest(current: Any, candidate: Any, team_path: Path, *, stage: str, current_model: Path | None = None,
                 candidate_model: Path | None = None, model_version: str | None = None, data: Path | None = None,
                 since: str | None = None, generated: tuple[int, int, int] = (ENTITIES, DAYS, SEED),
                 echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Replay, score, decide both ways and compare: the report (``mdlc backtest --json``)."""
    from mdlc import backtest as bt
    from mdlc import backtest_report as rep
    from mdlc import runtimes
    from mdlc.backtest_inputs import guardrails_of
    from mdlc.backtest_sources import history_frame, registry_model, split_time, train_offline
    from mdlc.contract import runtime_spec

    spec, cand_spec = runtime_spec(current), runtime_spec(candidate)
    history, described = history_frame(spec, data, *generated)
    echo(f"history: {described}")
    with tempfile.TemporaryDirectory(prefix="mdlc-backtest-") as tmp:
        if current_model is None:
            cut = since or split_time(history, spec, TRAIN_SHARE)
            echo(f"no --current-model: training one offline on the records before {cut} (stage {stage})")
            current_model = train_offline(current.name, team_path.parent, history, spec, cut, Path(tmp), stage)
            since = cut
        if model_version is not None:
            candidate_model = registry_model(current, stage, model_version, Path(tmp))
        run = bt.replay(history, spec, since)
        if not run.requests:
            raise bt.BacktestError(f"no labelled records to replay{f' at or after {since}' if since else ''}")
        python = runtimes.runtime_for_algorithm(current.training.algorithm).require_built()
        answer = bt.score(current_model, run.features, python)
        other = answer if candidate_model is None else bt.score(candidate_model, run.features, python)
    now, then = bt.decisions(run, answer, spec), bt.decisions(run, other, cand_spec)
    a, b = bt.codes(now), bt.codes(then)
    sides = [rep.side(d, c, run.labels, run.amounts, run.days) for d, c in ((now, a), (then, b))]
    return rep.compare(current.name, sides[0], sides[1], rep.flips(a, b, run.labels), run, guardrails_of(candidate))
