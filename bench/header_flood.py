"""What one oversized request head does to ``aimux serve``: the answer, and the server's peak RSS before and after.

    .venv/bin/python bench/header_flood.py                 # a 30 MB header value, as in issue 10
    .venv/bin/python bench/header_flood.py --mb 100

The gateway is started as ``bench_gateway.py`` starts it (``gateway_server.gateway_process``: ``aimux
serve``, provider environment scrubbed). One ordinary request warms it up, then one connection sends
``POST /v1/messages`` with a header of ``--mb`` megabytes in 64 KiB writes, then a small body. Peak RSS
is the kernel's high-water mark (``VmHWM`` in ``/proc/<pid>/status``) of the server process. A script,
never a test (``tests/security/test_security_header_limits.py`` holds the behaviour).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import time

from gateway_server import gateway_process
from server_process import HOST

BODY = json.dumps({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}).encode()


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def flood(port: int, megabytes: int) -> tuple[bytes, int]:
    """Send the oversized head; return the first line of the answer and how many header bytes went out."""
    sent = 0
    with socket.create_connection((HOST, port), timeout=60) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nanthropic-version: 2023-06-01\r\nx-big: ")
        try:
            chunk = b"a" * 65536
            while sent < megabytes * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY)
        except OSError:
            pass  # the server closed the connection: its answer is readable
        answer = b""
        try:
            while b"\r\n" not in answer and (data := sock.recv(4096)):
                answer += data
        except OSError:
            pass
    return answer.split(b"\r\n", 1)[0], sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=30, help="size of the header value in MB (default 30)")
    args = parser.parse_args()
    with gateway_process("cli", pin_cpu=None) as server:
        assert server.proc is not None
        conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
        conn.request("POST", "/v1/messages", BODY, {"anthropic-version": "2023-06-01"})
        assert conn.getresponse().status == 200
        conn.close()
        before = peak_rss_mb(server.proc.pid)
        start = time.perf_counter()
        status, sent = flood(server.port, args.mb)
        elapsed = time.perf_counter() - start
        after = peak_rss_mb(server.proc.pid)
        alive = server.proc.poll() is None
    print(f"answer: {status.decode('latin-1')} after {sent / 2**20:.2f} MB of header sent, {elapsed:.2f} s")
    print(f"server peak RSS: {before:.0f} MB before, {after:.0f} MB after; still serving: {alive}")


if __name__ == "__main__":
    main()
