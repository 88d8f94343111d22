"""What the harness builds once and reuses, where moto rebuilds it on every call.

None of it changes what a call does; each only removes work a request repeated:

- **boto3 clients** per service, region and principal (`ClientCache`). A client costs about
  12 ms to create (service model, endpoint rules, a copy of the event hooks); the harness
  and moto's Step Functions executor created one for almost every call they made (a
  decision request made about ten).
- **parsed state machine definitions** (`cached_asl_parse`). moto parses the definition
  with its ANTLR grammar for every execution (about 50 ms for the decision workflow). The
  parsed program is shared by every execution of the same definition: its components keep
  no execution state (that lives in each execution's `Environment`), as moto's own Map and
  Parallel states already rely on when their iterations evaluate one program in parallel.
- **botocore's data loader** (`botocore_session`), shared by the session of every principal:
  each new session read the endpoint rules and service models from disk again.
- **the action lookup of moto's dispatch** (`action_lookup_patch`): `BaseResponse.call_action`
  listed every function of the response class (`inspect.getmembers`) on every request, only to
  ask whether the action is one of them; the lookup asks that of the one name.
- **compiled JSONPath expressions** (`jsonpath_patches`) of the executor's paths
  (`InputPath`, `Parameters`' `.$` fields, `ResultPath`...): `jsonpath_ng.parse` regenerates
  its PLY parser on every call. (API Gateway's `$input.path`/`$input.json` compile theirs once
  in `mdlc.harness.vtl`.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session


class ClientCache:
    """boto3 clients made once per key and shared: botocore clients are thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The client cached under `key`, made by `make()` the first time."""
        with self._lock:
            client = self._clients.get(key)
        if client is None:
            client = make()
            with self._lock:
                client = self._clients.setdefault(key, client)
        return client


class ExecutorBoto3:
    """Stands in for `boto3` in moto's `boto_client_for` (the Step Functions executor's clients).

    `principal()` gives the role the calling thread's execution runs as and the client
    arguments carrying its credentials (none when IAM is not evaluated); the client is made
    once per service, region and role.
    """

    def __init__(self, cache: ClientCache,
                 principal: Callable[[], tuple[str | None, dict[str, Any]]] | None = None) -> None:
        self._cache = cache
        self._principal = principal

    def client(self, *args: Any, **kwargs: Any) -> Any:
        role, credentials = self._principal() if self._principal is not None else (None, {})
        kwargs.update(credentials)
        key = ("executor", args, kwargs.get("service_name"), kwargs.get("region_name"),
               kwargs.get("endpoint_url"), role)
        return self._cache.get(key, lambda: boto3.client(*args, **kwargs))


_LOADER: botocore.loaders.Loader | None = None
_LOADER_LOCK = threading.Lock()


def botocore_session() -> botocore.session.Session:
    """A new botocore session whose data loader (service models, endpoints) is shared."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
        session = botocore.session.get_session()
        session.register_component("data_loader", _LOADER)
        # Each boto3.Session appends its own data folder to the shared search path: drop the repeats.
        _LOADER.search_paths[:] = list(dict.fromkeys(_LOADER.search_paths))
    return session


def cached_asl_parse(parse: Callable[[str], Any], maxsize: int = 256) -> Callable[[str], Any]:
    """moto's `AmazonStateLanguageParser.parse`, once per definition (a refused one is not kept)."""
    return lru_cache(maxsize=maxsize)(parse)


def jsonpath_patches() -> list[Any]:
    """Patches compiling each JSONPath expression of moto's Step Functions executor once
    (`jsonpath_ng`: paths, ResultPath)."""
    from unittest import mock

    return [
        mock.patch("moto.stepfunctions.parser.asl.utils.json_path.parse", _jsonpath_ng_ext_parse),
        mock.patch("moto.stepfunctions.parser.asl.component.common.path.result_path.parse", _jsonpath_ng_parse),
    ]


# A parsed expression is immutable: `find`, `update_or_create` change the data, not the expression.
@lru_cache(maxsize=1024)
def _jsonpath_ng_ext_parse(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


@lru_cache(maxsize=1024)
def _jsonpath_ng_parse(path: str) -> Any:
    from jsonpath_ng import parse

    return parse(path)


class _FunctionNames:
    """``name in names``: whether ``clazz.<name>`` is a function, as ``name in
    method_names_from_class(clazz)`` answers (the names ``inspect.getmembers`` gives with
    ``inspect.isfunction``), for the one name asked instead of all of them."""

    __slots__ = ("_clazz",)

    def __init__(self, clazz: type) -> None:
        self._clazz = clazz

    def __contains__(self, name: object) -> bool:
        import inspect

        return isinstance(name, str) and inspect.isfunction(getattr(self._clazz, name, None))


def action_lookup_patch() -> Any:
    """moto's ``BaseResponse.call_action`` asks ``action in method_names_from_class(cls)``."""
    from unittest import mock

    return mock.patch("moto.core.responses.method_names_from_class", _FunctionNames)
