"""Walk the OpenAPI schema: every route, and a valid example body for it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PUBLIC = {"/v1/auth/token", "/healthz", "/readyz", "/metrics"}
MUTATING = {"post", "put", "patch", "delete"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    operation: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def body_schema(self) -> dict[str, Any] | None:
        content = self.operation.get("requestBody", {}).get("content", {})
        for media in ("application/json", "application/x-www-form-urlencoded"):
            if media in content:
                return dict(content[media]["schema"])
        return None

    def required_query(self) -> list[str]:
        return [
            p["name"]
            for p in self.operation.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        ]

    def header_names(self) -> set[str]:
        return {p["name"] for p in self.operation.get("parameters", []) if p["in"] == "header"}


def routes(spec: dict[str, Any]) -> Iterator[Route]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", *MUTATING} and path not in PUBLIC:
                yield Route(method, path, operation)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A small value that passes the schema's validation (required fields only)."""
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(spec, s).get("type") != "null"]
            return example(spec, options[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example(spec, props[k]) for k in schema.get("required", [])}
    if kind == "array":
        return [example(spec, schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return schema.get("minimum", 0)
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    text = "zt1" + "a" * max(0, schema.get("minLength", 0) - 3)
    return text[: schema.get("maxLength", len(text))]
