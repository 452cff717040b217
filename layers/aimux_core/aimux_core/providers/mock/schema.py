"""Plausible example values for a JSON Schema, so mock tool calls and structured output validate.

Covers what tool schemas and structured-output schemas use in practice: ``type`` (also as a list),
``enum``/``const``/``default``, ``anyOf``/``oneOf``/``allOf``, local ``$ref`` (``#/$defs/...``,
``#/definitions/...``), string formats, numeric bounds, ``minItems``/``maxItems`` and
``minLength``/``maxLength``. Objects get their ``required`` properties only, which is the smallest
document a validator accepts. Not a validator and not exhaustive: ``pattern`` and ``multipleOf`` are
ignored, and recursion stops at a fixed depth.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 8
_FORMATS = {
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "email": "mock@example.com",
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_PATH_NAMES = frozenset({"path", "file_path", "filepath", "file", "filename", "notebook_path"})
_DIR_NAMES = frozenset({"dir", "directory", "cwd", "workdir", "working_directory"})


class ExampleBuilder:
    """Builds one example document; ``text`` is the value used for free-form strings."""

    def __init__(self, root: dict[str, Any], text: str = "mock") -> None:
        self._root = root
        self._text = text

    def build(self) -> Any:
        return self.value(self._root, "", 0)

    def value(self, schema: Any, name: str, depth: int) -> Any:
        """An instance of ``schema``; ``name`` (the property name) steers string content."""
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None if depth > _MAX_DEPTH else self._text
        schema = self._resolve(schema, depth)
        for key in ("const", "default"):
            if key in schema:
                return schema[key]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            options = [o for o in schema.get(key) or [] if isinstance(o, dict)]
            if options:
                usable = [o for o in options if o.get("type") != "null"] or options
                return self.value(usable[0], name, depth + 1)
        kind = _type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return self._string(schema, name)

    def _resolve(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """Follow a local ``$ref`` and merge ``allOf`` parts into one schema."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self._root
            for step in ref[2:].split("/"):
                target = target.get(step) if isinstance(target, dict) else None
            if isinstance(target, dict) and depth <= _MAX_DEPTH:
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**self._resolve(target, depth + 1), **rest}
        parts = schema.get("allOf")
        if isinstance(parts, list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for raw in parts:
                if not isinstance(raw, dict):
                    continue
                part = self._resolve(raw, depth + 1)
                merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
                merged["required"] = [*merged.get("required", []), *part.get("required", [])]
                merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
            schema = merged
        return schema

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        return {
            key: self.value(properties.get(key, {}), key, depth + 1)
            for key in dict.fromkeys(schema.get("required") or [])
            if isinstance(key, str)
        }

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {"type": "string"}
        count = max(1, int(schema.get("minItems", 1)), len(prefix))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [self.value(prefix[i] if i < len(prefix) else items, name, depth + 1) for i in range(count)]

    def _string(self, schema: dict[str, Any], name: str) -> str:
        lowered = name.lower()
        if schema.get("format") in _FORMATS:
            text = _FORMATS[schema["format"]]
        elif lowered in _PATH_NAMES or lowered.endswith("_path"):
            text = "/tmp/aimux-mock.txt"
        elif lowered in _DIR_NAMES:
            text = "/tmp"
        elif lowered in ("url", "uri") or lowered.endswith("_url"):
            text = "https://example.com/"
        else:
            text = self._text
        text = text.ljust(int(schema.get("minLength", 0)), "x")
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    """1 if the bounds allow it, else the nearest bound (nudged past an exclusive one)."""
    value: int | float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(ex_low, int | float) and value <= ex_low:
        value = ex_low + 1 if integer else ex_low + 0.5
    if isinstance(high, int | float) and value > high:
        value = high
    if isinstance(ex_high, int | float) and value >= ex_high:
        value = ex_high - 1 if integer else ex_high - 0.5
    if integer:
        return int(value) if float(value).is_integer() else int(value) + 1
    return value
