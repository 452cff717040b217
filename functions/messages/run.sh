#!/bin/bash
# MessagesStreamFunction's handler. The Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap)
# runs this script, polls AWS_LWA_READINESS_CHECK_PATH (/healthz, which calls no upstream), then
# relays each invocation to the app as HTTP and streams the answer back as it is written
# (AWS_LWA_INVOKE_MODE=response_stream). It is the same ASGI app as app.handler, served by uvicorn
# instead of Mangum, because Mangum buffers every response.
#
# /opt/python holds the aimux_core layer; $LAMBDA_TASK_ROOT holds this function (app.py).
# Port 8000, not 8080: sam local's runtime emulator already listens on 8080.
# python3, not python: the name every Lambda Python runtime (and every venv) provides.
# -B: /opt and /var/task are read-only; the layer already ships its .pyc.
# --timeout-keep-alive 75: the adapter reuses its loopback connection between invocations and drops
# it after a few idle seconds; the app keeping it longer means the adapter always closes first, so
# a request never races the server closing the same connection.
# --no-access-log: the app writes one structured line per request itself.
set -euo pipefail
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT:-$(dirname "$0")}${PYTHONPATH:+:${PYTHONPATH}}"
exec python3 -B -m uvicorn --host 127.0.0.1 --port "${AWS_LWA_PORT:-8000}" \
    --timeout-keep-alive 75 --no-access-log app:app
