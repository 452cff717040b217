"""The outputs of a deployed aimux stack (``infra/template.yaml`` Outputs), read with boto3.

``StreamFunctionUrl`` is where clients send requests (streaming, up to 15 minutes); ``HttpApiUrl`` is
the HTTP API whose ``/admin`` routes need SigV4. boto3 is imported here only: it is the ``aws`` extra,
and the commands that need a stack are operator tools, never the request path.
"""

from __future__ import annotations

from typing import Any

CLIENT_URL_OUTPUT = "StreamFunctionUrl"
ADMIN_URL_OUTPUT = "HttpApiUrl"


class StackError(Exception):
    """The stack's outputs could not be read; the message says why and what to do."""


def aws_session(*, region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 session with the operator's own credentials (environment, profile, SSO, instance role)."""
    try:
        import boto3  # deferred: the aws extra, needed only for --stack
    except ImportError:
        raise StackError("boto3 is needed to reach AWS: pip install 'aimux[aws]'") from None
    try:
        return boto3.Session(region_name=region, profile_name=profile)
    except Exception as exc:  # botocore's ProfileNotFound and friends
        raise StackError(f"AWS session: {exc}") from None


def stack_outputs(name: str, *, region: str | None = None, profile: str | None = None) -> dict[str, str]:
    """``OutputKey → OutputValue`` of stack ``name`` (CloudFormation ``DescribeStacks``)."""
    from botocore.exceptions import BotoCoreError, ClientError  # deferred: the aws extra (boto3)

    session = aws_session(region=region, profile=profile)
    try:
        answer = session.client("cloudformation").describe_stacks(StackName=name)
    except ClientError as exc:
        raise StackError(f"stack {name!r}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise StackError(f"stack {name!r}: {exc}") from None
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise StackError(f"stack {name!r} not found")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or [] if "OutputKey" in o}


def stack_url(name: str, output: str, *, region: str | None = None, profile: str | None = None) -> str:
    """One URL output of the stack, without its trailing slash."""
    outputs = stack_outputs(name, region=region, profile=profile)
    if output not in outputs:
        found = ", ".join(sorted(outputs)) or "none"
        raise StackError(f"stack {name!r} has no {output} output (outputs: {found}): is it an aimux stack?")
    return outputs[output].rstrip("/")
