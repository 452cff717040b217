"""Fixtures of the jobs tests: AWS's parts on moto's server (``support/aws_parts.py``)."""

from support.aws_parts import aws  # noqa: F401
from support.dynamo import moto_server  # noqa: F401
