"""Validate request and response bodies against the REST OpenAPI subset (3.0 → JSON Schema)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "rest-subset.openapi.json"
_MAX_ERRORS_PER_BODY = 5


def to_json_schema(node: Any) -> Any:
    """Translate OpenAPI 3.0 schema dialect into draft-7 JSON Schema, recursively.

    OpenAPI 3.0 spells "may be null" as ``nullable: true`` next to ``type``; JSON Schema
    wants ``null`` among the types.  A nullable ``$ref`` / ``oneOf`` gets an ``anyOf`` with
    ``{"type": "null"}`` because it has no ``type`` to extend.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=1)
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The raw OpenAPI document (cached: it is 700 kB and read by every fake)."""
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _converted_components(path: Path = SPEC_PATH) -> dict[str, Any]:
    return to_json_schema(load_spec(path)["components"])


def example(name: str) -> Any:
    """A deep copy of ``components/examples/<name>/value``: real GitHub-shaped JSON."""
    return copy.deepcopy(load_spec()["components"]["examples"][name]["value"])


class OpenAPIChecker:
    """Looks up an operation by method + path template and validates bodies against it."""

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        self._spec = load_spec(spec_path)
        self._components = _converted_components(spec_path)
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        """The operation object, or None when the subset does not document it."""
        return self._spec["paths"].get(template, {}).get(method.lower())

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            parts = node["$ref"].removeprefix("#/").split("/")
            node = functools.reduce(lambda acc, key: acc[key], parts, self._spec)
        return node

    def _errors(self, schema: dict[str, Any], instance: Any, where: str) -> list[str]:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            root = {**to_json_schema(schema), "components": self._components}
            validator = jsonschema.Draft7Validator(root)
            self._validators[key] = validator
        found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [
            f"{where}: {err.message[:300]} at /{'/'.join(str(p) for p in err.absolute_path)}"
            for err in found[:_MAX_ERRORS_PER_BODY]
        ]

    def check_request(
        self, method: str, template: str, body: Any, *, has_body: bool
    ) -> list[str]:
        """Violations of the operation's requestBody schema (empty list when fine)."""
        op = self.operation(method, template)
        if op is None or "requestBody" not in op:
            return []
        request_body = self._deref(op["requestBody"])
        where = f"{method.upper()} {template} request"
        if not has_body:
            return [f"{where}: body required but missing"] if request_body.get("required") else []
        media = request_body.get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            return []
        return self._errors(media["schema"], body, where)

    def check_response(self, method: str, template: str, status: int, body: Any) -> list[str]:
        """Violations of the documented JSON schema for that status; undocumented → none."""
        op = self.operation(method, template)
        if op is None:
            return []
        response = op.get("responses", {}).get(str(status))
        if response is None:
            return []
        media = self._deref(response).get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            return []
        return self._errors(media["schema"], body, f"{method.upper()} {template} {status}")
