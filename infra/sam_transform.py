"""Expand infra/template.yaml into the plain CloudFormation that AWS would deploy, without AWS.

Why: cfn-lint (1.x) validates the SAM resources' own schema but does not run the SAM transform, so a
mistake that only shows in the generated resources (a bad FunctionUrlConfig.InvokeMode, a REST
method without its streaming URI, a permission pointing at a conditional API) passes
``cfn-lint infra/template.yaml``. Linting this script's output catches those.

Usage (needs aws-sam-translator, which aws-sam-cli brings into .venv-sam):

    .venv-sam/bin/python infra/sam_transform.py infra/template.yaml build/sam/cfn.json [Name=Value ...]
    .venv-sam/bin/cfn-lint --ignore-checks W1020 -- build/sam/cfn.json

Offline means three substitutions: a region for the ARNs SAM builds (``AWS_DEFAULT_REGION``,
default us-east-1), ``s3://`` placeholders for the local ``CodeUri``/``ContentUri`` paths (what
``sam package`` would upload), and a policy loader that never calls IAM (the template names no AWS
managed policy; SAM's own policy templates are bundled).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

LOCAL_ARTIFACT_KEYS = ("CodeUri", "ContentUri")


class OfflinePolicyLoader:
    """Stands in for SAM's managed-policy loader, which would list IAM policies over the network."""

    def load(self) -> dict[str, str]:
        return {}


def placeholder_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """Point every local code path at an ``s3://`` placeholder, as ``sam package`` would."""
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in LOCAL_ARTIFACT_KEYS:
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                name = value.strip("./").replace("/", "-") or "root"
                properties[key] = f"s3://offline-placeholder/{name}.zip"
    return template


def transform_file(path: Path, parameters: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template SAM generates from the SAM template at ``path``."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # SAM reads no AWS_REGION
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = placeholder_artifacts(yaml_parse(path.read_text(encoding="utf-8")))
    result: dict[str, Any] = transform(template, parameters, OfflinePolicyLoader())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("parameters", nargs="*", metavar="Name=Value", help="template parameter values")
    args = parser.parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.parameters)

    from samtranslator.model.exceptions import InvalidDocumentException

    try:
        result = transform_file(args.template, parameters)
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            print(f"{args.template}: {cause.message}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    kinds: dict[str, int] = {}
    for resource in result["Resources"].values():
        kinds[resource["Type"]] = kinds.get(resource["Type"], 0) + 1
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    print(f"{args.output}: {len(result['Resources'])} resources ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
