"""`mdlc local lifecycle --data DIR`: a team's own records become the history, later traffic
(re-dated after it, new ids, same entities) and drifted traffic. Product tests, no AWS."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from mdlc import synthetic_team
from mdlc.commands.lifecycle import Records
from mdlc.contract import load_team, runtime_spec
from tests.second_team import write_second_team


def test_own_data_gives_history_later_and_drifted_records(tmp_path):
    spec = runtime_spec(load_team(write_second_team(tmp_path / "models")))
    folder = tmp_path / "data"
    folder.mkdir()
    own = synthetic_team.generate(spec, n_entities=80, days=20, seed=9)
    own.to_csv(folder / "settlements.csv", index=False)

    records = Records(SimpleNamespace(spec=spec), folder, entities=0, days=0, seed=1)

    assert len(records.history) == len(own)
    later = records.later(2)
    last = pd.to_datetime(own.settled_at, utc=True, format="ISO8601").max()
    assert (pd.to_datetime(later.settled_at, utc=True, format="ISO8601") > last).all()
    assert later.payment_ref.str.startswith("S2-").all() and set(later.merchant_id) <= set(own.merchant_id)
    drifted = records.later(3, drift=1.0)
    assert pd.to_numeric(drifted.ticket_size).median() > 1.3 * pd.to_numeric(later.ticket_size).median()
    retrain = records.retraining_history()
    assert len(retrain) > len(own) and "charged_back" in retrain
