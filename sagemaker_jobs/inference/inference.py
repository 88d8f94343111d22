"""Inference handlers for the XGBoost serving container (real-time and batch transform).

``model_fn`` loads ``xgboost-model``, ``model-meta.json`` (features, version) and
``team.json`` (the schema) from the model dir. ``input_fn`` accepts:

* ``application/json``: one record or a list of records, each a JSON object of model
  features (categories as their label, e.g. ``"online"``, or as their index), or an envelope
  ``{"instances": [records], "policy_hash": "<12 hex>"}``: the decision function sends the
  deciding policy's hash there so data capture records it; the JSON answer then names
  ``policy_version`` (``<policy_hash>/<model_version>``) too. Earlier versions of this code
  read the envelope and ignore its other keys, so a model trained before still accepts it;
* ``application/jsonlines``: one such object per line;
* ``text/csv``: one row per line, model columns in model order, encoded as in the split
  CSVs; an optional header row naming the columns (then extra columns such as the id or
  label are ignored).

Every value is checked against the schema; a bad request raises :class:`InvalidInputError`
(HTTP 400 through the serving toolkit) naming the field. ``output_fn`` returns JSON
``{"model_version", "predictions": [{"score", "reasons"}]}``, JSON Lines ``{"score",
"reasons"}`` per line, or CSV (the score, then ``feature,value,contribution`` per reason).
:func:`transform_file` scores a CSV/JSON Lines file in chunks with bounded memory
(``python inference.py --model-dir M --input F --output O``).

Reason codes: the top-N features by absolute contribution to the score's log-odds,
computed by XGBoost itself (``pred_contribs``). N is ``realtime.reason_codes`` for JSON
requests (the endpoint) and ``batch.reason_codes`` for CSV/JSON Lines transform input,
from the team file the model was trained with (``team.json`` in the model dir).
``realtime.reason_method`` picks ``approx`` (XGBoost's path attribution,
``approx_contribs=True``: the cost of one predict) or ``exact`` (TreeSHAP, about twice
the cost of predict). Either way the contributions plus the bias sum to the model's
margin, and for a logistic objective the score is computed from that sum, so reasons cost
one tree walk, not two.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import xgboost as xgb

from mdlc import features as F

try:  # the serving toolkit maps status_code to the HTTP response
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # pragma: no cover - outside the serving container
    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str, phrase: str):
            self.status_code, self.message, self.phrase = status_code, message, phrase
            super().__init__(status_code, message, phrase)

JSON, JSONLINES, CSV = "application/json", "application/jsonlines", "text/csv"
#: The envelope key of the deciding policy's hash (``lambdas.shared.decision_request.endpoint_body``).
POLICY_KEY = "policy_hash"
CHUNK_ROWS = 10_000
#: Objectives whose prediction is sigmoid(margin): the score can come from the contributions.
LOGISTIC = ("binary:logistic", "reg:logistic")


class InvalidInputError(_ToolkitError):
    """A request the model cannot score (HTTP 400); the message names the field."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(status_code, message, message)

    def __str__(self) -> str:
        return self.message


@dataclass
class Model:
    """What model_fn loads: the booster, its metadata and the team spec."""

    booster: xgb.Booster
    meta: dict[str, Any]
    spec: dict[str, Any]

    @property
    def columns(self) -> list[str]:
        return list(self.meta.get("features") or F.model_columns(self.spec))

    @property
    def version(self) -> str:
        return str(self.meta.get("model_version", "unknown"))

    def reason_codes(self, kind: str) -> int:
        """How many reasons to return: ``realtime`` (JSON requests) or ``batch`` (files)."""
        return int((self.spec.get(kind) or {}).get("reason_codes", 0) or 0)

    @property
    def feature_map(self) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_fmap"):
            self._fmap = F.feature_map(self.spec)
        return self._fmap

    @property
    def exact_reasons(self) -> bool:
        return (self.spec.get("realtime") or {}).get("reason_method", "approx") == "exact"

    @property
    def logistic(self) -> bool:
        if not hasattr(self, "_logistic"):
            config = json.loads(self.booster.save_config())
            self._logistic = config["learner"]["objective"]["name"] in LOGISTIC
        return self._logistic


@dataclass
class Payload:
    """A parsed request: records (dicts) or an already numeric matrix (CSV)."""

    records: list[dict[str, Any]] | None = None
    frame: Any = None  # CSV cells as strings (pandas DataFrame)
    header: list[str] | None = None
    use: str = "batch"  # "realtime" (a JSON request) or "batch" (JSON Lines, CSV): picks N reasons
    policy_hash: str | None = None  # the envelope's: echoed as the answer's policy_version


# ------------------------------------------------------------------------- handlers
def model_fn(model_dir: str) -> Model:
    """Load booster, model-meta.json and team.json from the model dir."""
    root = Path(model_dir)
    booster = xgb.Booster()
    booster.load_model(bytearray((root / "xgboost-model").read_bytes()))
    meta = json.loads((root / "model-meta.json").read_text(encoding="utf-8"))
    spec = json.loads((root / "team.json").read_text(encoding="utf-8"))
    return Model(booster, meta, spec)


def input_fn(input_data: str | bytes, content_type: str) -> Payload:
    """Parse a request body; raises InvalidInputError (400) or 415 for other types."""
    text = input_data.decode("utf-8") if isinstance(input_data, bytes | bytearray) else input_data
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == JSON:
        records, policy_hash = _json_records(text)
        return Payload(records=records, use="realtime", policy_hash=policy_hash)
    if kind in (JSONLINES, "application/x-jsonlines"):
        return Payload(records=[_json_object(line, i) for i, line in
                                enumerate(text.splitlines()) if line.strip()])
    if kind == CSV:
        return _csv_payload(text)
    raise InvalidInputError(f"content type {content_type!r} is not supported; expected "
                            f"{JSON}, {JSONLINES} or {CSV}", status_code=415)


def predict_fn(payload: Payload, model: Model) -> dict[str, Any]:
    """Check the payload against the schema and score it, with reason codes when asked."""
    matrix = matrix_from(payload, model)
    top = model.reason_codes(payload.use)
    scores, reasons = score_matrix(model, matrix, top)
    if reasons is not None:
        reasons = [[_with_value(r, matrix[i], payload.records[i] if payload.records else None, model)
                    for r in row] for i, row in enumerate(reasons)]
    out = {"model_version": model.version, "scores": scores, "reasons": reasons}
    if payload.policy_hash is not None:
        out["policy_version"] = f"{payload.policy_hash}/{model.version}"
    return out


def score_matrix(model: Model, matrix: np.ndarray, top: int) -> tuple[np.ndarray, list | None]:
    """Scores of an encoded matrix and, when ``top`` > 0, its top reasons per row.

    A reason is ``(column index, contribution)``; the bias term is never a reason.
    """
    dmatrix = xgb.DMatrix(matrix, feature_names=model.columns)
    if top <= 0:
        return model.booster.predict(dmatrix), None
    contribs = model.booster.predict(dmatrix, pred_contribs=True,
                                     approx_contribs=not model.exact_reasons)
    if model.logistic:
        margin = contribs.sum(axis=1, dtype="float32")
        scores = (1.0 / (1.0 + np.exp(-margin))).astype("float32")
    else:
        scores = model.booster.predict(dmatrix)
    features = contribs[:, :-1]
    top = min(top, features.shape[1])
    order = np.argsort(-np.abs(features), axis=1, kind="stable")[:, :top]
    reasons = [[(int(j), float(features[i, j])) for j in order[i]] for i in range(features.shape[0])]
    return scores, reasons


def _with_value(reason: tuple[int, float], row: np.ndarray, record: dict[str, Any] | None,
                model: Model) -> dict[str, Any]:
    """``{feature, value, contribution}``: the value as sent (a category as its label)."""
    j, contribution = reason
    name = model.columns[j]
    return {"feature": name, "value": _decoded(name, row[j], record, model),
            "contribution": round(contribution, 6)}


def _decoded(name: str, encoded: float, record: dict[str, Any] | None, model: Model) -> Any:
    feature = model.feature_map[name]
    if math.isnan(encoded):
        return None
    if feature["type"] == "category":
        return feature["categories"][int(encoded)]
    if feature["type"] == "bool":
        return bool(encoded)
    if record is not None and isinstance(record.get(name), int | float) and not isinstance(record.get(name), bool):
        return record[name]
    return int(encoded) if feature["type"] == "int" else float(encoded)


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    """Serialise scores as JSON (default), JSON Lines or CSV; returns (body, content type)."""
    kind = (accept or JSON).split(";")[0].strip().lower()
    scores = [float(s) for s in prediction["scores"]]
    reasons = prediction.get("reasons")
    rows = [{"score": s} if reasons is None else {"score": s, "reasons": reasons[i]}
            for i, s in enumerate(scores)]
    if kind in (JSON, "*/*"):
        body = {"model_version": prediction["model_version"], "predictions": rows}
        if prediction.get("policy_version"):
            body["policy_version"] = prediction["policy_version"]
        return json.dumps(body), JSON
    if kind in (JSONLINES, "application/x-jsonlines"):
        return "".join(json.dumps(row) + "\n" for row in rows), JSONLINES
    if kind == CSV:
        if reasons is None:
            return "".join(f"{s!r}\n" for s in scores), CSV
        return "".join(_csv_line(row) for row in rows), CSV
    raise InvalidInputError(f"accept type {accept!r} is not supported; expected {JSON}, "
                            f"{JSONLINES} or {CSV}", status_code=406)


def _csv_line(row: dict[str, Any]) -> str:
    """``score,feature,value,contribution,...`` (values of a category as their label)."""
    out = io.StringIO()
    cells: list[Any] = [repr(row["score"])]
    for reason in row["reasons"]:
        value = reason["value"]
        cells += [reason["feature"], "" if value is None else value, reason["contribution"]]
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


# -------------------------------------------------------------------------- parsing
def _json_records(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """The records of a JSON body and the envelope's policy hash (None without one)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"body is not valid JSON ({exc.msg} at position {exc.pos})") \
            from None
    policy_hash = None
    if isinstance(data, dict) and isinstance(data.get("instances"), list):
        policy_hash = data.get(POLICY_KEY)
        if policy_hash is not None and not (isinstance(policy_hash, str) and 1 <= len(policy_hash) <= 64):
            raise InvalidInputError(f"{POLICY_KEY}: expected a string of 1 to 64 characters, got "
                                    f"{type(policy_hash).__name__}")
        data = data["instances"]
    records = data if isinstance(data, list) else [data]
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInputError(f"record {i}: expected a JSON object of features, got "
                                    f"{type(record).__name__}")
    if not records:
        raise InvalidInputError("no records; expected one JSON object or a non-empty list")
    return records, policy_hash


def _json_object(line: str, i: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"line {i + 1}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise InvalidInputError(f"line {i + 1}: expected a JSON object, got {type(record).__name__}")
    return record


def _csv_payload(text: str) -> Payload:
    import pandas as pd

    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise InvalidInputError("empty CSV body; expected one row of model features per line")
    has_header = any(_not_number(v) for v in next(csv.reader([first])))
    try:
        frame = pd.read_csv(io.StringIO(text), header=0 if has_header else None, dtype=str,
                            keep_default_na=False, skip_blank_lines=True)
    except pd.errors.ParserError as exc:
        raise InvalidInputError(f"CSV body cannot be parsed: {exc}") from None
    header = [str(c).strip() for c in frame.columns] if has_header else None
    return Payload(frame=frame, header=header)


def _not_number(value: str) -> bool:
    try:
        float(value) if value.strip() else None
        return False
    except ValueError:
        return True


def _csv_matrix(frame: Any) -> np.ndarray:
    """Numeric matrix of a string frame; empty cells are NaN, anything else must parse."""
    import pandas as pd

    out = np.empty(frame.shape, dtype="float64")
    for j, name in enumerate(frame.columns):
        raw = frame[name]
        values = pd.to_numeric(raw.mask(raw.str.strip() == ""), errors="coerce").to_numpy("float64")
        bad = np.isnan(values) & (raw.str.strip() != "").to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(f"CSV row {i + 1}, column {j + 1}: {raw.iloc[i]!r} is not a "
                                    "number")
        out[:, j] = values
    return out


# ------------------------------------------------------------------------- checking
def matrix_from(payload: Payload, model: Model) -> np.ndarray:
    """Validated float32 model matrix for a payload (columns in the model's order)."""
    if payload.records is not None:
        return np.asarray([_record_row(r, i, model) for i, r in enumerate(payload.records)],
                          dtype="float32").reshape(-1, len(model.columns))
    return _check_matrix(_csv_matrix(_select_columns(payload, model)), model)


def _record_row(record: dict[str, Any], i: int, model: Model) -> list[float]:
    fmap, columns = F.feature_map(model.spec), model.columns
    allowed = set(columns) | set(F.PASSTHROUGH_KEYS) | set(F.key_columns(model.spec).values())
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise InvalidInputError(f"record {i}: unknown field(s) {unknown}; expected the model "
                                f"features {columns}")
    row = []
    for name in columns:
        if name not in record and not fmap[name].get("nullable", False):
            raise InvalidInputError(f"record {i}: field {name!r} is missing; expected a "
                                    f"{fmap[name]['type']} value")
        value = _encoded(fmap[name], record.get(name), i)
        row.append(math.nan if value is None else float(value))
    return row


def _encoded(feature: dict[str, Any], value: Any, i: int) -> float | int | None:
    """Check one JSON value and encode it; a category may come as label or index."""
    name = feature["name"]
    if feature["type"] == "category" and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < len(feature["categories"]):
            raise InvalidInputError(f"record {i}: field {name!r}: index {value} is out of range; "
                                    f"expected 0..{len(feature['categories']) - 1} or one of "
                                    f"{feature['categories']}")
        return value
    if feature["type"] == "bool" and isinstance(value, int | float) and value in (0, 1):
        value = bool(value)
    try:
        F.check_value(feature, value)
    except F.FeatureError as exc:
        raise InvalidInputError(f"record {i}: {exc}") from None
    return F.encode_value(feature, value)


def _select_columns(payload: Payload, model: Model) -> Any:
    """The model's columns of a CSV payload: by name with a header, else by position."""
    frame, columns = payload.frame, model.columns
    if payload.header is None:
        if frame.shape[1] != len(columns):
            raise InvalidInputError(f"CSV rows have {frame.shape[1]} values; expected "
                                    f"{len(columns)} model columns {columns}")
        return frame
    missing = [c for c in columns if c not in payload.header]
    if missing:
        raise InvalidInputError(f"CSV header lacks column(s) {missing}; expected {columns}")
    return frame.iloc[:, [payload.header.index(c) for c in columns]]


def _check_matrix(matrix: np.ndarray, model: Model) -> np.ndarray:
    """Range, whole-number, category-index and missing checks on an encoded matrix."""
    fmap = F.feature_map(model.spec)
    for j, name in enumerate(model.columns):
        f, col = fmap[name], matrix[:, j]
        bad = _bad_rows(f, col)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(f"field {name!r} (column {j + 1}), row {row + 1}: value "
                                    f"{F.show(col[row])} does not fit a {f['type']} feature"
                                    f"{_expected(f)}")
    return matrix.astype("float32")


def _bad_rows(feature: dict[str, Any], col: np.ndarray) -> np.ndarray:
    nan = np.isnan(col)
    bad = nan if not feature.get("nullable", False) else np.zeros(len(col), bool)
    ok = col[~nan]
    rule = np.zeros(len(ok), bool)
    if feature["type"] == "category":
        rule = (ok < 0) | (ok >= len(feature["categories"])) | (np.mod(ok, 1) != 0)
    elif feature["type"] == "bool":
        rule = ~np.isin(ok, [0, 1])
    elif feature["type"] in F.NUMERIC_TYPES:
        lo, hi = feature.get("min"), feature.get("max")
        rule = ~np.isfinite(ok)
        if feature["type"] == "int":
            rule |= np.mod(ok, 1) != 0
        if lo is not None:
            rule |= ok < lo
        if hi is not None:
            rule |= ok > hi
    bad = bad.copy()
    bad[~nan] |= rule
    return bad


def _expected(feature: dict[str, Any]) -> str:
    if feature["type"] == "category":
        return f"; expected an index 0..{len(feature['categories']) - 1} of {feature['categories']}"
    if feature["type"] in F.NUMERIC_TYPES:
        return f"; expected a value in [{feature.get('min')}, {feature.get('max')}]" + \
            ("" if feature.get("nullable") else ", not missing")
    return ""


# ----------------------------------------------------------------------- batch path
def transform_file(model: Model, source: IO[str], sink: IO[str], content_type: str = CSV,
                   chunk_rows: int = CHUNK_ROWS) -> int:
    """Score a CSV (optional header) or JSON Lines stream chunk by chunk; returns rows.

    Writes one score per line (CSV) or ``{"score"}`` per line (JSON Lines); memory is
    bounded by ``chunk_rows``, not by the file.
    """
    header, total, chunk = None, 0, []
    kind = content_type.split(";")[0].strip().lower()
    accept = JSONLINES if kind in (JSONLINES, "application/x-jsonlines") else CSV
    for line in source:
        if not line.strip():
            continue
        if kind == CSV and total == 0 and not chunk and header is None and \
                any(_not_number(v) for v in next(csv.reader([line]))):
            header = line
            continue
        chunk.append(line)
        if len(chunk) >= chunk_rows:
            total += _score_chunk(model, chunk, header, kind, accept, sink)
            chunk = []
    if chunk:
        total += _score_chunk(model, chunk, header, kind, accept, sink)
    return total


def _score_chunk(model: Model, lines: list[str], header: str | None, kind: str, accept: str,
                 sink: IO[str]) -> int:
    if kind == CSV and header is None:
        matrix = _numeric_csv(lines, len(model.columns))
        if matrix is not None:  # fast path: C parser, same schema checks; else the named error below
            matrix = _check_matrix(matrix, model)
            scores, reasons = score_matrix(model, matrix, model.reason_codes("batch"))
            if reasons is not None:
                reasons = [[_with_value(r, matrix[i], None, model) for r in row] for i, row in enumerate(reasons)]
            sink.write(output_fn({"model_version": model.version, "scores": scores, "reasons": reasons}, accept)[0])
            return len(lines)
    body = "".join(([header] if header else []) + lines)
    body_kind = CSV if kind == CSV else JSONLINES
    sink.write(output_fn(predict_fn(input_fn(body, body_kind), model), accept)[0])
    return len(lines)


def _numeric_csv(lines: list[str], columns: int) -> np.ndarray | None:
    """A headerless all-numeric CSV chunk as a float matrix, or None to take the checked path."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO("".join(lines)), header=None, dtype="float64", skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError):
        return None
    return frame.to_numpy() if frame.shape == (len(lines), columns) else None


def main(argv: list[str] | None = None) -> int:
    """Batch scoring from the command line (same code path as the endpoint)."""
    p = argparse.ArgumentParser(description="Score a CSV or JSON Lines file in chunks.")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--content-type", default=CSV)
    p.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS)
    a = p.parse_args(argv)
    model = model_fn(a.model_dir)
    with open(a.input, encoding="utf-8") as src, open(a.output, "w", encoding="utf-8") as dst:
        rows = transform_file(model, src, dst, a.content_type, a.chunk_rows)
    print(f"scored {rows} rows with model {model.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
