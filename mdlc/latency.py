"""A latency model of the deployed decision path, read from the synthesised realtime template.

The decision API's hops are read from the template, never kept by hand: the REST method
whose integration is ``StartSyncExecution`` names the state machine; its definition
(``DefinitionString``, tokens rendered) gives every state on the way to an answer; each
Lambda task's function gives its memory, timeout, provisioned concurrency or SnapStart and
the calls its handler makes (``mdlc:latency`` metadata, written by the construct from
the handler's own declaration). Each hop gets a figure of :mod:`mdlc.latency_figures`; a
hop without one raises :class:`MissingFigure` naming it.

- **p50 / p99**: Monte Carlo over the nominal path (a valid request, decided, answered):
  each hop log-normal through its p50 and p99, a Lambda's cold start with probability
  ``LAMBDA_COLD_START_RATE`` unless provisioned, its measured compute scaled by
  ``1769 MB / memory`` below one vCPU.
- **worst case before an answer**: every state on the synchronous path taking its timeout
  on every attempt, with every retry's longest wait (full jitter waits up to the backoff),
  then its catch path; bounded by the workflow's timeout; plus the API's own p99. If that
  exceeds the API's integration timeout, the client gets the API's 504 instead: the model
  says so (``api_timeout``).
- **the deadline**: when the function declares one (``deadline`` in its metadata), the feature
  read and InvokeEndpoint are cut at the timeout the function would give them
  (:func:`mdlc.latency_deadline.call_timeout` of the time left: budget − reserve − what the
  sample spent before, the round trips' outbound legs included); a call that outlasts it is
  the fallback decision at that moment. The share of healthy requests decided so is the
  deadline's price (``deadline_fallback_share``).
- **p99 with the endpoint hanging**: the same Monte Carlo with InvokeEndpoint taking its whole
  (cut) timeout every time (the fallback decision's latency).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from mdlc.latency_deadline import RETURN_SHARE, call_timeout
from mdlc.latency_figures import (
    FIGURES,
    INTEGRATIONS,
    LAMBDA_COLD_START_RATE,
    LAMBDA_FULL_VCPU_MB,
    SDK_SERVICES,
    Figure,
    lognormal,
)

#: Metadata key on a Lambda function of the synchronous path: ``{"compute": <measured key>,
#: "calls": ["dynamodb:BatchGetItem", ...], "timeouts_ms": {call: ms}}``.
LATENCY_METADATA = "mdlc:latency"
SAMPLES = 20_000


class MissingFigure(ValueError):
    """A hop of the template that the figure table has no figure for."""


class NoDecisionPath(ValueError):
    """The template has no API method starting a state machine synchronously."""


@dataclass
class Hop:
    """One hop of the nominal path: what it is, its figure, and its worst case (ms)."""

    name: str
    key: str
    figure: Figure
    scale: float = 1.0
    cold_rate: float = 0.0
    cold: Figure | None = None
    cold_extra: Figure | None = None
    timeout_ms: float | None = None  # the caller gives up after this (fallback), if it does
    #: (budget, reserve, ladder step) in ms when the caller cuts the timeout to its deadline
    deadline: tuple[float, float, int] | None = None

    @property
    def p50(self) -> float:
        return self.figure.p50 * self.scale

    @property
    def p99(self) -> float:
        return self.figure.p99 * self.scale


@dataclass
class LatencyReport:
    """The hop table, Monte Carlo percentiles and the worst case of one team's decision path."""

    state_machine: str
    hops: list[Hop]
    p50: float
    p99: float
    hung_endpoint_p99: float | None
    worst_ms: float
    path_worst_ms: float
    integration_timeout_ms: float
    workflow_timeout_ms: float
    worst_path: list[str] = field(default_factory=list)
    deadline: tuple[float, float, int] | None = None
    deadline_fallback_share: float | None = None
    timeout_fallback_share: float | None = None

    @property
    def api_timeout(self) -> bool:
        """True when a path's worst case outlives the API's integration timeout (a 504, no answer)."""
        return self.path_worst_ms > self.integration_timeout_ms

    def costliest(self, n: int = 3) -> list[Hop]:
        """The hops with the largest p99 (cold starts included at their rate)."""
        return sorted(self.hops, key=lambda h: h.p99 + h.cold_rate * _cold_p99(h) * 100, reverse=True)[:n]

    def problems(self, budget_ms: float, client_timeout_ms: float) -> list[str]:
        """Why this path misses ``budget_ms`` (p99) or ``client_timeout_ms`` (worst case); empty if not."""
        names = ", ".join(f"{h.name} (p99 {h.p99:.0f} ms)" for h in self.costliest())
        out = []
        if self.p99 > budget_ms:
            out.append(f"realtime.latency_budget_ms: modelled p99 {self.p99:.0f} ms exceeds the budget of "
                       f"{budget_ms:.0f} ms; costliest hops: {names}; expected fewer hops, provisioned "
                       "concurrency (realtime.provisioned_concurrency) or a larger budget")
        if self.p99 <= budget_ms and self.hung_endpoint_p99 is not None and self.hung_endpoint_p99 > budget_ms:
            out.append(f"realtime.latency_budget_ms: with the endpoint hanging, the fallback decision's modelled "
                       f"p99 {self.hung_endpoint_p99:.0f} ms exceeds the budget of {budget_ms:.0f} ms; expected "
                       "the decision function to cut its InvokeEndpoint timeout to the request's deadline")
        if self.worst_ms > client_timeout_ms:
            out.append(f"realtime.client_timeout_ms: worst case before an answer {self.worst_ms:.0f} ms "
                       f"exceeds the client timeout of {client_timeout_ms:.0f} ms (path: "
                       f"{' → '.join(self.worst_path)}); expected shorter timeouts and no retries on the "
                       "synchronous path")
        if self.api_timeout:
            out.append(f"the workflow's worst case ({self.path_worst_ms:.0f} ms) outlives the API's integration "
                       f"timeout ({self.integration_timeout_ms:.0f} ms): the client would get a 504, not a "
                       "fallback decision")
        return out

    def table(self) -> str:
        """The hop table and the totals as text (``mdlc latency``)."""
        rows = [f"{'hop':<58} {'p50 ms':>8} {'p99 ms':>8}  source"]
        for hop in self.hops:
            mark = "measured" if hop.figure.measured else "guess" if hop.figure.guess else "cited"
            scale = f" ×{hop.scale:.2f} CPU" if hop.scale != 1 else ""
            rows.append(f"{hop.name[:58]:<58} {hop.p50:>8.2f} {hop.p99:>8.2f}  {hop.key} ({mark}){scale}")
            if hop.cold is not None and hop.cold_rate:
                rows.append(f"{'  + cold start, ' + f'{hop.cold_rate:.1%} of calls':<58} "
                            f"{_cold_p50(hop):>8.0f} {_cold_p99(hop):>8.0f}  "
                            f"{hop.cold and _cold_keys(hop)}")
        rows.append("")
        rows.append(f"modelled p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms ({SAMPLES:,} Monte Carlo samples)")
        if self.hung_endpoint_p99 is not None:
            rows.append(f"p99 when the endpoint hangs (fallback decision): {self.hung_endpoint_p99:.1f} ms")
        if self.deadline is not None:
            budget, reserve, step = self.deadline
            rows.append(f"deadline: request time + {budget:.0f} ms budget − {reserve:.0f} ms reserve (rules, "
                        f"write, return legs); feature read and InvokeEndpoint timeouts cut to the time left "
                        f"({step} ms rungs)")
            rows.append(f"healthy requests decided by the fallback because of the deadline: "
                        f"{self.deadline_fallback_share:.2%}")
        if self.timeout_fallback_share is not None:
            rows.append(f"healthy requests decided by the fallback because of the configured InvokeEndpoint "
                        f"timeout: {self.timeout_fallback_share:.2%}")
        rows.append(f"worst case before an answer: {self.worst_ms:.0f} ms ({' → '.join(self.worst_path)})")
        rows.append(f"API integration timeout {self.integration_timeout_ms:.0f} ms, workflow timeout "
                    f"{self.workflow_timeout_ms:.0f} ms")
        return "\n".join(rows)


def _cold_keys(hop: Hop) -> str:
    return " + ".join(k for k, f in FIGURES.items() if f is hop.cold or f is hop.cold_extra)


def _cold_p50(hop: Hop) -> float:
    return (hop.cold.p50 if hop.cold else 0) + (hop.cold_extra.p50 if hop.cold_extra else 0)


def _cold_p99(hop: Hop) -> float:
    return (hop.cold.p99 if hop.cold else 0) + (hop.cold_extra.p99 if hop.cold_extra else 0)


# ------------------------------------------------------------------------------ template
def render(value: Any) -> str:
    """A CloudFormation string value (``Fn::Join`` of text, ``Ref`` and ``Fn::GetAtt``) as text;
    a reference becomes ``<ref:LogicalId>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(render(p) for p in parts)
        if "Ref" in value:
            return "aws" if value["Ref"] == "AWS::Partition" else f"<ref:{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<ref:{value['Fn::GetAtt'][0]}>"
        if "Fn::ImportValue" in value:
            return "<import>"
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0])
    return json.dumps(value)


_REF = re.compile(r"<ref:([A-Za-z0-9]+)>")


def decision_path(template: dict) -> tuple[str, dict, dict]:
    """(state machine logical id, its definition, the API integration) of the template's decision API."""
    resources = template.get("Resources", {})
    for resource in resources.values():
        if resource.get("Type") != "AWS::ApiGateway::Method":
            continue
        integration = resource.get("Properties", {}).get("Integration", {})
        if "StartSyncExecution" not in render(integration.get("Uri", "")):
            continue
        for text in map(render, (integration.get("RequestTemplates") or {}).values()):
            for ref in _REF.findall(text):
                if resources.get(ref, {}).get("Type") == "AWS::StepFunctions::StateMachine":
                    definition = json.loads(render(resources[ref]["Properties"]["DefinitionString"]))
                    return ref, definition, integration
    raise NoDecisionPath("no API Gateway method of this template starts a state machine with StartSyncExecution")


# ------------------------------------------------------------------------------ hops
def _figure(key: str, where: str) -> Figure:
    figure = FIGURES.get(key)
    if figure is None:
        raise MissingFigure(f"{where}: no latency figure for {key!r} in mdlc/latency_figures.py FIGURES; "
                            "expected a row with its p50, p99 and source before this hop is on the decision path")
    return figure


def _function(resources: dict, resource: str, where: str) -> tuple[str, dict, dict | None]:
    """(logical id, properties, alias properties) of the Lambda a task's resource string names."""
    refs = _REF.findall(resource)
    if not refs:
        raise MissingFigure(f"{where}: task resource {resource!r} names no function of this template")
    logical = refs[0]
    kind = resources.get(logical, {}).get("Type")
    alias = None
    if kind == "AWS::Lambda::Alias":
        alias = resources[logical]["Properties"]
        logical = _REF.findall(render(alias["FunctionName"]))[0]
    elif kind == "AWS::Lambda::Version":
        logical = _REF.findall(render(resources[logical]["Properties"]["FunctionName"]))[0]
    if resources.get(logical, {}).get("Type") != "AWS::Lambda::Function":
        raise MissingFigure(f"{where}: task resource {resource!r} is no Lambda function of this template")
    return logical, resources[logical], alias


def _lambda_hops(name: str, resources: dict, resource: str, where: str) -> tuple[list[Hop], float]:
    """The hops of a Lambda task and its own bound (function timeout, ms)."""
    logical, function, alias = _function(resources, resource, where)
    props = function.get("Properties", {})
    meta = function.get("Metadata", {}).get(LATENCY_METADATA)
    if meta is None:
        raise MissingFigure(f"{where}: Lambda {logical} has no {LATENCY_METADATA} metadata (its compute and "
                            "the calls its handler makes); expected the construct to declare them")
    memory = int(props.get("MemorySize", 128))
    scale = max(1.0, LAMBDA_FULL_VCPU_MB / memory)
    provisioned = bool(alias and (alias.get("ProvisionedConcurrencyConfig") or {}).get(
        "ProvisionedConcurrentExecutions"))
    snap = (props.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions" and alias is not None
    compute = f"measured:{meta['compute']}"
    cold_rate = 0.0 if provisioned else LAMBDA_COLD_START_RATE
    cold = _figure("lambda:SnapStartRestore" if snap else "lambda:InitRuntime", where)
    extra = None if snap else _figure(f"measured:import:{meta['compute']}", where)
    mode = "provisioned" if provisioned else "SnapStart" if snap else "on demand"
    hops = [Hop(f"{name}: Lambda invoke ({memory} MB, {mode})", "lambda:Invoke", _figure("lambda:Invoke", where),
                cold_rate=cold_rate, cold=cold, cold_extra=extra),
            Hop(f"{name}: handler compute", compute, _figure(compute, where), scale=scale)]
    timeouts = meta.get("timeouts_ms") or {}
    cut = meta.get("deadline") or {}
    deadline = (float(cut["budget_ms"]), float(cut["reserve_ms"]), int(cut["step_ms"])) if cut else None
    for call in meta.get("calls", []):
        hops.append(Hop(f"{name}: {call}", call, _figure(call, where), timeout_ms=timeouts.get(call),
                        deadline=deadline if call in cut.get("calls", ()) else None))
        if call == "sagemaker:InvokeEndpoint":
            hops.append(Hop(f"{name}: model in container", "measured:model", _figure("measured:model", where)))
    return hops, float(props.get("Timeout", 3)) * 1000


def _task_hops(name: str, state: dict, resources: dict) -> tuple[list[Hop], float | None]:
    """The hops of a Task state and the longest one attempt can take by itself (None: unbounded)."""
    where = f"state {name!r}"
    resource = render(state.get("Resource", ""))
    dispatch = Hop(f"{name}: Step Functions task", "states:TaskDispatch", _figure("states:TaskDispatch", where))
    if resource.startswith("<ref:") or resource.endswith(":states:::lambda:invoke"):
        target = resource if resource.startswith("<ref:") else render(state["Parameters"]["FunctionName"])
        hops, bound = _lambda_hops(name, resources, target, where)
        return [dispatch, *hops], bound + dispatch.p99 + hops[0].p99
    match = re.search(r":states:::(.+)$", resource)
    if not match:
        raise MissingFigure(f"{where}: task resource {resource!r} is neither a Lambda nor a service integration")
    integration = match.group(1).removesuffix(".sync").removesuffix(".waitForTaskToken")
    if integration.startswith("aws-sdk:"):
        _, service, action = integration.split(":", 2)
        prefix = SDK_SERVICES.get(service)
        if prefix is None:
            raise MissingFigure(f"{where}: no latency figure for the SDK service {service!r} (SDK_SERVICES)")
        key = f"{prefix}:{action[0].upper()}{action[1:]}"
    else:
        key = INTEGRATIONS.get(integration, integration)
    hops = [dispatch, Hop(f"{name}: {key}", key, _figure(key, where))]
    if key == "sagemaker:InvokeEndpoint":
        hops.append(Hop(f"{name}: model in container", "measured:model", _figure("measured:model", where)))
    return hops, None


def _nominal(definition: dict, resources: dict) -> list[Hop]:
    """The hops of the path a valid request takes to its answer (at a Choice: the costlier branch)."""
    states = definition["States"]

    def walk(name: str | None, seen: frozenset[str]) -> list[Hop]:
        if name is None or name in seen:
            return []
        state = states[name]
        seen = seen | {name}
        kind = state["Type"]
        if kind == "Task":
            hops, _ = _task_hops(name, state, resources)
            return hops + walk(state.get("Next"), seen)
        here = [Hop(f"{name} ({kind})", "states:Transition", _figure("states:Transition", f"state {name!r}"))]
        if kind == "Choice":
            branches = [walk(c["Next"], seen) for c in state.get("Choices", [])]
            branches.append(walk(state.get("Default"), seen))
            return here + max(branches, key=lambda hops: sum(h.p50 for h in hops))
        if kind in ("Pass", "Wait"):
            return here + walk(state.get("Next"), seen)
        if kind in ("Succeed", "Fail"):
            return here
        raise MissingFigure(f"state {name!r}: no latency model for a {kind} state on the decision path")

    return walk(definition["StartAt"], frozenset())


def _retry_cost(state: dict) -> tuple[int, float]:
    """(extra attempts, longest total wait in ms) of a state's retriers."""
    attempts, wait = 0, 0.0
    for retrier in state.get("Retry", []):
        n = int(retrier.get("MaxAttempts", 3))
        interval = float(retrier.get("IntervalSeconds", 1))
        rate = float(retrier.get("BackoffRate", 2))
        cap = float(retrier.get("MaxDelaySeconds", math.inf))
        attempts += n
        wait += sum(min(interval * rate**i, cap) for i in range(n)) * 1000
    return attempts, wait


def _worst(definition: dict, resources: dict, workflow_timeout_ms: float) -> tuple[float, list[str]]:
    """The longest time to an end of the workflow, and that path's states."""
    states = definition["States"]
    transition = FIGURES["states:Transition"].p99

    def worst(name: str | None, seen: frozenset[str]) -> tuple[float, list[str]]:
        if name is None or name in seen:
            return 0.0, []
        state, seen = states[name], seen | {name}
        kind = state["Type"]
        nexts = [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]
        if kind == "Choice":
            nexts = [c["Next"] for c in state.get("Choices", [])] + [state.get("Default")]
        own = transition
        if kind == "Task":
            hops, bound = _task_hops(name, state, resources)
            limit = state.get("TimeoutSeconds")
            attempt = min(x for x in (bound, limit * 1000 if limit else None, workflow_timeout_ms) if x is not None)
            extra, wait = _retry_cost(state)
            own = attempt * (1 + extra) + wait
        elif kind == "Wait":
            own += float(state.get("Seconds", workflow_timeout_ms / 1000)) * 1000
        best = max((worst(n, seen) for n in nexts if n), key=lambda r: r[0], default=(0.0, []))
        return own + best[0], [f"{name} ({own:.0f} ms)", *best[1]]

    total, path = worst(definition["StartAt"], frozenset())
    return min(total, workflow_timeout_ms), path


# ------------------------------------------------------------------------------ model
def _samples(hop: Hop, rng: Any, n: int) -> Any:
    import numpy as np

    out = lognormal(hop.figure, rng, n) * hop.scale
    if hop.cold is not None and hop.cold_rate:
        cold = lognormal(hop.cold, rng, n) + (lognormal(hop.cold_extra, rng, n) if hop.cold_extra else 0)
        out = out + np.where(rng.random(n) < hop.cold_rate, cold, 0.0)
    return out


@dataclass
class Outcome:
    """The Monte Carlo's answer times (ms), healthy and with the endpoint hanging, and how many
    healthy requests the fallback decided because of the deadline (a share; None: no deadline)."""

    healthy: Any
    hung: Any | None
    deadline_fallback_share: float | None = None
    timeout_fallback_share: float | None = None


def _simulate(hops: list[Hop], rng: Any, n: int) -> Outcome:
    """The path's answer times: every hop sampled; the feature read and InvokeEndpoint cut at the
    decision function's per-request timeout (its deadline's, :func:`mdlc.latency_deadline.call_timeout`)."""
    import numpy as np

    drawn = [_samples(h, rng, n) for h in hops]
    endpoint = next((i for i, h in enumerate(hops) if h.key == "sagemaker:InvokeEndpoint"), None)
    if endpoint is None or hops[endpoint].timeout_ms is None:
        return Outcome(sum(drawn), None)
    model_at = [i for i, h in enumerate(hops) if h.key == "measured:model" and i == endpoint + 1]
    call = drawn[endpoint] + (drawn[model_at[0]] if model_at else 0)
    rest = [i for i in range(len(hops)) if i != endpoint and i not in model_at]
    deadline = hops[endpoint].deadline
    if deadline is None:  # the fixed timeout alone
        others = sum(drawn[i] for i in rest)
        limit = float(hops[endpoint].timeout_ms)
        return Outcome(others + np.minimum(call, limit), others + limit, None, float(np.mean(call > limit)))
    budget, reserve, step = deadline
    feature = next((i for i in rest if i < endpoint and hops[i].key == "dynamodb:BatchGetItem"
                    and hops[i].deadline is not None), None)
    before = [i for i in rest if i < endpoint and i != feature]
    after = [i for i in rest if i > endpoint]
    share = [RETURN_SHARE.get(hops[i].key, 0.0) for i in before]
    elapsed = sum(drawn[i] * (1 - s) for i, s in zip(before, share, strict=True))
    tail = sum(drawn[i] * s for i, s in zip(before, share, strict=True)) + sum(drawn[i] for i in after)
    cap = np.vectorize(call_timeout, otypes=[float])
    left = budget - reserve - elapsed
    failed = np.zeros(n, dtype=bool)
    if feature is not None:
        read_cap = cap(left, hops[feature].timeout_ms, step)
        failed = (read_cap == 0) | (drawn[feature] > read_cap)
        spent = np.minimum(drawn[feature], read_cap)
        elapsed, left = elapsed + spent, left - spent
    call_cap = cap(left, hops[endpoint].timeout_ms, step)
    skipped = failed | (call_cap == 0)
    late = ~skipped & (call > call_cap)
    by_deadline = call_cap < hops[endpoint].timeout_ms
    healthy = elapsed + np.where(skipped, 0.0, np.minimum(call, call_cap)) + tail
    hung = elapsed + np.where(skipped, 0.0, call_cap) + tail
    return Outcome(healthy, hung, float(np.mean(skipped | (late & by_deadline))),
                   float(np.mean(late & ~by_deadline)))


def model(template: dict, *, samples: int = SAMPLES, seed: int = 0) -> LatencyReport:
    """The latency report of the decision API of one synthesised realtime template."""
    import numpy as np

    machine, definition, integration = decision_path(template)
    resources = template["Resources"]
    api = Hop("API Gateway (SigV4, validator, VTL)", "apigateway:Request", _figure("apigateway:Request", "API"))
    start = Hop("Step Functions StartSyncExecution (Express)", "states:StartSyncExecution",
                _figure("states:StartSyncExecution", machine))
    hops = [api, start, *_nominal(definition, resources)]
    outcome = _simulate(hops, np.random.default_rng(seed), samples)
    props = resources[machine]["Properties"]
    workflow_timeout = float(json.loads(render(props["DefinitionString"])).get("TimeoutSeconds", 300)) * 1000
    integration_timeout = float(integration.get("TimeoutInMillis", 29_000))
    path_worst, path = _worst(definition, resources, workflow_timeout)
    answer = min(path_worst, integration_timeout)
    endpoint = next((h for h in hops if h.key == "sagemaker:InvokeEndpoint"), None)
    return LatencyReport(
        state_machine=machine, hops=hops, p50=float(np.percentile(outcome.healthy, 50)),
        p99=float(np.percentile(outcome.healthy, 99)),
        hung_endpoint_p99=None if outcome.hung is None else float(np.percentile(outcome.hung, 99)),
        worst_ms=api.p99 + start.p99 + answer, path_worst_ms=path_worst,
        integration_timeout_ms=integration_timeout, workflow_timeout_ms=workflow_timeout,
        worst_path=["API Gateway", "StartSyncExecution", *path],
        deadline=None if endpoint is None else endpoint.deadline,
        deadline_fallback_share=outcome.deadline_fallback_share,
        timeout_fallback_share=outcome.timeout_fallback_share)


def check_budgets(assembly: Any, built: list[Any]) -> None:
    """Refuse (TeamFileError) every team whose modelled decision path misses its budget.

    ``assembly`` is what ``app.synth()`` returned, ``built`` the ``TeamStacks`` of the app
    (``stacks.app_builder.build_app``). Called right after the synth, before the CLI deploys."""
    from mdlc.contract import TeamFileError

    for team_stacks in built or []:
        realtime = getattr(team_stacks, "realtime", None)
        team = team_stacks.ctx.team
        if realtime is None or not team.realtime.enabled:
            continue
        template = assembly.get_stack_by_name(realtime.stack_name).template
        report = model(template)
        problems = report.problems(team.realtime.latency_budget_ms, team.realtime.client_timeout_ms)
        if problems:
            raise TeamFileError(team_stacks.ctx.team_file, [f"the decision path ({realtime.stack_name}): {p}"
                                                            for p in problems])
