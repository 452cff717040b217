"""``functions/worker/app.py`` as Lambda imports and calls it: an SQS event (partial failures reported by
message id) and the schedule's tick. The gateway comes from the environment (none here: the mock), the
queue and blobs too (unset: the in-process queue and a temporary folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lambda_harness import LambdaContext, load_function

pytestmark = pytest.mark.timeout(60)


def test_sqs_records_report_only_the_failed_message_and_the_tick_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AIMUX_QUEUE_URL", "AIMUX_BUCKET", "AIMUX_TABLE", "AIMUX_CONFIG", "AIMUX_PROVIDER_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIMUX_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no ./aimux.yaml: the built-in mock
    handler = load_function("worker").handler
    context = LambdaContext(function_name="aimux-worker-test")
    records = [
        {"messageId": "ok-1", "body": json.dumps({"kind": "job.run", "job": "job_missing"}), "eventSource": "aws:sqs"},
        {
            "messageId": "bad-2",
            "body": json.dumps({"kind": "batch.items", "batch": "msgbatch_x"}),
            "eventSource": "aws:sqs",
        },  # no "items": handling raises
        {"messageId": "junk-3", "body": "not json", "eventSource": "aws:sqs"},  # dropped, not retried
        {"messageId": "odd-4", "body": json.dumps({"kind": "nonsense"}), "eventSource": "aws:sqs"},
    ]
    assert handler({"Records": records}, context) == {"batchItemFailures": [{"itemIdentifier": "bad-2"}]}
    assert handler({"aimux": "tick"}, context) == {"ticked": True}
    assert handler({"something": "else"}, context) == {}
