"""Lambda entry point for the buffered Anthropic/OpenAI routes (HTTP API -> Mangum -> the Starlette client API).

Deliberately thin: every route, translation and provider lives in the ``aimux_core`` layer, so
this file only builds the ASGI app once per container and adapts Lambda events to it. Keeping it
to a factory call and an adapter means the cold start pays for imports only -- no network, no
config fetches (clients are created lazily on first use) -- and the same app is what uvicorn
serves in ``run.sh`` for the streaming (Lambda Web Adapter) variant.

``lifespan="off"``: Mangum would otherwise run the app's startup and shutdown on *every*
invocation, tearing down the warm clients the container is meant to reuse.
"""

from __future__ import annotations

from mangum import Mangum

from aimux_core.assembly import messages_app
from aimux_core.collector import tune_for_serving
from aimux_core.settings import Settings

settings = Settings.from_env()  # every AIMUX_* variable, checked once: a bad one fails the init, not a request
app = messages_app(settings)
handler = Mangum(app, lifespan="off")
tune_for_serving(settings)  # last: freezes what the imports built (aimux_core/collector.py)
