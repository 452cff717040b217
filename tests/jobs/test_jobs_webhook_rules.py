"""Where webhooks may go and how they are signed (``jobs/webhooks.py``), without the network."""

from __future__ import annotations

import ipaddress
import time

import pytest

from aimux_core.errors import InvalidRequest
from aimux_core.jobs.webhooks import allowed, check_url, sign, verify


@pytest.mark.parametrize(
    ("address", "scheme", "local", "expected"),
    [
        ("93.184.216.34", "https", False, True),
        ("2606:2800:220:1:248:1893:25c8:1946", "https", False, True),
        ("127.0.0.1", "https", False, False),
        ("127.0.0.1", "http", True, True),
        ("::1", "http", True, True),
        ("10.0.0.1", "https", True, False),
        ("172.16.5.4", "https", False, False),
        ("192.168.1.1", "https", False, False),
        ("100.64.0.1", "https", False, False),  # carrier-grade NAT: not public
        ("169.254.169.254", "https", False, False),  # instance metadata
        ("fe80::1", "https", False, False),
        ("fd12::1", "https", False, False),
        ("::ffff:10.0.0.1", "https", False, False),
        ("::ffff:93.184.216.34", "https", False, True),
        ("0.0.0.0", "https", False, False),
        ("224.0.0.1", "https", False, False),
        ("93.184.216.34", "http", True, False),  # plain http leaves this machine never
    ],
)
def test_which_addresses_a_webhook_may_reach(address: str, scheme: str, local: bool, expected: bool) -> None:
    assert allowed(ipaddress.ip_address(address), scheme=scheme, local_mode=local) is expected


def test_urls_are_checked_and_shown_without_query_or_credentials() -> None:
    target = check_url("https://Hooks.Example.com:8443/in?token=secret#x", local_mode=False)
    assert (target.host, target.port, target.shown) == ("hooks.example.com", 8443, "https://hooks.example.com:8443/in")
    assert check_url("https://hooks.example.com", local_mode=False).shown == "https://hooks.example.com/"
    for bad in ("http://hooks.example.com/", "https://u:p@hooks.example.com/", "file:///etc/passwd", "https://"):
        with pytest.raises(InvalidRequest):
            check_url(bad, local_mode=False)


def test_a_signature_covers_the_timestamp_and_the_body() -> None:
    now = int(time.time())
    header = sign("whsec_a", now, b'{"id":"job_1"}')
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_a", header, b'{"id":"job_1"}')
    assert not verify("whsec_b", header, b'{"id":"job_1"}')
    assert not verify("whsec_a", header, b'{"id":"job_2"}')
    assert not verify("whsec_a", header.replace(f"t={now}", f"t={now + 1}"), b'{"id":"job_1"}')
    old = sign("whsec_a", now - 3600, b"{}")
    assert not verify("whsec_a", old, b"{}")  # replayed an hour later: refused
    assert not verify("whsec_a", "garbage", b"{}")
