"""The admin function's new routes through Mangum with HTTP API payload 2.0 events, as IAM-authorized
API Gateway delivers them: health, usage, errors and config answer, and a breaker change names the
IAM principal from the event's ``requestContext.authorizer.iam`` (the caller API Gateway verified)."""

from __future__ import annotations

import json

from lambda_harness import Handler, LambdaContext, make_event, response_json

ARN = "arn:aws:sts::123456789012:assumed-role/oncall/ana"


def iam_event(method: str, path: str, query: str = "", body: str | None = None) -> dict:
    event = make_event("http-api-v2", method, path, body)
    event["rawQueryString"] = query
    event["headers"]["authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/execute-api"
    event["requestContext"]["authorizer"] = {"iam": {"userArn": ARN, "callerId": "AROAEXAMPLE:ana",
                                                     "accountId": "123456789012"}}  # fmt: skip
    return event


def test_the_admin_reports_answer_through_the_function(admin_handler: Handler) -> None:
    for path, query in (("/admin/health", "minutes=5"), ("/admin/usage", "group_by=key&group_by=day"),
                        ("/admin/errors", "since=15m"), ("/admin/config", ""), ("/admin/projects", "")):  # fmt: skip
        response = admin_handler(iam_event("GET", path, query), LambdaContext())
        assert response["statusCode"] == 200, (path, response.get("body"))
    usage = response_json(admin_handler(iam_event("GET", "/admin/usage", "group_by=project"), LambdaContext()))
    assert usage["group_by"] == ["project"] and usage["total"]["requests"] == 0
    bad = admin_handler(iam_event("GET", "/admin/usage", "group_by=color"), LambdaContext())
    assert bad["statusCode"] == 400 and response_json(bad)["error"]["param"] == "group_by"


def test_a_breaker_change_names_the_iam_principal(admin_handler: Handler) -> None:
    provider = response_json(admin_handler(iam_event("GET", "/admin/status"), LambdaContext()))["providers"][0]
    response = admin_handler(iam_event("POST", f"/admin/breakers/{provider}/open"), LambdaContext())
    assert response["statusCode"] == 200, response.get("body")
    body = response_json(response)
    assert body["by"] == ARN and body["breaker"]["changed_by"] == ARN and body["breaker"]["held_open"] is True
    closed = admin_handler(iam_event("POST", f"/admin/breakers/{provider}/close"), LambdaContext())
    assert response_json(closed)["breaker"]["state"] == "closed"
    explained = admin_handler(
        iam_event("POST", "/admin/route/explain", body=json.dumps({"model": "m", "max_tokens": 8, "messages": []})),
        LambdaContext(),
    )
    assert explained["statusCode"] == 200 and response_json(explained)["targets"]
