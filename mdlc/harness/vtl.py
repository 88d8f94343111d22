"""API Gateway mapping templates: VTL rendered by ``airspeed-ext`` with API Gateway's variables.

The variables follow the API Gateway developer guide ("Variables for data transformations
for API Gateway", the mapping template reference):

* ``$input.body``: the raw payload as a Java String (``length()`` counts UTF-16 units);
* ``$input.json(x)``: the JSONPath ``x`` evaluated on the payload (``{}`` when empty), as a
  JSON string (compact, as API Gateway writes it; a path that matches nothing gives ``""``);
* ``$input.path(x)``: the same match as an object templates can walk (``.size()``,
  ``.get()``, ``.keySet()``…); a payload that is not JSON is the string itself;
* ``$input.params()`` / ``$input.params(x)``: all request parameters, or the one named
  ``x`` from the path, the query string or the headers, searched in that order;
* ``$util.escapeJavaScript``, ``parseJson``, ``urlEncode``, ``urlDecode``,
  ``base64Encode``, ``base64Decode`` (no other ``$util`` function exists on AWS; an unknown
  one renders as nothing, as on AWS);
* ``$context.*`` and ``$stageVariables.*`` as given; ``#set($context.responseOverride.status
  = …)`` and ``requestOverride`` are read back after rendering.

JSONPath is ``jsonpath-ng``'s extended dialect (filters, as Jayway's, which API Gateway
runs); each expression is compiled once (its PLY parser is rebuilt on every ``parse``), and
so is each template. A definite path (``$.a.b``, ``$.a[0]``) gives one value, an indefinite
one (``[*]``, ``..``, filters, slices, unions) a list, as Jayway does.

Maps print as Java maps (``{a=1, b=2}``) and lists as JSON, as API Gateway's do.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed
from jsonpath_ng import Child, Fields, Index, Root, This
from jsonpath_ng.ext import parse as jsonpath_parse


# ------------------------------------------------------------------- Java values
class JavaString(str):
    """A ``java.lang.String`` for VTL: the String methods templates call on strings."""

    def length(self) -> int:
        return len(_utf16_units(self))

    def isEmpty(self) -> bool:  # noqa: N802 - Java's names from here on
        return not self

    def contains(self, other: Any) -> bool:
        return str(other) in self

    def startsWith(self, prefix: str) -> bool:  # noqa: N802
        return self.startswith(prefix)

    def endsWith(self, suffix: str) -> bool:  # noqa: N802
        return self.endswith(suffix)

    def equals(self, other: Any) -> bool:
        return isinstance(other, str) and str(self) == str(other)

    def equalsIgnoreCase(self, other: Any) -> bool:  # noqa: N802
        return isinstance(other, str) and self.lower() == other.lower()

    def indexOf(self, other: str) -> int:  # noqa: N802
        return self.find(other)

    def lastIndexOf(self, other: str) -> int:  # noqa: N802
        return self.rfind(other)

    def charAt(self, index: int) -> JavaString:  # noqa: N802
        return JavaString(self[index])

    def matches(self, regex: str) -> bool:
        return re.fullmatch(regex, self) is not None

    def trim(self) -> JavaString:
        return JavaString(self.strip())

    def toLowerCase(self) -> JavaString:  # noqa: N802
        return JavaString(self.lower())

    def toUpperCase(self) -> JavaString:  # noqa: N802
        return JavaString(self.upper())

    def concat(self, other: str) -> JavaString:
        return JavaString(self + other)

    def replace(self, old: str, new: str, count: int = -1) -> JavaString:  # type: ignore[override]
        return JavaString(str.replace(self, old, new, count))

    def replaceAll(self, regex: str, replacement: str) -> JavaString:  # noqa: N802
        return JavaString(re.sub(regex, _java_replacement(replacement), self))

    def replaceFirst(self, regex: str, replacement: str) -> JavaString:  # noqa: N802
        return JavaString(re.sub(regex, _java_replacement(replacement), self, count=1))

    def split(self, regex: str = " ", limit: int = 0) -> JavaList:  # type: ignore[override]
        """Java's ``split(regex)``: a regular expression, trailing empty strings dropped."""
        parts = re.split(regex, self, maxsplit=max(limit - 1, 0))
        while limit == 0 and parts and parts[-1] == "":
            parts.pop()
        return JavaList(JavaString(p) for p in parts)

    def substring(self, start: int, end: int | None = None) -> JavaString:
        return JavaString(self[start:end])

    def toString(self) -> JavaString:  # noqa: N802
        return self


class JavaList(list):
    """A JSON array (or a Java list) for VTL; prints as JSON, as API Gateway's do."""

    def size(self) -> int:
        return len(self)

    def get(self, index: int) -> Any:
        return self[index]

    def isEmpty(self) -> bool:  # noqa: N802
        return not self

    def contains(self, value: Any) -> bool:
        return value in self

    def add(self, value: Any) -> bool:
        self.append(value)
        return True

    def __str__(self) -> str:
        return json.dumps(self, separators=(",", ":"), ensure_ascii=False, default=str)


class JavaSet(JavaList):
    """``keySet()``: prints as Java prints a set (``[a, b]``)."""

    def __str__(self) -> str:
        return "[" + ", ".join(_java_str(v) for v in self) + "]"


class JavaMap(dict):
    """A JSON object (or a Java map) for VTL; prints as a Java map (``{a=1, b=2}``)."""

    def size(self) -> int:
        return len(self)

    def isEmpty(self) -> bool:  # noqa: N802
        return not self

    def containsKey(self, key: Any) -> bool:  # noqa: N802
        return key in self

    def keySet(self) -> JavaSet:  # noqa: N802
        return JavaSet(self.keys())

    def values(self) -> JavaList:  # type: ignore[override]
        return JavaList(dict.values(self))

    def put(self, key: Any, value: Any) -> Any:
        previous = dict.get(self, key)
        self[key] = value
        return previous

    def putAll(self, other: dict) -> None:  # noqa: N802
        self.update(other)

    def toString(self) -> str:  # noqa: N802
        return str(self)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}={_java_str(v)}" for k, v in self.items()) + "}"


def _java_str(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def to_vtl(value: Any) -> Any:
    """JSON-like Python data as the Java objects templates see (strings, lists, maps)."""
    if isinstance(value, dict):
        return JavaMap((k, to_vtl(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return JavaList(to_vtl(v) for v in value)
    if isinstance(value, str) and not isinstance(value, JavaString):
        return JavaString(value)
    return value


def _java_replacement(replacement: str) -> str:
    """A Java ``replaceAll`` replacement (``$1`` groups, ``\\`` escapes) as Python's."""
    return re.sub(r"\\(.)|\$(\d)", lambda m: m.group(1).replace("\\", "\\\\") if m.group(1) is not None
                  else f"\\g<{m.group(2)}>", replacement)


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-be", errors="surrogatepass")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


# ------------------------------------------------------------------------- $util
def escape_javascript(value: Any) -> str:
    """``$util.escapeJavaScript`` as API Gateway runs it (Java ``StringEscapeUtils.escapeJavaScript``).

    Escapes ``'`` as ``\\'`` (not a JSON escape, which templates must undo), ``"``, ``\\``
    and ``/``, control characters, and every non-ASCII UTF-16 unit as ``\\uXXXX``.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    out = []
    named = {"\b": "\\b", "\n": "\\n", "\t": "\\t", "\f": "\\f", "\r": "\\r",
             "'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/"}
    for unit in _utf16_units(text):
        char = chr(unit)
        if char in named:
            out.append(named[char])
        elif unit < 0x20 or unit > 0x7F:
            out.append(f"\\u{unit:04X}")
        else:
            out.append(char)
    return "".join(out)


class Util:
    """``$util``: the six functions API Gateway provides."""

    def escapeJavaScript(self, value: Any) -> JavaString:  # noqa: N802 - the VTL names
        return JavaString(escape_javascript(value))

    def parseJson(self, text: Any) -> Any:  # noqa: N802
        """Stringified JSON as an object (raises on anything else: the template fails, a 500)."""
        if not isinstance(text, str):
            raise ValueError(f"$util.parseJson takes a JSON string; got {_java_str(text)!r}")
        return to_vtl(json.loads(text))

    def urlEncode(self, text: Any) -> JavaString:  # noqa: N802
        """Java's ``URLEncoder.encode(s, "UTF-8")``: form encoding, ``*`` kept, ``~`` encoded."""
        return JavaString(quote_plus(_java_str(text), safe="*").replace("~", "%7E"))

    def urlDecode(self, text: Any) -> JavaString:  # noqa: N802
        return JavaString(unquote_plus(_java_str(text)))

    def base64Encode(self, text: Any) -> JavaString:  # noqa: N802
        return JavaString(base64.b64encode(_java_str(text).encode("utf-8")).decode("ascii"))

    def base64Decode(self, text: Any) -> JavaString:  # noqa: N802
        return JavaString(base64.b64decode(_java_str(text), validate=True).decode("utf-8"))


# ------------------------------------------------------------------------ $input
@lru_cache(maxsize=1024)
def compile_jsonpath(path: str) -> tuple[Any, bool]:
    """The compiled expression and whether it is definite (one value, not a list)."""
    expression = jsonpath_parse(path)
    return expression, _definite(expression)


def _definite(node: Any) -> bool:
    if isinstance(node, Root | This):
        return True
    if isinstance(node, Child):
        return _definite(node.left) and _definite(node.right)
    if isinstance(node, Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if type(node) is Index:
        return len(node.indices) == 1
    return False


_UNSET = object()


class Input:
    """``$input``: the payload and the request parameters of one rendering."""

    def __init__(self, body: str, params: dict[str, dict[str, str]] | None = None) -> None:
        self._raw = body or ""
        self._params = to_vtl({"path": {}, "querystring": {}, "header": {}, **(params or {})})
        self._parsed: Any = _UNSET

    @property
    def body(self) -> JavaString:
        return JavaString(self._raw)

    def json(self, path: str = "$") -> JavaString:
        found = self._find(path)
        return JavaString(json.dumps("" if found is None else found, separators=(",", ":"), ensure_ascii=False))

    def path(self, path: str) -> Any:
        return to_vtl(self._find(path))

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for kind in ("path", "querystring"):
            if name in self._params[kind]:
                return self._params[kind][name]
        # Header names are case-insensitive (HTTP); path and query string names are not.
        headers = {str(k).lower(): v for k, v in self._params["header"].items()}
        return headers.get(str(name).lower(), JavaString(""))

    def _find(self, path: str) -> Any:
        if self._parsed is _UNSET:
            try:
                # An empty payload is ``{}`` to JSONPath (``$input.json('$')`` gives ``{}``).
                self._parsed = json.loads(self._raw or "{}")
            except ValueError:
                self._parsed = self._raw  # not JSON: the payload is the string itself
        expression, definite = compile_jsonpath(str(path))
        found = [match.value for match in expression.find(self._parsed)]
        if definite:
            return found[0] if found else None
        return found or None

    def __str__(self) -> str:
        return "{}"


# ----------------------------------------------------------------------- render
#: airspeed reads a ``#`` that starts no directive together with the punctuation after it
#: as text, a ``$`` included (``"#$id"`` printed ``#$id``), where Velocity prints ``#``
#: and the reference's value. Such a ``#`` is swapped for a Unicode noncharacter before
#: parsing and back after rendering.
_LITERAL_HASH = re.compile(r"(?<![\\#*])#(?=[^{}a-zA-Z0-9#*]*\$)")
_HASH_STAND_IN = "\ufdd0"


@lru_cache(maxsize=256)
def _compiled(template: str) -> tuple[airspeed.Template, bool]:
    # A compiled template keeps no state of a rendering (that lives in the namespace).
    source, swapped = _LITERAL_HASH.subn(_HASH_STAND_IN, template)
    compiled = airspeed.Template(source)
    compiled.ensure_compiled()
    return compiled, bool(swapped)


def render(template: str, *, body: str, context: dict[str, Any], params: dict[str, dict[str, str]] | None = None,
           stage_variables: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """``template`` rendered for one request or response: (text, ``$context`` after rendering).

    The caller reads ``requestOverride`` / ``responseOverride`` from the returned context,
    which the template may have set; ``context`` itself is not changed.
    """
    context = to_vtl(copy.deepcopy(context))
    context.setdefault("requestOverride", to_vtl({"header": {}, "path": {}, "querystring": {}}))
    context.setdefault("responseOverride", to_vtl({"header": {}, "status": 0}))
    namespace = {"input": Input(body, params), "util": Util(), "context": context,
                 "stageVariables": to_vtl(dict(stage_variables or {}))}
    compiled, swapped = _compiled(template)
    text = compiled.merge(namespace)
    return (text.replace(_HASH_STAND_IN, "#") if swapped else text), context


__all__ = ["Input", "JavaList", "JavaMap", "JavaString", "Util", "compile_jsonpath", "escape_javascript", "render",
           "to_vtl"]
