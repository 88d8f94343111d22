"""Resolve CloudFormation intrinsic functions in a synthesised template.

Supports what CDK emits: Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split,
Fn::ImportValue, Fn::If/Fn::Equals/Fn::Not/Fn::And/Fn::Or/Condition, Fn::FindInMap,
Fn::Base64, Fn::GetAZs and the pseudo parameters.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(Exception):
    """The template uses something the harness cannot resolve or create."""


class Resolver:
    """Evaluates intrinsics given lookups for references, attributes and exports."""

    def __init__(self, *, pseudo: dict[str, Any], ref: Callable[[str], Any],
                 get_att: Callable[[str, str], Any], import_value: Callable[[str], Any],
                 conditions: dict | None = None, mappings: dict | None = None) -> None:
        self.pseudo = pseudo
        self._ref = ref
        self._get_att = get_att
        self._import_value = import_value
        self._conditions = conditions or {}
        self._mappings = mappings or {}
        self._condition_values: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic replaced by its value (AWS::NoValue removes keys)."""
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """Value of a named template condition."""
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._condition_values[name] = bool(self.resolve(self._conditions[name]))
        return self._condition_values[name]

    def _fn_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        return self._ref(name)

    def _fn_get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = argument[0], self.resolve(argument[1])
        return self._get_att(logical_id, attribute)

    def _fn_join(self, argument: list) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            template, variables = argument[0], self.resolve(argument[1])
        else:
            template, variables = argument, {}

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return str(self._get_att(logical_id, attribute))
            return str(self._fn_ref(name))

        return _SUB_VARIABLE.sub(substitute, template).replace("${!", "${")

    def _fn_select(self, argument: list) -> Any:
        index, items = self.resolve(argument[0]), self.resolve(argument[1])
        return items[int(index)]

    def _fn_split(self, argument: list) -> list[str]:
        delimiter, text = argument[0], self.resolve(argument[1])
        return str(text).split(delimiter)

    def _fn_import_value(self, argument: Any) -> Any:
        return self._import_value(self.resolve(argument))

    def _fn_if(self, argument: list) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, argument: list) -> bool:
        left, right = self.resolve(argument)
        return left == right

    def _fn_not(self, argument: list) -> bool:
        return not self._truth(argument[0])

    def _fn_and(self, argument: list) -> bool:
        return all(self._truth(item) for item in argument)

    def _fn_or(self, argument: list) -> bool:
        return any(self._truth(item) for item in argument)

    def _truth(self, item: Any) -> bool:
        return bool(self.resolve(item))

    def _fn_condition(self, name: str) -> bool:
        return self.condition(name)

    def _fn_find_in_map(self, argument: list) -> Any:
        name, top, second = (self.resolve(item) for item in argument)
        return self._mappings[name][top][second]

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_get_azs(self, argument: Any) -> list[str]:
        region = self.resolve(argument) or self.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    _FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Join": _fn_join,
        "Fn::Sub": _fn_sub,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::ImportValue": _fn_import_value,
        "Fn::If": _fn_if,
        "Fn::Equals": _fn_equals,
        "Fn::Not": _fn_not,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
        "Condition": _fn_condition,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Base64": _fn_base64,
        "Fn::GetAZs": _fn_get_azs,
    }


def references(value: Any) -> set[str]:
    """Logical IDs (or pseudo parameters) that `value` refers to."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item.partition(".")[0] if isinstance(item, str) else item[0])
            elif key == "Fn::Sub":
                template = item[0] if isinstance(item, list) else item
                found |= {name.partition(".")[0] for name in _SUB_VARIABLE.findall(template)}
            found |= references(item)
    return found


def imports(value: Any) -> list[Any]:
    """Every Fn::ImportValue argument in `value` (unresolved)."""
    found: list[Any] = []
    if isinstance(value, list):
        for item in value:
            found += imports(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Fn::ImportValue":
                found.append(item)
            found += imports(item)
    return found
