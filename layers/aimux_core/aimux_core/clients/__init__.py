"""Pointing client tools at aimux: ``aimux claude`` and ``aimux env`` (``commands.py``).

``endpoint.py`` decides which gateway (``--url``, a deployed stack's outputs, else the local one) and
which key; ``client_settings.py`` turns that into each client's settings; ``stack.py`` reads a
CloudFormation stack's outputs (also used by ``aimux dashboard``).
"""
