"""The decision API's latency model for every realtime team in models/ (``mdlc latency``).

Synthesises each team's realtime stack, reads its decision path from the template and
prints the hop table, the Monte Carlo p50/p99, the p99 with the endpoint hanging and the
worst case before an answer (mdlc/latency.py; figures and their sources in
mdlc/latency_figures.py). Goals: p99 ≤ realtime.latency_budget_ms, worst case ≤
realtime.client_timeout_ms. Run: ``python bench/bench_latency.py`` (~20 s per team).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mdlc.contract import MODELS_DIR, load_team  # noqa: E402
from mdlc.latency import model  # noqa: E402
from mdlc.local.synth import synth  # noqa: E402


def main() -> int:
    missed = []
    print("| team | p50 ms | p99 ms (budget) | p99, endpoint hanging | healthy fallbacks (deadline) | "
          "worst case ms (client timeout) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    reports = []
    for path in sorted(MODELS_DIR.glob("*.yaml")):
        team = load_team(path)
        if not team.realtime.enabled:
            continue
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as out:
            assembly = synth(Path(out), model=team.name, pipelines=False, check_latency=False)
            report = model(assembly.template(f"{team.name}-realtime"))
        rt = team.realtime
        hung = f"{report.hung_endpoint_p99:.1f}" if report.hung_endpoint_p99 is not None else "—"
        price = "—" if report.deadline_fallback_share is None else f"{report.deadline_fallback_share:.2%}"
        print(f"| {team.name} | {report.p50:.1f} | {report.p99:.1f} ({rt.latency_budget_ms}) | {hung} | {price} | "
              f"{report.worst_ms:.0f} ({rt.client_timeout_ms}) |")
        reports.append((team.name, report))
        if report.problems(rt.latency_budget_ms, rt.client_timeout_ms):
            missed.append(team.name)
    for name, report in reports:
        print(f"\n### {name}\n\n```\n{report.table()}\n```")
    if missed:
        print(f"\nover budget: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
