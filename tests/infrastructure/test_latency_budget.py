"""The synth refuses a team whose modelled decision path misses its budget (product).

The latency model runs on the templates just synthesised (mdlc/latency.py, called by app.py
and mdlc/local/synth.py): a p99 over ``realtime.latency_budget_ms`` or a worst case over
``realtime.client_timeout_ms`` stops the synth with the team file named and the costliest
hops listed, before anything deploys.
"""

from __future__ import annotations

import pytest
import yaml

from mdlc.contract import MODELS_DIR, TeamFileError
from mdlc.local.synth import synth


def _team(folder, name: str, **realtime) -> None:
    team = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    team["name"] = name
    team["realtime"] = {k: v for k, v in {**team["realtime"], **realtime}.items() if v is not None}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(team, sort_keys=False))


def test_cold_starts_in_the_p99_refuse_the_synth_naming_the_costly_hops(tmp_path):
    """Without provisioned concurrency, 1% of calls start cold (AWS: 'under 1%'): the p99 is a cold start."""
    models = tmp_path / "models"
    models.mkdir()
    _team(models, "cold-path", provisioned_concurrency=None)

    with pytest.raises(TeamFileError) as refused:
        synth(tmp_path / "out", models_dir=models, model="cold-path", pipelines=False)

    message = str(refused.value)
    assert "cold-path.yaml" in message and "realtime.latency_budget_ms" in message
    assert "exceeds the budget of 100 ms" in message and "Decide: Lambda invoke" in message
    assert "provisioned_concurrency" in message  # what to do about it


def test_a_client_timeout_below_the_worst_case_refuses_the_synth(tmp_path):
    """The decision function's 1 s timeout plus the API and the workflow outlive a 1,000 ms client."""
    models = tmp_path / "models"
    models.mkdir()
    _team(models, "impatient", client_timeout_ms=1000)

    with pytest.raises(TeamFileError, match=r"realtime.client_timeout_ms: worst case before an answer \d+ ms "
                                            r"exceeds the client timeout of 1000 ms \(path: API Gateway"):
        synth(tmp_path / "out", models_dir=models, model="impatient", pipelines=False)


def test_the_example_team_synthesises_within_its_budget(tmp_path):
    assembly = synth(tmp_path / "out", model="fraud-detection", pipelines=False)
    assert "fraud-detection-realtime" in assembly.templates
