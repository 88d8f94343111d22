"""Seeded synthetic card transactions for the example fraud team, offline tests and demos.

``generate`` returns a frame with the raw columns of ``models/fraud-detection.yaml``
(transaction_id, customer_id, event_time, amount, merchant_category, channel, country,
card_id, device_id, merchant_id, is_fraud). Customers have a home country, a typical amount,
a transaction rate, one or two cards and devices and favourite merchants; about 1% of
transactions are fraud with a learnable pattern: abroad, online, far above the customer's
usual amount, at night, in gaming / digital goods / electronics. On top, **card testing**:
bursts of online payments on one stolen card within minutes, each at another merchant
and each ordinary on its own, from a fraudster's device that tests several cards a day (only velocities on
the card and the device catch them; ``with_pattern=True`` adds the ``fraud_pattern``
column naming each fraud row's pattern, for the evaluation of that slice). ``drift``
shifts the distributions (monitoring tests), ``corrupt`` injects bad rows (data-quality
tests). The same arguments always give the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CATEGORIES = ["grocery", "fuel", "restaurants", "fashion", "electronics", "travel", "gaming",
              "digital_goods"]
CATEGORY_P = [0.30, 0.15, 0.20, 0.12, 0.07, 0.06, 0.05, 0.05]
CHANNELS = ["card_present", "contactless", "online"]
CHANNEL_P = [0.45, 0.35, 0.20]
COUNTRIES = ["GB", "FR", "DE", "ES", "IT", "NL", "US", "BR", "NG", "IN"]
HOME_P = [0.40, 0.18, 0.17, 0.10, 0.08, 0.07, 0.0, 0.0, 0.0, 0.0]
RISKY_COUNTRIES = ["US", "BR", "NG", "IN"]
RISKY_CATEGORIES = ["gaming", "digital_goods", "electronics"]
# share of legitimate daytime activity per hour (UTC); fraud prefers 0-5h
HOUR_P = np.array([1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 2, 4, 5, 6, 6, 7, 7, 6, 6, 6, 6, 6, 5, 4, 3,
                   2, 1.5])
HOUR_P = HOUR_P / HOUR_P.sum()
COLUMNS = ["transaction_id", "customer_id", "event_time", "amount", "merchant_category",
           "channel", "country", "card_id", "device_id", "merchant_id", "is_fraud"]
MERCHANTS_PER_CATEGORY = 40
#: Card-testing bursts per customer-day, payments per burst, seconds between payments.
BURSTS_PER_CUSTOMER_DAY = 1 / 1500
BURST_SIZE = (6, 25)
BURST_GAP_S = (8, 60)
FRAUD_DEVICES = 12  # fraudster devices, each testing several cards
FRAUD_RATE = 0.01
CORRUPTIONS = ("null_amount", "negative_amount", "huge_amount", "unknown_category",
               "null_country", "unknown_channel")


def generate(
    n_customers: int = 1000,
    days: int = 30,
    seed: int = 0,
    drift: float | None = None,
    corrupt: float | None = None,
    start: str = "2026-01-01",
    txns_per_day: float = 1.0,
    with_pattern: bool = False,
) -> pd.DataFrame:
    """Card transactions sorted by event time (about ``n_customers * days * txns_per_day``).

    ``drift`` (0..1, e.g. 1.0) raises amounts, shifts traffic online and abroad (US, BR,
    IN). ``corrupt`` (a share of rows, e.g. 0.05) blanks amounts and countries, puts
    amounts out of range and writes unknown categories and channels.
    """
    if n_customers < 1 or days < 1:
        raise ValueError(f"need n_customers >= 1 and days >= 1, got {n_customers}, {days}")
    rng = np.random.default_rng(seed)
    strength = float(drift or 0.0)
    cust = _customers(rng, n_customers, txns_per_day)
    idx = np.repeat(np.arange(n_customers), rng.poisson(cust["rate"] * days))
    n = len(idx)
    df = pd.DataFrame({"customer_id": cust["id"][idx]})
    seconds = _event_seconds(rng, n, days)
    df["amount"] = cust["avg"][idx] * rng.lognormal(0.0, 0.5, n) * (1 + 0.6 * strength)
    df["merchant_category"] = rng.choice(CATEGORIES, n, p=CATEGORY_P)
    df["channel"] = _channels(rng, df["merchant_category"].to_numpy(), strength)
    df["country"] = _countries(rng, cust["home"][idx], strength)
    fraud = rng.random(n) < FRAUD_RATE
    seconds = _apply_fraud(rng, df, fraud, cust["avg"][idx], cust["home"][idx], seconds)
    df["is_fraud"] = fraud.astype("int64")
    df["fraud_pattern"] = np.where(fraud, np.where(df["channel"] == "online", "takeover", "cloned"), "")
    _identities(np.random.default_rng([seed, 23]), df, idx)
    df, seconds = _card_testing(np.random.default_rng([seed, 24]), df, seconds, n_customers, days, cust)
    n = len(df)
    df["amount"] = df["amount"].round(2)
    times = np.datetime64(start, "s") + seconds.astype("timedelta64[s]")
    order = np.argsort(times, kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    df["event_time"] = np.char.add(np.datetime_as_string(times[order], unit="s"), "Z")
    df["transaction_id"] = "T" + str(seed) + "-" + pd.Series(range(n)).astype(str).str.zfill(8)
    if corrupt:
        _corrupt(rng, df, corrupt)
    return df[[*COLUMNS, "fraud_pattern"]] if with_pattern else df[COLUMNS]


def _customers(rng: np.random.Generator, n: int, txns_per_day: float) -> dict[str, Any]:
    return {
        "id": np.array([f"C-{i:06d}" for i in range(1, n + 1)], dtype=object),
        "home": rng.choice(COUNTRIES, n, p=HOME_P),
        "avg": rng.lognormal(np.log(40.0), 0.7, n),
        "rate": rng.gamma(2.0, txns_per_day / 2.0, n),
    }


def _event_seconds(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    day = rng.integers(0, days, n)
    hour = rng.choice(24, n, p=HOUR_P)
    return day * 86400 + hour * 3600 + rng.integers(0, 3600, n)


def _channels(rng: np.random.Generator, category: np.ndarray, strength: float) -> np.ndarray:
    """Legitimate channel by category: digital purchases are mostly online."""
    n = len(category)
    online_p = np.where(np.isin(category, ["gaming", "digital_goods"]), 0.85,
                        np.where(category == "electronics", 0.4, CHANNEL_P[2]))
    online_p = np.minimum(online_p + 0.35 * strength, 0.95)
    online = rng.random(n) < online_p
    in_person = rng.choice(CHANNELS[:2], n, p=[CHANNEL_P[0] / 0.8, CHANNEL_P[1] / 0.8])
    return np.where(online, "online", in_person)


def _countries(rng: np.random.Generator, home: np.ndarray, strength: float) -> np.ndarray:
    n = len(home)
    abroad = rng.random(n) < 0.06 + 0.35 * strength
    foreign_pool = ["US", "BR", "IN"] if strength else COUNTRIES
    country = home.copy()
    country[abroad] = rng.choice(foreign_pool, abroad.sum())
    return country


def _apply_fraud(rng: np.random.Generator, df: pd.DataFrame, fraud: np.ndarray,
                 avg: np.ndarray, home: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Give fraud rows one of two patterns, each an interaction of ordinary traits.

    Card-not-present takeover: online, far above the customer's usual amount, mostly in
    gaming / digital goods / electronics, at any hour. Cloned card abroad: in person in a
    risky foreign country, mostly at night, ordinary amounts. Legitimate traffic has each
    trait on its own (online gaming, travel abroad, late dinners), so the signal lies in
    combinations, which trees learn and a linear model only partly does.
    """
    rows = np.flatnonzero(fraud)
    if not len(rows):
        return seconds
    takeover = rows[rng.random(len(rows)) < 0.55]
    cloned = np.setdiff1d(rows, takeover)
    df.loc[takeover, "channel"] = "online"
    df.loc[takeover, "amount"] = avg[takeover] * rng.uniform(2.0, 8.0, len(takeover))
    risky = takeover[rng.random(len(takeover)) < 0.7]
    df.loc[risky, "merchant_category"] = rng.choice(RISKY_CATEGORIES, len(risky))
    df.loc[cloned, "channel"] = rng.choice(CHANNELS[:2], len(cloned))
    country = rng.choice(RISKY_COUNTRIES, len(cloned))
    country[country == home[cloned]] = "NG"
    df.loc[cloned, "country"] = country
    df.loc[cloned, "amount"] = avg[cloned] * rng.uniform(0.5, 3.0, len(cloned))
    night = cloned[rng.random(len(cloned)) < 0.7]
    seconds = seconds.copy()
    seconds[night] = (seconds[night] // 86400) * 86400 + rng.integers(0, 6 * 3600, len(night))
    return seconds


def _identities(rng: np.random.Generator, df: pd.DataFrame, idx: np.ndarray) -> None:
    """Each customer pays with one or two cards from one or two devices, at merchants of the
    category drawn (a few favourites per customer). Own generator: the other columns keep the
    values they had before these columns existed."""
    n = len(df)
    card = rng.integers(0, 2, n) * (rng.random(len(idx)) < 0.3)
    device = rng.integers(0, 2, n) * (rng.random(len(idx)) < 0.25)
    customer = df["customer_id"].to_numpy().astype(str)
    df["card_id"] = np.char.add(np.char.add(np.char.replace(customer, "C-", "K-"), "-"), card.astype(str))
    df["device_id"] = np.char.add(np.char.add(np.char.replace(customer, "C-", "D-"), "-"), device.astype(str))
    favourite = (idx * 7 + rng.integers(0, 3, n)) % MERCHANTS_PER_CATEGORY
    anywhere = rng.integers(0, MERCHANTS_PER_CATEGORY, n)
    shop = np.where(rng.random(n) < 0.6, favourite, anywhere)
    df["merchant_id"] = np.char.add(np.char.add(np.char.add("M-", df["merchant_category"].to_numpy().astype(str)),
                                                "-"), shop.astype(str))


def _card_testing(rng: np.random.Generator, df: pd.DataFrame, seconds: np.ndarray, n_customers: int, days: int,
                  cust: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """Append card-testing bursts: a stolen card (a customer's first card) paid 6-25 times a
    few seconds apart, online, every payment at another merchant, from one of a few fraudster
    devices (so a device sees several cards a day). Each payment on its own looks like the
    card holder's (their home country, amounts like theirs, ordinary categories): only the
    velocity gives it away. All labelled fraud."""
    bursts = rng.poisson(BURSTS_PER_CUSTOMER_DAY * n_customers * days)
    rows, times = [], []
    for _ in range(bursts):
        victim = int(rng.integers(0, n_customers))
        size = int(rng.integers(*BURST_SIZE))
        start = int(rng.integers(0, days * 86400 - 3600))
        at = start + np.cumsum(rng.integers(*BURST_GAP_S, size))
        category = rng.choice(CATEGORIES, size, p=CATEGORY_P)
        shops = rng.choice(MERCHANTS_PER_CATEGORY, size, replace=False)
        device = f"D-X{int(rng.integers(0, FRAUD_DEVICES)):03d}"
        for j in range(size):
            rows.append({"customer_id": cust["id"][victim],
                         "amount": float(cust["avg"][victim] * rng.lognormal(0.0, 0.5)),
                         "merchant_category": category[j], "channel": "online", "country": cust["home"][victim],
                         "is_fraud": 1, "fraud_pattern": "card_testing", "card_id": f"K-{victim + 1:06d}-0",
                         "device_id": device, "merchant_id": f"M-{category[j]}-{shops[j]}"})
            times.append(at[j])
    if not rows:
        return df, seconds
    return (pd.concat([df, pd.DataFrame(rows)], ignore_index=True),
            np.concatenate([seconds, np.asarray(times, dtype=seconds.dtype)]))


def _corrupt(rng: np.random.Generator, df: pd.DataFrame, share: float) -> None:
    """Damage ``share`` of the rows, each with one of CORRUPTIONS (in turn)."""
    rows = np.flatnonzero(rng.random(len(df)) < share)
    kinds = np.array(CORRUPTIONS)[np.arange(len(rows)) % len(CORRUPTIONS)]
    df["amount"] = df["amount"].astype("float64")
    df["country"] = df["country"].astype(object)
    df.loc[rows[kinds == "null_amount"], "amount"] = np.nan
    df.loc[rows[kinds == "negative_amount"], "amount"] = -25.0
    df.loc[rows[kinds == "huge_amount"], "amount"] = 1_000_000.0
    df.loc[rows[kinds == "unknown_category"], "merchant_category"] = "crypto"
    df.loc[rows[kinds == "null_country"], "country"] = None
    df.loc[rows[kinds == "unknown_channel"], "channel"] = "atm"


def ground_truth(df: pd.DataFrame) -> pd.DataFrame:
    """The chargeback feed: ``transaction_id,is_fraud`` for every transaction."""
    return df[["transaction_id", "is_fraud"]].copy()


def write_partitions(df: pd.DataFrame, root: str | Path, time_column: str = "event_time",
                     file_name: str = "part-0.csv", columns: list[str] | None = None) -> list[Path]:
    """Write ``root/dt=YYYY-MM-DD/part-0.csv`` per event day (header row, no index).

    Returns the written paths, oldest day first. Rows with no parseable time are dropped.
    """
    root = Path(root)
    day = df[time_column].astype("string").str.slice(0, 10)
    paths = []
    for value, part in df.groupby(day, sort=True):
        folder = root / f"dt={value}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        (part if columns is None else part[columns]).to_csv(path, index=False)
        paths.append(path)
    return paths


def write_ground_truth(df: pd.DataFrame, root: str | Path) -> list[Path]:
    """Write the labels as ``root/dt=YYYY-MM-DD/part-0.csv`` (``transaction_id,is_fraud``)."""
    return write_partitions(df, root, columns=["transaction_id", "is_fraud"])
