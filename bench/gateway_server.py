"""How ``bench_gateway.py`` launches the server under test: ``aimux serve``, uvicorn on the app factory, or the floor.

Why the environment is scrubbed: only the in-process mock may answer, so the benchmark never reaches
(or pays) a real provider.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server_process import HOST, ROOT, ServerProcess, free_port, scrubbed_env

LOCAL_APP_FACTORY = "aimux_core.assembly:local_app"
FLOOR_APP_FACTORY = "bench_gateway:create_floor_app"


def server_command(mode: str, port: int) -> list[str]:
    """How the server is launched: the project CLI, uvicorn on the app factory, or the floor app.

    The uvicorn variants turn the access log off because ``aimux serve`` does.
    """
    if mode == "auto":
        mode = "cli" if cli_serves() else "uvicorn"
    if mode == "cli":
        return [str(Path(sys.executable).parent / "aimux"), "serve"]
    factory, app_dir = (LOCAL_APP_FACTORY, ROOT) if mode == "uvicorn" else (FLOOR_APP_FACTORY, ROOT / "bench")
    return [
        sys.executable, "-m", "uvicorn", factory, "--factory", "--app-dir", str(app_dir),
        "--host", HOST, "--port", str(port), "--no-access-log",
    ]  # fmt: skip


def cli_serves() -> bool:
    """True when ``aimux serve`` exists (the CLI was still being written when this benchmark was)."""
    aimux = Path(sys.executable).parent / "aimux"
    if not aimux.exists():
        return False
    try:
        done = subprocess.run(
            [str(aimux), "serve", "--help"], capture_output=True, timeout=30, env=scrubbed_env(), check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def gateway_process(mode: str, pin_cpu: int | None, extra_env: dict[str, str] | None = None) -> ServerProcess:
    """The gateway (``--server`` ``mode``) on a free loopback port; start it with ``with``."""
    port = free_port()
    env = scrubbed_env()
    env.update(AIMUX_HOST=HOST, AIMUX_PORT=str(port), **(extra_env or {}))
    return ServerProcess("gateway", server_command(mode, port), env, port, pin_cpu)


# ``--budget-key``: every model name the scenarios use lands on the default route, one priced mock model,
# and requests carry a key with a daily budget far above what the run spends, so each one pays for the
# budget's bookkeeping (state in the gateway's memory) without ever being refused.
BUDGET_CONFIG = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {"priced": {"provider": "mock", "max_output": 8192, "price": {"input": 3, "output": 15}}},
    "routes": {"default": ["priced"]},
}
BUDGET_KEY_FIELDS = {"name": "bench-budget", "budget_daily_usd": 1_000_000.0}


def budget_key_env(directory: Path) -> dict[str, str]:
    """The environment of a gateway whose callers need a key (``AIMUX_AUTH=on``) and whose models are priced."""
    import json

    config = directory / "aimux-budget-bench.json"  # JSON is YAML
    config.write_text(json.dumps(BUDGET_CONFIG))
    return {"AIMUX_AUTH": "on", "AIMUX_CONFIG": str(config)}


def create_budget_key(port: int) -> str:
    """A key with a budget, created through the running gateway's loopback ``/admin/keys``; its plaintext."""
    import http.client
    import json

    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    connection.request("POST", "/admin/keys", json.dumps(BUDGET_KEY_FIELDS), {"Content-Type": "application/json"})
    answer = connection.getresponse()
    body = json.loads(answer.read())
    if answer.status != 201:
        raise RuntimeError(f"could not create the budget key: {answer.status} {body}")
    return str(body["api_key"])
