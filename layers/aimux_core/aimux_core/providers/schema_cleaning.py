"""Tool JSON schemas rewritten for upstreams that accept only part of JSON Schema.

Claude Code's tool schemas are draft 2020-12 (zod output): ``$schema``, ``additionalProperties:
false`` everywhere, ``exclusiveMinimum``, ``default``, ``pattern``, ``maxLength``, integer bounds of
+-(2^53 - 1); MCP tools add ``$ref``/``$defs``, ``anyOf`` with nulls, type arrays, ``const``,
``propertyNames``, ``format``. One bad keyword anywhere in any tool fails the whole request, so
``clean_schema(schema, profile)`` returns a copy the upstream accepts (the input is never changed).
The walk is structural: a property *named* ``pattern`` or ``default`` is a property, not a keyword.

Profiles:

- ``none``: the schema itself. ``openai``: only the root ``$schema`` goes (OpenAI, OpenRouter).
- ``strict`` (Cerebras, Groq): an allow-list, because Cerebras validates tool schemas like its
  constrained-decoding ``strict`` mode and 400s on every field it does not know ("Unsupported JSON
  schema fields: {'minimum', 'maximum'}", "{'minItems', 'items'}", "{'nullable'}", "Lists of types
  are not supported"). Kept: ``type`` (one name), ``description``, ``properties``, ``required``,
  ``items`` (added as ``{}`` when an array has none), ``enum``, ``anyOf``, ``additionalProperties:
  false``. Type arrays and ``nullable`` become ``anyOf`` with a ``{"type": "null"}`` branch;
  ``oneOf`` is read as ``anyOf``; ``allOf`` is merged; ``const`` becomes a one-value ``enum``.
- ``gemini`` (Gemini's OpenAI endpoint, an OpenAPI 3.0 subset): no ``$schema``, ``$ref``/``$defs``
  (inlined), ``additionalProperties``, ``propertyNames``, ``patternProperties``, ``const`` (a string
  becomes ``enum``), ``default``, ``examples``, ``title``, type arrays (null → ``nullable: true``,
  several types → ``anyOf`` branches that each carry their own keywords), ``format`` other than
  ``enum``/``date-time``/``int32``/``int64``/``float``/``double``, non-string ``enum``s,
  ``exclusiveMinimum``/``Maximum`` (integers: turned into ``minimum``/``maximum``), ``pattern``.
  Every keyword sits only on the type it belongs to (``items`` needs ``ARRAY``, ``required`` needs
  ``OBJECT``), arrays always get ``items``, ``required`` names only defined properties, and a
  nested object without properties (a free-form map) becomes an untyped schema, because Gemini
  rejects an ``OBJECT`` whose ``properties`` are empty below the root.

Constraints that carry meaning (bounds, lengths, ``pattern``, ``format``, ``default``, allowed values
Gemini cannot express) are not lost silently: they are appended to the description, e.g.
``"The file (pattern: ^wf_[a-z0-9-]{6,}$)"``; JavaScript's safe-integer bounds are just dropped.
Local ``$ref``s (``#/$defs/…``, ``#/definitions/…``, any ``#/`` pointer) are inlined; a recursive
reference becomes an untyped schema that says what it stands for (so does anything past a depth of
48 or 20,000 nodes, which only a pathological schema reaches).
"""

from __future__ import annotations

import json
from typing import Any

from ..presets import SchemaProfile

_SAFE_INT = 2**53 - 1
_MAX_DEPTH = 48
_MAX_NODES = 20_000  # inlining shared $defs can multiply a schema; past this, subschemas become untyped
_GEMINI_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}, "number": {"float", "double"}}
_OBJECT = {
    "properties",
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "patternProperties",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
}
_ARRAY = {
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedItems",
}
_STRING = {"minLength", "maxLength", "pattern", "format", "contentEncoding", "contentMediaType"}
_NUMBER = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "format"}
_TYPE_KEYS = {"object": _OBJECT, "array": _ARRAY, "string": _STRING, "integer": _NUMBER, "number": _NUMBER}
_ALL_TYPE_KEYS = _OBJECT | _ARRAY | _STRING | _NUMBER
# Constraints the strict profile cannot send but that tell the model something: kept as hints.
_STRICT_HINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "default",
)
_GEMINI_KEEP = {"array": ("minItems", "maxItems"), "string": ("minLength", "maxLength"),
                "object": ("minProperties", "maxProperties"), "integer": ("minimum", "maximum"),
                "number": ("minimum", "maximum")}  # fmt: skip


def clean_schema(schema: dict[str, Any], profile: SchemaProfile) -> dict[str, Any]:
    """A copy of a tool's JSON schema that the ``profile``'s upstreams accept (see the module docstring)."""
    if profile == "none" or not isinstance(schema, dict):
        return schema
    if profile == "openai":
        return {k: v for k, v in schema.items() if k != "$schema"} if "$schema" in schema else schema
    out = _Cleaner(schema, profile).clean(schema)
    if "type" not in out and "anyOf" not in out:  # function parameters must be an object
        out = {"type": "object", **out}
    if out.get("type") == "object" and "properties" not in out:
        out["properties"] = {}
    return out


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _inferred_type(node: dict[str, Any]) -> str | None:
    if "properties" in node:
        return "object"
    if "items" in node:
        return "array"
    values = node.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, str) or v is None for v in values):
        return "string"
    return None


def _matches(value: Any, kind: str) -> bool:
    """Whether an ``enum`` value belongs to one branch of a multi-type schema."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _with_hints(out: dict[str, Any], description: Any, hints: list[str]) -> None:
    text = description if isinstance(description, str) else ""
    if hints:
        joined = "; ".join(hints)
        text = f"{text} ({joined})" if text else joined[:1].upper() + joined[1:]
    if text:
        out["description"] = text


class _Cleaner:
    """One walk over one schema; ``$ref``s resolve against its root."""

    def __init__(self, root: dict[str, Any], profile: SchemaProfile) -> None:
        self.root = root
        self.gemini = profile == "gemini"
        self.active: list[str] = ["#"]  # the $refs being inlined (and the root), to stop recursion
        self.depth = 0
        self.budget = _MAX_NODES

    # ------------------------------------------------------------------ structure

    def clean(self, schema: Any, *, nested: bool = False) -> dict[str, Any]:
        """Any (sub)schema → its cleaned form; ``nested`` is False only for the root."""
        self.budget -= 1
        if not isinstance(schema, dict) or self.depth > _MAX_DEPTH or self.budget < 0:
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            target = self._lookup(ref)
            if target is None:
                return self.clean(siblings, nested=nested)
            if ref in self.active:
                name = "the whole schema" if ref == "#" else ref.rsplit("/", 1)[-1]
                out: dict[str, Any] = {}
                _with_hints(out, siblings.get("description"), [f"same shape as {name}"])
                return out
            self.active.append(ref)
            try:
                return self.clean({**target, **siblings}, nested=nested)
            finally:
                self.active.pop()
        self.depth += 1
        try:
            return self._node(self._merge_all_of(schema), nested)
        finally:
            self.depth -= 1

    def _lookup(self, ref: str) -> dict[str, Any] | None:
        if not ref.startswith("#"):
            return None  # remote references cannot be fetched here
        node: Any = self.root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else None

    def _merge_all_of(self, schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> dict[str, Any]:
        """``allOf`` parts merged into one node; a part that refers back to itself is skipped."""
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        node = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            refs = set(seen)
            while isinstance(part, dict) and isinstance(part.get("$ref"), str):
                ref = part["$ref"]
                if ref in refs or ref in self.active:
                    part = None
                    break
                refs.add(ref)
                part = {**(self._lookup(ref) or {}), **{k: v for k, v in part.items() if k != "$ref"}}
            if not isinstance(part, dict):
                continue
            part = self._merge_all_of(part, frozenset(refs))
            for key, value in part.items():
                if key == "properties" and isinstance(value, dict):
                    node["properties"] = {**value, **(node.get("properties") or {})}
                elif key == "required" and isinstance(value, list):
                    node["required"] = list(dict.fromkeys([*(node.get("required") or []), *value]))
                else:
                    node.setdefault(key, value)
        return node

    # ------------------------------------------------------------------ one node

    def _node(self, node: dict[str, Any], nested: bool) -> dict[str, Any]:
        types = _types(node)
        nullable = "null" in types or node.get("nullable") is True
        types = [t for t in types if t != "null"]
        branches = node.get("anyOf") if isinstance(node.get("anyOf"), list) else node.get("oneOf")
        if isinstance(branches, list):
            return self._union(node, branches, types, nullable, nested)
        if len(types) > 1:
            return self._union(node, [{"type": t} for t in types], [], nullable, nested)
        kind = types[0] if types else _inferred_type(node)
        return self._single(node, kind, nullable, nested)

    def _union(
        self, node: dict[str, Any], branches: list[Any], types: list[str], nullable: bool, nested: bool
    ) -> dict[str, Any]:
        """``anyOf``/``oneOf``/type arrays: the node's type-specific keywords move into the branches."""
        shared = {k: v for k, v in node.items() if k in _ALL_TYPE_KEYS or k == "enum"}
        kept: list[dict[str, Any]] = []
        for branch in branches:
            if not isinstance(branch, dict):
                continue
            if _types(branch) == ["null"]:
                nullable = True
                continue
            branch = dict(branch)
            if len(types) == 1:
                branch.setdefault("type", types[0])
            kinds = _types(branch)
            for key, value in shared.items():
                if key == "enum" and kinds:
                    value = [v for v in value if any(_matches(v, k) for k in kinds)] if isinstance(value, list) else []
                    if not value:
                        continue
                if not kinds or any(key == "enum" or key in _TYPE_KEYS.get(k, ()) for k in kinds):
                    branch.setdefault(key, value)
            kept.append(branch)
        common = {k: v for k, v in node.items() if k not in shared and k not in ("anyOf", "oneOf", "type")}
        if len(kept) == 1:  # X or null: a single schema, nullable
            merged = {**kept[0], **{k: v for k, v in common.items() if k != "nullable"}}
            if nullable:
                merged["nullable"] = True
            return self.clean(merged, nested=nested)
        cleaned = [self.clean(b, nested=True) for b in kept]
        out: dict[str, Any] = {"anyOf": cleaned} if cleaned else {}
        if nullable:
            if self.gemini:
                out["nullable"] = True
            else:
                cleaned.append({"type": "null"})
        _with_hints(out, common.get("description"), self._common_hints(common))
        return out

    def _common_hints(self, node: dict[str, Any]) -> list[str]:
        hints = []
        if "default" in node:
            hints.append(f"default: {_show(node['default'])}")
        if "const" in node:
            hints.append(f"value: {_show(node['const'])}")
        return hints

    def _single(self, node: dict[str, Any], kind: str | None, nullable: bool, nested: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        hints: list[str] = []
        if kind:
            out["type"] = kind
        allowed = _TYPE_KEYS.get(kind or "", set())
        for key, value in node.items():
            if key == "properties" and kind == "object" and isinstance(value, dict):
                out["properties"] = {name: self.clean(sub, nested=True) for name, sub in value.items()}
            elif key == "items" and kind == "array":
                out["items"] = self._items(value)
            elif key == "additionalProperties" and kind == "object" and value is False and not self.gemini:
                out["additionalProperties"] = False
            elif key in allowed or key == "default":
                self._constraint(key, value, kind, out, hints)
        if kind == "array" and "items" not in out:
            out["items"] = {}
        if kind == "object":
            required = node.get("required")
            names = out.get("properties") or {}
            if isinstance(required, list):
                required = [r for r in required if isinstance(r, str) and r in names]
                if required:
                    out["required"] = required
            if self.gemini and nested and not names:  # a free-form map: Gemini rejects empty OBJECTs
                out = {k: v for k, v in out.items() if k not in ("type", "properties")}
                hints.insert(0, "a JSON object")
        self._enum(node, kind, out, hints)
        if nullable and self.gemini:
            out["nullable"] = True
        _with_hints(out, node.get("description"), hints)
        if nullable and not self.gemini:
            description = out.pop("description", None)
            out = {"anyOf": [out, {"type": "null"}]}
            if description:
                out["description"] = description
        return out

    def _items(self, value: Any) -> dict[str, Any]:
        if isinstance(value, list):  # the old tuple form
            cleaned = [self.clean(v, nested=True) for v in value]
            return cleaned[0] if len(cleaned) == 1 else {"anyOf": cleaned} if cleaned else {}
        return self.clean(value, nested=True) if isinstance(value, dict) else {}

    def _constraint(self, key: str, value: Any, kind: str | None, out: dict[str, Any], hints: list[str]) -> None:
        """A type-specific validation keyword: kept, converted, turned into a hint, or dropped."""
        if key in ("exclusiveMinimum", "exclusiveMaximum") and kind == "integer" and type(value) is int:
            key, value = ("minimum", value + 1) if key == "exclusiveMinimum" else ("maximum", value - 1)
        if key in ("minimum", "maximum") and _is_safe_bound(value):
            return
        if not self.gemini:
            if key in _STRICT_HINTS:
                hints.append(f"{key}: {_show(value)}")
            elif key == "uniqueItems" and value is True:
                hints.append("unique items")
            return
        if key in _GEMINI_KEEP.get(kind or "", ()) and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
        elif key == "format" and isinstance(value, str):
            if value in _GEMINI_FORMATS.get(kind or "", ()):
                out["format"] = value
            else:
                hints.append(f"format: {value}")
        elif key in ("pattern", "default", "multipleOf", "exclusiveMinimum", "exclusiveMaximum"):
            hints.append(f"{key}: {_show(value)}")
        elif key == "uniqueItems" and value is True:
            hints.append("unique items")

    def _enum(self, node: dict[str, Any], kind: str | None, out: dict[str, Any], hints: list[str]) -> None:
        values = node.get("enum")
        if not isinstance(values, list):
            values = [node["const"]] if "const" in node else None
        if values is None:
            return
        if not self.gemini:
            out["enum"] = list(values)
            return
        strings = [v for v in values if v is not None]
        if strings and all(isinstance(v, str) for v in strings) and kind in (None, "string"):
            out["type"] = "string"
            out["enum"] = strings
            if len(strings) < len(values):
                out["nullable"] = True
        else:
            hints.append("one of: " + ", ".join(_show(v) for v in values))


def _is_safe_bound(value: Any) -> bool:
    """JavaScript's ``Number.MAX_SAFE_INTEGER`` bounds (zod's ``int()``) say nothing to a model."""
    return isinstance(value, int | float) and abs(value) >= _SAFE_INT
