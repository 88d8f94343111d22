"""Seeded synthetic data for any team, generated from its team file's schema.

``generate(spec, ...)`` returns raw records with the team's own columns: the id, entity,
timestamp and label columns, and every ``source: record`` feature with its type, range,
categories and nullability. Entities (the ``entity_key``) have a typical level per numeric
column, favourite categories and a record rate, so their history is worth aggregating. The
label has a learnable signal: the online aggregates and derived features of that history
are computed with ``mdlc/features.py`` (point in time, exactly as the feature job does), and
a fixed random combination of every model input, plus how far a record is from its
entity's own typical level, sets the probability of a positive. ``drift`` shifts numbers up
and categories towards the last ones; ``corrupt`` damages a share of rows. The same
arguments always give the same rows.

``mdlc.synthetic`` stays the example team's hand-written generator (card transactions with
fraud patterns); :func:`for_team` picks it when a schema is the example's.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd

from mdlc import features as F

START = "2026-01-01"
POSITIVE_RATE = 0.03
MISSING_RATE = 0.01  # of a nullable record column
SIGNAL = 2.2  # logit per standard deviation of the hidden score: AUCs around 0.8-0.9


def _rng(seed: int, *names: str) -> np.random.Generator:
    """A generator per (seed, purpose): adding a column never changes another column."""
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def generate(
    spec: dict[str, Any],
    *,
    n_entities: int = 600,
    days: int = 60,
    seed: int = 0,
    per_day: float = 1.0,
    drift: float | None = None,
    corrupt: float | None = None,
    start: str = START,
    with_label: bool = True,
) -> pd.DataFrame:
    """Raw records of the team (about ``n_entities * days * per_day`` rows), oldest first."""
    if n_entities < 1 or days < 1:
        raise ValueError(f"need n_entities >= 1 and days >= 1, got {n_entities}, {days}")
    keys = F.key_columns(spec)
    strength = float(drift or 0.0)
    rng = _rng(seed, "entities")
    rate = rng.gamma(2.0, per_day / 2.0, n_entities)
    owner = np.repeat(np.arange(n_entities), rng.poisson(rate * days))
    n = len(owner)
    letter = keys["entity"][0].upper()
    frame = pd.DataFrame({keys["entity"]: np.array([f"{letter}-{i:06d}" for i in range(1, n_entities + 1)],
                                                   dtype=object)[owner]})
    seconds = _event_seconds(_rng(seed, "time"), n, days)
    agg_keys = tuple(F.aggregate_keys(spec))
    for feature in F.features(spec):
        if feature.get("source", "record") == "record":
            frame[feature["name"]] = _column(feature, owner, n_entities, seconds, start, seed, strength, agg_keys)
    times = np.datetime64(start, "s") + seconds.astype("timedelta64[s]")
    order = np.argsort(times, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    owner = owner[order]
    frame[keys["timestamp"]] = np.char.add(np.datetime_as_string(times[order], unit="s"), "Z")
    frame[keys["id"]] = f"{keys['id'][0].upper()}{seed}-" + pd.Series(range(n)).astype(str).str.zfill(8)
    if with_label:
        frame[keys["label"]] = _label(frame, owner, spec, seed)
    if corrupt:
        _corrupt(_rng(seed, "corrupt"), frame, spec, corrupt)
    columns = raw_columns(spec, with_label=with_label)
    return frame[columns]


def raw_columns(spec: dict[str, Any], with_label: bool = True) -> list[str]:
    """The columns of a raw file: id, entity, timestamp, record features, then the label."""
    keys = F.key_columns(spec)
    cols = [keys["id"], keys["entity"], keys["timestamp"], *F.record_columns(spec)]
    return [*cols, keys["label"]] if with_label else cols


def _event_seconds(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    hour_p = np.array([1, .5, .3, .3, .3, .5, 1, 2, 4, 5, 6, 6, 7, 7, 6, 6, 6, 6, 6, 5, 4, 3, 2, 1.5])
    hour = rng.choice(24, n, p=hour_p / hour_p.sum())
    return rng.integers(0, days, n) * 86400 + hour * 3600 + rng.integers(0, 3600, n)


def _column(feature: dict[str, Any], owner: np.ndarray, n_entities: int, seconds: np.ndarray, start: str,
            seed: int, strength: float, keys: tuple[str, ...] = ()) -> Any:
    """One record column: per-entity habits plus noise, inside the feature's range. A string
    column the aggregates are keyed by (``keys``) holds a few values of each entity's own."""
    name, kind = feature["name"], feature["type"]
    rng = _rng(seed, "column", name)
    n = len(owner)
    if kind in F.NUMERIC_TYPES:
        values = _numbers(feature, rng, owner, n_entities, strength)
    elif kind == "category":
        values = _categories(feature["categories"], rng, owner, n_entities, strength)
    elif kind == "bool":
        p = np.clip(rng.beta(2, 5, n_entities)[owner] + 0.3 * strength, 0, 1)
        values = np.where(rng.random(n) < p, "true", "false").astype(object)
    elif kind == "timestamp":  # an earlier time, e.g. account opening
        back = seconds - rng.integers(0, 365 * 86400, n_entities)[owner]
        values = np.char.add(np.datetime_as_string(np.datetime64(start, "s") + back.astype("timedelta64[s]"),
                                                   unit="s"), "Z").astype(object)
    elif name in keys:  # an aggregate key (a card, a device): one to three values per entity, own to it
        values = np.array([f"{name}-{o + 1:06d}-{k}" for o, k in zip(owner, rng.integers(0, 3, n), strict=True)],
                          dtype=object)
    else:  # string
        values = np.array([f"{name}-{k}" for k in rng.integers(0, 20, n_entities)], dtype=object)[owner]
    if feature.get("nullable"):
        values = pd.Series(values, dtype=object)
        values[rng.random(n) < MISSING_RATE] = None
        return values.to_numpy()
    return values


def _numbers(feature: dict[str, Any], rng: np.random.Generator, owner: np.ndarray, n_entities: int,
             strength: float) -> np.ndarray:
    lo = feature.get("min")
    hi = feature.get("max")
    lo = 0.0 if lo is None else float(lo)
    hi = lo + 1000.0 if hi is None else float(hi)
    span = hi - lo
    # An entity's typical value sits in the lower part of the range (skewed, like amounts).
    typical = rng.beta(2.0, 8.0, n_entities)[owner]
    values = typical * rng.lognormal(0.0, 0.4, len(owner)) * (1 + 0.8 * strength)
    values = lo + span * np.clip(values, 0.0, 1.0)
    if feature["type"] == "int":
        return np.clip(np.round(values), math.ceil(lo), math.floor(hi)).astype("int64")
    return np.round(values, 2)


def _categories(categories: list[str], rng: np.random.Generator, owner: np.ndarray, n_entities: int,
                strength: float) -> np.ndarray:
    k = len(categories)
    popular = rng.dirichlet(np.full(k, 2.0))
    if strength:
        tilt = np.linspace(0.0, 1.0, k) * strength * 3
        popular = popular * np.exp(tilt)
        popular /= popular.sum()
    favourite = rng.choice(k, n_entities, p=popular)[owner]
    anything = rng.choice(k, len(owner), p=popular)
    chosen = np.where(rng.random(len(owner)) < 0.6, favourite, anything)
    return np.asarray(categories, dtype=object)[chosen]


def _label(frame: pd.DataFrame, owner: np.ndarray, spec: dict[str, Any], seed: int) -> np.ndarray:
    """0/1 with a learnable signal in the model inputs as the feature module computes them."""
    rng = _rng(seed, "label")
    with_features = F.point_in_time_features(frame, spec)
    encoded = F.encode_frame(with_features, spec)
    z = np.zeros(len(frame))
    columns = [_standard(encoded[name].to_numpy("float64")) for name in encoded.columns]
    for i, (name, x) in enumerate(zip(encoded.columns, columns, strict=True)):
        weight = _rng(0, "weight", name).normal(0.0, 1.0)  # fixed per feature name, not per seed
        # Half of the effects are not linear (a band, an interaction): trees learn them, the
        # gate's logistic-regression baseline only partly, as with real data.
        shape = i % 3
        if shape == 0:
            z += 0.6 * weight * x
        elif shape == 1:
            z += 2.5 * (np.abs(x) > 1.0)
        else:
            z += 1.5 * np.sign(weight) * x * columns[i - 1]
    # Records far from their entity's own typical value: the reason history features matter.
    for f in F.features(spec):
        if f.get("source", "record") == "record" and f["type"] in F.NUMERIC_TYPES:
            values = pd.to_numeric(frame[f["name"]], errors="coerce")
            typical = values.groupby(owner).transform("median")
            z += 2.0 * (_standard((values / typical.where(typical > 0)).to_numpy("float64")) > 1.0)
            break
    z = _standard(z)
    intercept = _intercept(z, POSITIVE_RATE)
    p = 1.0 / (1.0 + np.exp(-(intercept + SIGNAL * z)))
    return (rng.random(len(frame)) < p).astype("int64")


def _standard(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return np.zeros(len(values))
    centred = np.where(ok, values - values[ok].mean(), 0.0)
    sd = values[ok].std()
    return centred / sd if sd > 0 else np.zeros(len(values))


def _intercept(z: np.ndarray, rate: float) -> float:
    """The intercept whose mean probability is ``rate`` (bisection)."""
    lo, hi = -20.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (1.0 / (1.0 + np.exp(-(mid + SIGNAL * z)))).mean() > rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _corrupt(rng: np.random.Generator, frame: pd.DataFrame, spec: dict[str, Any], share: float) -> None:
    """Blank, put out of range or give unknown categories to ``share`` of the rows."""
    rows = np.flatnonzero(rng.random(len(frame)) < share)
    record = [f for f in F.features(spec) if f.get("source", "record") == "record"]
    for i, row in enumerate(rows):
        f = record[i % len(record)]
        column = f["name"]
        frame[column] = frame[column].astype(object)
        if f["type"] == "category" and i % 2:
            frame.at[row, column] = "__unknown__"
        elif f["type"] in F.NUMERIC_TYPES and i % 2 and f.get("max") is not None:
            frame.at[row, column] = float(f["max"]) * 10 + 1
        else:
            frame.at[row, column] = None


def later(spec: dict[str, Any], *, n_entities: int, train_days: int, days: int, seed: int, variant: int,
          **kw: Any) -> pd.DataFrame:
    """``days`` of records after a ``train_days`` history, from the same entities (same seed).

    Ids carry ``S<variant>-`` so several later batches never share an id.
    """
    frame = generate(spec, n_entities=n_entities, days=train_days + days + variant, seed=seed, **kw)
    keys = F.key_columns(spec)
    begin = pd.Timestamp(kw.get("start", START), tz="UTC") + pd.Timedelta(days=train_days + variant)
    times = pd.to_datetime(frame[keys["timestamp"]], utc=True, format="ISO8601", errors="coerce")
    out = frame[(times >= begin) | times.isna()].reset_index(drop=True)
    out[keys["id"]] = f"S{variant}-" + out[keys["id"]].astype(str)
    return out


def ground_truth(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """The label feed: ``<id>,<label>`` for every record."""
    keys = F.key_columns(spec)
    return frame[[keys["id"], keys["label"]]].copy()


# ---------------------------------------------------------------------- the example team
def is_example_schema(spec: dict[str, Any]) -> bool:
    """True when the raw columns and categories are those ``mdlc.synthetic`` generates."""
    from mdlc import synthetic

    if raw_columns(spec) != synthetic.COLUMNS:
        return False
    cats = {f["name"]: f.get("categories") for f in F.features(spec) if f.get("source", "record") == "record"}
    return (cats.get("merchant_category") == synthetic.CATEGORIES and cats.get("channel") == synthetic.CHANNELS
            and cats.get("country") == synthetic.COUNTRIES)


def for_team(spec: dict[str, Any], *, n_entities: int, days: int, seed: int, drift: float | None = None
             ) -> tuple[pd.DataFrame, str]:
    """Training history for a team and which generator made it (for the line saying so)."""
    if is_example_schema(spec):
        from mdlc import synthetic

        frame = synthetic.generate(n_customers=n_entities, days=days, seed=seed, drift=drift)
        return frame, "the example team's card-transaction generator (mdlc/synthetic.py)"
    frame = generate(spec, n_entities=n_entities, days=days, seed=seed, drift=drift)
    return frame, "the team's schema (mdlc/synthetic_team.py)"


def later_for_team(spec: dict[str, Any], *, n_entities: int, train_days: int, days: int, seed: int,
                   variant: int, drift: float | None = None) -> pd.DataFrame:
    """Records after the training history, from the same generator as :func:`for_team`."""
    if is_example_schema(spec):
        from mdlc.local.traffic import later_records

        return later_records(n_entities, train_days, days, seed, variant, drift=drift)
    return later(spec, n_entities=n_entities, train_days=train_days, days=days, seed=seed, variant=variant,
                 drift=drift)


def describe(frame: pd.DataFrame, spec: dict[str, Any]) -> str:
    """One line: how many records, entities and positives."""
    keys = F.key_columns(spec)
    positives = pd.to_numeric(frame[keys["label"]], errors="coerce").mean() if keys["label"] in frame \
        else float("nan")
    return (f"{len(frame)} records of {frame[keys['entity']].nunique()} {keys['entity']} values, "
            f"{positives:.2%} {keys['label']}")


def shift(frame: pd.DataFrame, spec: dict[str, Any], strength: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Drift injected into any records (yours or generated): numbers scaled up inside their
    range and a share of each category column moved to its last categories."""
    rng = _rng(seed, "shift")
    out = frame.copy()
    for f in F.features(spec):
        name = f["name"]
        if f.get("source", "record") != "record" or name not in out:
            continue
        if f["type"] in F.NUMERIC_TYPES:
            values = pd.to_numeric(out[name], errors="coerce") * (1 + 0.8 * strength)
            values = values.clip(lower=f.get("min"), upper=f.get("max"))
            out[name] = values.round() if f["type"] == "int" else values.round(2)
            if f["type"] == "int":
                out[name] = out[name].astype("Int64")
        elif f["type"] == "category":
            cats = f["categories"]
            moved = rng.random(len(out)) < min(0.6 * strength, 0.9)
            tail = cats[-max(1, len(cats) // 3):]
            out[name] = out[name].astype(object)
            out.loc[moved, name] = rng.choice(tail, int(moved.sum()))
    return out
