"""aimux core: the gateway's logic, shipped as one Lambda layer and imported by every function.

Sub-packages by responsibility:
- ``wire``       typed models of each dialect (Anthropic = canonical, OpenAI) and SSE framing
- ``translate``  pure mappings between dialects (requests, responses, streams, errors)
- ``surfaces``   the ASGI routes clients see (messages, chat completions, models, admin)
- ``providers``  upstream adapters behind one interface (the built-in ``mock`` among them)
- ``routing``    which provider and model serve a request
- ``accounting`` token estimates, usage and cost
"""

__version__ = "0.1.0"
