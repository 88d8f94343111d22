"""Decision step 1: validate the request, look up its keys' online features, merge them.

The request is checked against the same JSON Schema API Gateway's model uses
(``lambdas.shared.decision_request``); a bad request ends the workflow with a 400 body
naming each field, before anything is looked up or recorded. The online items of every key
of the request (the entity, and e.g. its card and device) come from the DynamoDB feature
table in one batched read (``lambdas.shared.entity_store.read_online``); the shared feature
module (``mdlc.features.derive_record_items``) merges them with the request, so serving
computes every feature exactly as training did. Unknown key values get the defaults, an
unknown entity a flag.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.decision_request import RequestError, parse_request, request_schema
from lambdas.shared.entity_store import read_online
from lambdas.shared.spec import env, team_spec
from mdlc import features as F

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class FeatureStore:
    """The online feature table (an adapter tests replace)."""

    def __init__(self, table_name: str, spec: dict[str, Any]) -> None:
        self.table_name, self.spec = table_name, spec

    def read(self, record: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
        """Key column → online item (None when absent), every key in one batched read."""
        return read_online(self.table_name, record, self.spec)


def collect(event: dict[str, Any], spec: dict[str, Any], store: FeatureStore) -> dict[str, Any]:
    """``{"valid": true, request, features, unknown_entity}`` or ``{"valid": false, response}``."""
    schema = request_schema(spec)
    try:
        request = parse_request(event.get("body"), schema)
        record = {name: request[name] for name in request if name != "request_id"}
        items = store.read(record)
        try:
            model_input = F.derive_record_items(record, items, spec)
        except F.StaleState as exc:
            # The table still holds older feature definitions (the backfill has not run since
            # the team file changed): serve the defaults, flagged, rather than fail the decision.
            logger.warning("online features of other definitions; serving defaults", extra={"error": str(exc)})
            metrics.add_metric(name="StaleFeatureStates", unit=MetricUnit.Count, value=1)
            model_input = F.derive_record(record, None, spec)
    except RequestError as exc:
        return {"valid": False, "response": exc.response()}
    except F.FeatureError as exc:
        message = str(exc).split(": ", 1)[-1]
        error = RequestError([{"field": exc.field, "message": message}], request.get("request_id"))
        return {"valid": False, "response": error.response()}
    return {"valid": True, "request": request, "features": model_input,
            "unknown_entity": model_input["unknown_entity"]}


_store: FeatureStore | None = None


def _feature_store(spec: dict[str, Any]) -> FeatureStore:
    global _store
    if _store is None:
        _store = FeatureStore(env("FEATURE_TABLE"), spec)
    return _store


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Express workflow task: ``{"body": <request text or object>}`` → features or a 400."""
    spec = team_spec()
    result = collect(event, spec, _feature_store(spec))
    if not result["valid"]:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        # Field names only: the messages quote the values sent, which may be card data.
        logger.info("rejected request", extra={"request_id": result["response"].get("request_id"),
                                               "fields": [e["field"] for e in result["response"]["errors"]]})
    elif result["unknown_entity"]:
        metrics.add_metric(name="UnknownEntities", unit=MetricUnit.Count, value=1)
    return result
