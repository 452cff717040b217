"""Fixtures for the Lambda function tests; the helpers live in ``lambda_harness``."""

from __future__ import annotations

import pytest
from lambda_harness import Handler, load_function


@pytest.fixture(scope="module")
def messages_handler() -> Handler:
    return load_function("messages").handler


@pytest.fixture(scope="module")
def admin_handler() -> Handler:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_LAMBDA_FUNCTION_NAME", "aimux-admin-test")  # set by Lambda: IAM guards /admin there
        return load_function("admin").handler
