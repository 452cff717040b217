"""The template's long-work block: queue, dead-letter queue, worker, bucket, schedule, alarms, roles.

cfn-lint and SAM check the syntax; these check the decisions: partial batch failures reported, a
visibility timeout above the worker's timeout, encrypted and private storage that expires, TLS only,
alarms that notify, and roles that may do only what the code does.
"""

from __future__ import annotations

from typing import Any

import pytest
from infra_template import load_template, properties, resources


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_worker_reports_partial_batch_failures_and_outlives_no_message(template: dict[str, Any]) -> None:
    worker = properties(template, "WorkerFunction")
    work = worker["Events"]["Work"]
    assert work["Type"] == "SQS" and work["Properties"]["Queue"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert work["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = properties(template, "WorkQueue")
    assert queue["VisibilityTimeout"] > worker["Timeout"] == 900
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WorkDeadLetterQueue", "Arn"]}
    assert queue["SqsManagedSseEnabled"] and properties(template, "WorkDeadLetterQueue")["SqsManagedSseEnabled"]
    poll = worker["Events"]["Poll"]
    assert poll["Type"] == "ScheduleV2" and poll["Properties"]["Input"] == '{"aimux": "tick"}'
    assert worker["CodeUri"] == "../functions/worker/" and worker["Handler"] == "app.handler"


def test_the_jobs_bucket_is_encrypted_private_tls_only_and_expires(template: dict[str, Any]) -> None:
    bucket = properties(template, "JobsBucket")
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "JobRetentionDays"}
    for policy in ("JobsBucketPolicy", "WorkQueuesPolicy"):
        (statement,) = properties(template, policy)["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queue_age_and_dead_letters_raise_alarms(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    age, dead = alarms["WorkQueueAgeAlarm"]["Properties"], alarms["WorkDeadLettersAlarm"]["Properties"]
    assert (age["Namespace"], age["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["WorkQueue", "QueueName"]}}]
    assert (dead["MetricName"], dead["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 1)
    assert dead["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["WorkDeadLetterQueue", "QueueName"]}


def test_roles_allow_only_what_the_jobs_code_does(template: dict[str, Any]) -> None:
    access = properties(template, "JobsAccessPolicy")["PolicyDocument"]["Statement"]
    actions = {statement["Sid"]: statement["Action"] for statement in access}
    assert actions == {"SendWork": "sqs:SendMessage", "JobObjects": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]}
    for role in ("MessagesFunctionRole", "MessagesStreamFunctionRole", "AdminFunctionRole", "WorkerFunctionRole"):
        assert {"Ref": "JobsAccessPolicy"} in properties(template, role)["ManagedPolicyArns"], role
    consume = properties(template, "WorkerFunctionRole")["Policies"][0]["PolicyDocument"]["Statement"][1]
    assert sorted(consume["Action"]) == sorted(
        ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    )
    assert consume["Resource"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    schedule = properties(template, "WorkerScheduleRole")["Policies"][0]["PolicyDocument"]["Statement"]
    assert schedule == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["WorkerFunction", "Arn"]}}
    ]


def test_every_function_knows_the_queue_and_the_bucket(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AIMUX_QUEUE_URL"] == {"Ref": "WorkQueue"}
    assert variables["AIMUX_BUCKET"] == {"Ref": "JobsBucket"}
