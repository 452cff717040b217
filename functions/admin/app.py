"""Lambda entry point for the admin API (HTTP API with IAM auth -> Mangum -> FastAPI).

Deliberately thin: the admin routes live in ``aimux_core.surfaces.admin`` (the shared layer), so
this file only builds the app once per container and adapts Lambda events to it. Nothing here
touches the network at import time; stores and AWS clients are created lazily on first use.

``lifespan="off"``: Mangum would otherwise run startup and shutdown on every invocation.
"""

from __future__ import annotations

from mangum import Mangum

from aimux_core.assembly import admin_app
from aimux_core.collector import tune_for_serving
from aimux_core.settings import Settings

settings = Settings.from_env()  # every AIMUX_* variable, checked once: a bad one fails the init, not a request
app = admin_app(settings)
handler = Mangum(app, lifespan="off")
tune_for_serving(settings)  # last: freezes what the imports built (aimux_core/collector.py)
