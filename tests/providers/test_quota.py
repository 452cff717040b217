"""Plan-quota answers are recognised and turned into a cooldown until the announced reset."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aimux_core.translate.quota import DEFAULT_COOLDOWN, MAX_COOLDOWN, quota_cooldown
from aimux_core.translate.upstream_errors import upstream_error

NOW = datetime(2026, 8, 24, 20, 0, tzinfo=UTC).timestamp()


def _body(code: str | None, message: str) -> str:
    error: dict[str, str] = {"message": message}
    if code is not None:
        error["code"] = code
    return json.dumps({"error": error}, ensure_ascii=False)


def test_zai_reset_without_a_zone_is_read_as_china_time() -> None:
    body = _body("1308", "已达到 5 小时的使用上限。您的限额将在 2026-08-25 07:41:44 重置。")
    assert quota_cooldown(429, {}, body, NOW) == pytest.approx(3 * 3600 + 41 * 60 + 44)  # 07:41:44+08 = 23:41:44Z


def test_zai_reset_with_an_iso_zone() -> None:
    body = _body("1310", "Weekly/Monthly Limit Exhausted. Your limit will reset at 2026-08-26T00:00:00Z")
    assert quota_cooldown(429, {}, body, NOW) == pytest.approx(28 * 3600)


def test_zai_code_without_a_reset_uses_the_default_cooldown() -> None:
    assert quota_cooldown(429, {}, _body("1316", "plan limit"), NOW) == DEFAULT_COOLDOWN


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, _body("1302", "High concurrency usage of this API, please reduce concurrency")),  # a rate limit
        (429, _body(None, "Rate limit reached for requests")),
        (403, _body(None, "Your key does not have permission")),
        (500, _body("1308", "reset at 2026-08-25 07:41:44")),
    ],
)
def test_ordinary_errors_are_not_quota(status: int, body: str) -> None:
    assert quota_cooldown(status, {}, body, NOW) is None


def test_weekly_limit_message_without_code_is_quota() -> None:
    assert quota_cooldown(403, {}, _body(None, "Your weekly usage limit has been reached"), NOW) == DEFAULT_COOLDOWN


def test_anthropic_unified_reset_header() -> None:
    assert quota_cooldown(429, {"anthropic-ratelimit-unified-reset": str(NOW + 3600)}, "", NOW) == 3600


def test_cooldowns_are_bounded() -> None:
    far = _body("1310", "reset at 2099-01-01T00:00:00Z")
    assert quota_cooldown(429, {}, far, NOW) == MAX_COOLDOWN
    past = _body("1310", "reset at 2020-01-01T00:00:00Z")
    assert quota_cooldown(429, {}, past, NOW) == 1.0


def test_upstream_error_marks_quota_as_a_retryable_429_with_the_cooldown() -> None:
    error = upstream_error("zai", 429, {}, _body("1308", "reset at 2999-01-01 00:00:00"))
    assert error.quota and error.retryable and error.status == 429 and error.kind == "rate_limit_error"
    assert error.retry_after == MAX_COOLDOWN
    plain = upstream_error("zai", 429, {"retry-after": "3"}, _body(None, "slow down"))
    assert not plain.quota and plain.retry_after == 3
