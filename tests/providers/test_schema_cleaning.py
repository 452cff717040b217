"""Tool-schema cleaning per upstream profile: every Claude Code tool schema, plus the MCP-style
constructs (refs, unions, nulls, const, maps) that make Gemini and Cerebras answer 400."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimux_core.providers.schema_cleaning import clean_schema

FIXTURE = Path(__file__).parent.parent / "fixtures" / "claude_code" / "request_tool_turn1.json"
CLAUDE_CODE_TOOLS: dict[str, dict[str, Any]] = {
    tool["name"]: tool["input_schema"] for tool in json.loads(FIXTURE.read_text())["body"]["tools"]
}

# Keywords each profile must never emit, anywhere a keyword can be.
GEMINI_ALLOWED = {"type", "description", "properties", "required", "items", "enum", "anyOf", "nullable", "format",
                  "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "minProperties",
                  "maxProperties"}  # fmt: skip
STRICT_ALLOWED = {"type", "description", "properties", "required", "items", "enum", "anyOf", "additionalProperties"}


def keywords(schema: Any) -> list[tuple[str, str, Any]]:
    """Every (path, keyword, value) of a schema, walking only places that hold subschemas."""
    found: list[tuple[str, str, Any]] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            found.append((path, key, value))
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    walk(sub, f"{path}.properties.{name}")
            elif key in ("items", "additionalProperties", "not"):
                walk(value, f"{path}.{key}")
            elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
                for i, sub in enumerate(value):
                    walk(sub, f"{path}.{key}[{i}]")

    walk(schema, "$")
    return found


def check_gemini(schema: dict[str, Any]) -> None:
    assert schema["type"] == "object"
    for path, key, value in keywords(schema):
        assert key in GEMINI_ALLOWED, f"{path}: {key} is not in Gemini's schema subset"
        node = _node_at(schema, path)
        if key == "type":
            assert isinstance(value, str) and value != "null", f"{path}: type {value!r}"
        if key in ("properties", "required"):
            assert node.get("type") == "object", f"{path}: {key} outside an OBJECT"
        if key == "required":
            assert set(value) <= set(node["properties"]), f"{path}: required names an undefined property"
        if key in ("items", "minItems", "maxItems"):
            assert node.get("type") == "array", f"{path}: {key} outside an ARRAY"
        if key == "enum":
            assert node.get("type") == "string" and all(isinstance(v, str) for v in value)
        if key == "format":
            assert value in ("enum", "date-time", "int32", "int64", "float", "double")
        if node.get("type") == "array":
            assert "items" in node, f"{path}: ARRAY without items"
        if path != "$" and node.get("type") == "object":
            assert node.get("properties"), f"{path}: nested OBJECT with empty properties"


def check_strict(schema: dict[str, Any]) -> None:
    assert schema["type"] == "object"
    for path, key, value in keywords(schema):
        assert key in STRICT_ALLOWED, f"{path}: {key} is not accepted by the strict profile"
        if key == "type":
            assert isinstance(value, str), f"{path}: type lists are rejected by Cerebras"
        if key == "additionalProperties":
            assert value is False
        if _node_at(schema, path).get("type") == "array":
            assert "items" in _node_at(schema, path)


def _node_at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = schema
    for part in path.split(".")[1:]:
        if "[" in part:
            name, index = part[:-1].split("[")
            node = node[name][int(index)]
        else:
            node = node[part]
    return node


@pytest.mark.parametrize("name", sorted(CLAUDE_CODE_TOOLS))
@pytest.mark.parametrize("profile", ["none", "openai", "strict", "gemini"])
def test_every_claude_code_tool_schema(name: str, profile: str) -> None:
    original = CLAUDE_CODE_TOOLS[name]
    before = copy.deepcopy(original)
    cleaned = clean_schema(original, profile)  # type: ignore[arg-type]
    assert original == before, "the input schema must never be mutated"
    json.dumps(cleaned)
    if profile == "none":
        assert cleaned == original
    elif profile == "openai":
        assert "$schema" not in cleaned and cleaned == {k: v for k, v in original.items() if k != "$schema"}
    elif profile == "strict":
        check_strict(cleaned)
    else:
        check_gemini(cleaned)
    if profile != "none":  # properties and required survive every profile
        assert list(cleaned.get("properties", {})) == list(original.get("properties", {}))
        assert cleaned.get("required", []) == original.get("required", [])


def test_gemini_claude_code_details() -> None:
    read = clean_schema(CLAUDE_CODE_TOOLS["Read"], "gemini")["properties"]
    assert read["limit"] == {"type": "integer", "minimum": 1, "description": read["limit"]["description"]}
    assert "maximum" not in read["offset"] and read["offset"]["minimum"] == 0  # MAX_SAFE_INTEGER is noise
    edit = clean_schema(CLAUDE_CODE_TOOLS["Edit"], "gemini")["properties"]
    assert edit["replace_all"]["description"].endswith("(default: false)") and "default" not in edit["replace_all"]
    workflow = clean_schema(CLAUDE_CODE_TOOLS["Workflow"], "gemini")["properties"]
    assert workflow["resumeFromRunId"]["description"].endswith("(pattern: ^wf_[a-z0-9-]{6,}$)")
    assert workflow["args"] == {"description": CLAUDE_CODE_TOOLS["Workflow"]["properties"]["args"]["description"]}
    # Properties named like keywords stay properties.
    assert {"title", "description", "name"} <= set(workflow)
    assert clean_schema(CLAUDE_CODE_TOOLS["DeferredToolPlaceholder"], "gemini") == {"type": "object", "properties": {}}


def test_strict_claude_code_details() -> None:
    read = clean_schema(CLAUDE_CODE_TOOLS["Read"], "strict")["properties"]
    assert read["limit"]["description"].endswith("(minimum: 1)")
    assert read["offset"]["description"].endswith("(minimum: 0)")
    listing = clean_schema(CLAUDE_CODE_TOOLS["ListAgents"], "strict")
    assert listing["additionalProperties"] is False
    assert listing["properties"]["q"]["description"].endswith("(maxLength: 256)")


MCP_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "$defs": {
        "Point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                  "required": ["x", "y"], "additionalProperties": False},
        "Node": {"type": "object", "properties": {"name": {"type": "string"},
                                                   "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}},
    },
    "properties": {
        "origin": {"$ref": "#/$defs/Point", "description": "Where to start"},
        "tree": {"$ref": "#/$defs/Node"},
        "label": {"anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}], "default": None},
        "mode": {"const": "fast"},
        "level": {"type": "integer", "enum": [1, 2, 3]},
        "choice": {"type": ["string", "integer", "null"], "minLength": 2, "minimum": 5},
        "when": {"type": "string", "format": "date-time"},
        "site": {"type": "string", "format": "uri"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}, "propertyNames": {"pattern": "^[A-Z]"}},
        "tags": {"type": "array"},
        "shape": {"oneOf": [{"$ref": "#/$defs/Point"}, {"type": "string"}]},
        "both": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                           {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
        "ratio": {"type": "number", "exclusiveMaximum": 1, "examples": [0.5]},
        "kind": {"type": "string", "enum": ["a", "b", None]},
    },
    "required": ["origin", "ghost"],
    "additionalProperties": False,
}


def test_gemini_mcp_constructs() -> None:
    before = copy.deepcopy(MCP_SCHEMA)
    out = clean_schema(MCP_SCHEMA, "gemini")
    assert before == MCP_SCHEMA
    check_gemini(out)
    props = out["properties"]
    assert props["origin"] == {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                               "required": ["x", "y"], "description": "Where to start"}  # fmt: skip
    children = props["tree"]["properties"]["children"]
    assert children["type"] == "array" and "Same shape as Node" in children["items"]["description"]
    assert props["label"] == {"type": "string", "maxLength": 10, "nullable": True, "description": "Default: null"}
    assert props["mode"] == {"type": "string", "enum": ["fast"]}
    assert props["level"] == {"type": "integer", "description": "One of: 1, 2, 3"}
    assert props["choice"] == {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer", "minimum": 5}],
                               "nullable": True}  # fmt: skip
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["site"] == {"type": "string", "description": "Format: uri"}
    assert props["env"] == {"description": "A JSON object"}
    assert props["tags"] == {"type": "array", "items": {}}
    assert props["shape"]["anyOf"][0]["properties"]["x"] == {"type": "number"}
    assert props["both"]["required"] == ["a", "b"] and set(props["both"]["properties"]) == {"a", "b"}
    assert props["ratio"] == {"type": "number", "description": "ExclusiveMaximum: 1"}
    assert props["kind"] == {"type": "string", "enum": ["a", "b"], "nullable": True}
    assert out["required"] == ["origin"]  # "ghost" is not a property


def test_strict_mcp_constructs() -> None:
    out = clean_schema(MCP_SCHEMA, "strict")
    check_strict(out)
    props = out["properties"]
    assert props["origin"]["additionalProperties"] is False and props["origin"]["required"] == ["x", "y"]
    assert props["label"] == {"anyOf": [{"type": "string"}, {"type": "null"}],
                              "description": "MaxLength: 10; default: null"}  # fmt: skip
    assert props["mode"] == {"enum": ["fast"]}
    assert props["level"] == {"type": "integer", "enum": [1, 2, 3]}
    assert props["choice"]["anyOf"] == [
        {"type": "string", "description": "MinLength: 2"},
        {"type": "integer", "description": "Minimum: 5"},
        {"type": "null"},
    ]
    assert props["site"] == {"type": "string", "description": "Format: uri"}
    assert props["env"] == {"type": "object"}
    assert props["tags"] == {"type": "array", "items": {}}
    assert [b.get("type") for b in props["shape"]["anyOf"]] == ["object", "string"]
    assert props["kind"]["enum"] == ["a", "b", None]


def test_nullable_and_root_edge_cases() -> None:
    assert clean_schema({}, "gemini") == {"type": "object", "properties": {}}
    assert clean_schema({"properties": {"a": {"type": "string"}}}, "strict") == {
        "type": "object", "properties": {"a": {"type": "string"}}}  # fmt: skip
    nullable = {"type": "object", "properties": {"n": {"type": "string", "nullable": True}}}
    assert clean_schema(nullable, "gemini")["properties"]["n"] == {"type": "string", "nullable": True}
    assert clean_schema(nullable, "strict")["properties"]["n"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    remote = {"type": "object", "properties": {"r": {"$ref": "https://example.com/s.json", "description": "d"}}}
    assert clean_schema(remote, "gemini")["properties"]["r"] == {"description": "d"}
    root_ref = {"type": "object", "properties": {"self": {"$ref": "#"}}}
    assert "Same shape as" in clean_schema(root_ref, "gemini")["properties"]["self"]["description"]


_TYPES = st.sampled_from(["string", "integer", "number", "boolean", "object", "array", "null"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_LEAF = st.fixed_dictionaries({}, optional={
    "type": st.one_of(_TYPES, st.lists(_TYPES, max_size=3)), "description": st.text(max_size=5),
    "enum": st.lists(_SCALARS, max_size=3), "const": _SCALARS, "default": _SCALARS, "minimum": st.integers(),
    "exclusiveMinimum": st.integers(-3, 3), "format": st.sampled_from(["uri", "date-time", "int32"]),
    "pattern": st.just("^a"), "nullable": st.booleans(), "maxLength": st.integers(0, 5),
    "$ref": st.sampled_from(["#", "#/$defs/A", "#/$defs/B", "http://example.com/s"]),
    "required": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2), "additionalProperties": st.booleans(),
})  # fmt: skip


def _node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({}, optional={
        "type": st.one_of(_TYPES, st.lists(_TYPES, max_size=3)),
        "properties": st.dictionaries(st.sampled_from(["a", "b", "pattern", "type"]), children, max_size=3),
        "items": st.one_of(children, st.lists(children, max_size=2)), "anyOf": st.lists(children, max_size=3),
        "oneOf": st.lists(children, max_size=2), "allOf": st.lists(children, max_size=2),
        "$defs": st.fixed_dictionaries({"A": children, "B": children}), "$ref": st.sampled_from(["#/$defs/A", "#"]),
        "required": st.lists(st.sampled_from(["a", "b"]), max_size=2),
    })  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(_LEAF, _node, max_leaves=12))
def test_any_schema_is_cleaned_without_error_or_mutation(schema: dict[str, Any]) -> None:
    """Recursive refs, unions of anything, nulls everywhere: always a valid schema for the profile."""
    before = copy.deepcopy(schema)
    for profile, check in (("gemini", check_gemini), ("strict", check_strict)):
        out = clean_schema(schema, profile)  # type: ignore[arg-type]
        json.dumps(out)
        assert schema == before
        if out.get("type") == "object":  # a root of another type is the caller's error, left as is
            check(out)
