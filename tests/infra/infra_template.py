"""Read infra/template.yaml for tests: resources by type, ``Fn::Sub`` bodies rendered with stand-ins.

infra/cfn_yaml.py reads the short intrinsic forms (``!Ref``, ``!Sub``...), which plain
``yaml.safe_load`` rejects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cfn_yaml import load_template as _load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
INFRA = ROOT / "infra"
_SUB = re.compile(r"\$\{([^}!]+)\}")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return _load(path)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def properties(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name].get("Properties") or {})


def render_sub(template: dict[str, Any], body: str) -> str:
    """``body`` of an ``Fn::Sub`` with every ``${...}`` replaced as CloudFormation would, by stand-ins.

    Parameters become their defaults, ``${Res}`` the resource's logical id, ``${Res.Attr}`` a fake
    ARN naming it, pseudo parameters fixed values. ``${!x}`` (a literal ``${x}``) is unescaped.
    """
    parameters = template.get("Parameters", {})
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in pseudo:
            return pseudo[name]
        if name in parameters:
            return str(parameters[name].get("Default", ""))
        resource, _, attribute = name.partition(".")
        assert resource in template["Resources"], f"${{{name}}} names nothing in the template"
        return f"arn:aws:test:us-east-1:123456789012:{resource}/{attribute}" if attribute else resource

    return _SUB.sub(value, body).replace("${!", "${")


def sub_body(node: Any) -> str:
    """The string of a ``!Sub`` (either form) or a plain string."""
    if isinstance(node, str):
        return node
    sub = node["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]
