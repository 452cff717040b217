"""Read a CloudFormation/SAM template (YAML, short intrinsic tags included) into plain Python data.

``yaml.safe_load`` rejects ``!Ref``, ``!Sub``, ``!GetAtt``...; here each short form becomes its long
form (``{"Ref": ...}``, ``{"Fn::Sub": ...}``, ``{"Fn::GetAtt": [resource, attribute]}``), as
CloudFormation reads it. PyYAML is an aimux dependency, so the deployment scripts and the tests read
templates without cfn-lint (which lives in the SAM tools' venv, pinned in infra/requirements-sam.in).

    from cfn_yaml import load_template
    template = load_template(Path("infra/template.yaml"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref" or suffix == "Condition":
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def loads(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError("a template is a mapping at the top level")
    return data


def load_template(path: Path) -> dict[str, Any]:
    return loads(path.read_text(encoding="utf-8"))


def build_architecture(template: dict[str, Any]) -> str:
    """The CPU the template builds for: ``Mappings.Lambda.Build.Architecture`` (its one place)."""
    try:
        value = template["Mappings"]["Lambda"]["Build"]["Architecture"]
    except (KeyError, TypeError):
        raise ValueError("no Mappings.Lambda.Build.Architecture in the template") from None
    if value not in ("x86_64", "arm64"):
        raise ValueError(f"Mappings.Lambda.Build.Architecture must be x86_64 or arm64, got {value!r}")
    return str(value)
